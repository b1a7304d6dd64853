"""Atomic file writes that honour the umask, so a team can share run folders and reports.

Every writer of a run folder, report, optimize or forecast output goes through
:func:`atomic_write`: the content goes to a temp file beside the target, gets the mode a plain
``open(path, "w")`` would give (``0666 & ~umask``: 0644 under the usual umask 022, 0600 under
077), then is renamed into place, so a reader never sees half a file and a killed process leaves
none. Folders are made with ``Path.mkdir``, which honours the umask by itself. Imports nothing
heavy (the sweep's job process uses it without JAX).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from mmm_geo import faults


def umask() -> int:
    """The process's umask, read without changing it (Linux ``/proc``), else by setting it back."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a newly created file gets under the current umask."""
    return 0o666 & ~umask()


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)``, give the file the umask's mode, then rename it to ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, file_mode())  # mkstemp makes 0600; the writer may also have re-created it
        faults.pause(f"write:{path.name}")  # test hook (mmm_geo/faults.py, tests/test_faults.py)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (newlines as given)."""
    atomic_write(path, lambda p: p.write_text(text, newline=""))
