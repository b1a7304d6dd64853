"""User-facing errors: the CLI prints their message (no traceback) and exits with code 2."""


class MmmGeoError(Exception):
    """Base class for errors caused by user input (data, config, run folders)."""

    exit_code = 2


class DataError(MmmGeoError, ValueError):
    """The input data is unusable; the message names the file, column, rows and the fix."""


class ConfigError(MmmGeoError, ValueError):
    """The configuration is inconsistent or refers to something that does not exist."""


class RunError(MmmGeoError, RuntimeError):
    """A run folder is missing, incomplete or corrupt."""
