"""User-facing errors and the CLI's exit codes.

The CLI prints a user error's message (what, where, the fix) with no traceback and exits with its
``exit_code``; :func:`as_user_error` tells which other exceptions are the user's (a path, the
disk, memory, Ctrl-C) and which are bugs in mmm_geo.
"""

from __future__ import annotations

import errno
import re
from typing import Optional

EXIT_USER = 2           # bad data, config, run folder, path, disk or memory
EXIT_UNCONVERGED = 3    # the fit did not converge and inference.strict=true
EXIT_BUG = 70           # a bug in mmm_geo (EX_SOFTWARE): traceback and a request to report it
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_PIPE = 141         # stdout closed early, e.g. ``| head`` (128 + SIGPIPE), nothing printed


class MmmGeoError(Exception):
    """Base class for errors caused by user input (data, config, run folders)."""

    exit_code = EXIT_USER


class DataError(MmmGeoError, ValueError):
    """The input data is unusable; the message names the file, column, rows and the fix."""


class ConfigError(MmmGeoError, ValueError):
    """The configuration is inconsistent or refers to something that does not exist."""


class RunError(MmmGeoError, RuntimeError):
    """A run folder is missing, incomplete or corrupt."""


class SystemResourceError(MmmGeoError, OSError):
    """A path cannot be read or written (permissions, disk full, missing), or memory ran out."""


class Interrupted(MmmGeoError):
    """The user pressed Ctrl-C."""

    exit_code = EXIT_INTERRUPTED


_OS_FIXES = {
    errno.EACCES: "give yourself access to it (ls -l shows its owner and mode) or use another folder",
    errno.EPERM: "give yourself access to it (ls -l shows its owner and mode) or use another folder",
    errno.ENOSPC: "free space on that disk, or write to another one (output_dir=, out=, --out); "
                  "a run folder without metrics.json is incomplete and a re-run replaces it",
    errno.EDQUOT: "free space in your disk quota, or write to another disk",
    errno.EFBIG: "the file exceeds the size limit of this process or filesystem (ulimit -f); "
                 "raise the limit or write to another disk",
    errno.EROFS: "the filesystem is read-only: write to another folder",
    errno.ENOENT: "check the path (relative paths start in the folder you ran mmm-geo in)",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "the path is a folder, where a file was expected: check the path",
    errno.EEXIST: "a file is in the way of a folder: move it or choose another path",
}


def _os_error(err: OSError) -> SystemResourceError:
    """An OSError as a message: what failed, on which path, and the fix for its errno."""
    code = err.errno
    if code is None:  # h5py and netCDF put the errno into the message
        found = re.search(r"errno = (\d+)", str(err))
        code = int(found.group(1)) if found else None
    paths = [p for p in (err.filename, err.filename2) if p is not None]
    what = err.strerror or str(err)
    fix = _OS_FIXES.get(code, "check the path, its permissions and the free disk space")
    where = " -> ".join(str(p) for p in paths) + ": " if paths else ""
    return SystemResourceError(f"{where}{what}\n  fix: {fix}")


def as_user_error(err: BaseException) -> Optional[MmmGeoError]:
    """The user error that ``err`` is or stands for; None when ``err`` is a bug in mmm_geo.

    User errors: every :class:`MmmGeoError`; Ctrl-C (:class:`Interrupted`); an ``OSError`` (a
    path that is missing, unreadable or unwritable, a full disk); memory exhausted (``MemoryError``
    or XLA's ``RESOURCE_EXHAUSTED``). Anything else is a bug.
    """
    if isinstance(err, MmmGeoError):
        return err
    if isinstance(err, KeyboardInterrupt):
        return Interrupted("interrupted")
    if isinstance(err, OSError):
        return _os_error(err)
    if isinstance(err, MemoryError) or "RESOURCE_EXHAUSTED" in str(err)[:200]:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        return SystemResourceError(
            f"out of memory ({first})\n  fix: fit fewer draws or chains (inference.draws, "
            "inference.chains), a smaller batch (inference.ppc_batch), fewer geos or weeks, "
            "or use a machine with more memory")
    return None
