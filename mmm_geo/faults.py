"""Test hook: stop a process at a named point so a fault-injection test can ``kill -9`` it there.

With ``MMM_GEO_FAULT=<point>`` in its environment, a process that reaches that point writes its
pid to the file ``MMM_GEO_FAULT_MARK`` names (if set) and sleeps until it is killed (10 minutes at
most, then it exits with code 99). Without the variable (always, outside tests) it does nothing.

Points:
  ``sample``             ``mmm_geo.run.fit_window``: sampling starts (the first fold's with
                         ``validation.folds``); nothing of this fit is written yet
  ``write:<file name>``  inside an atomic write of that file (``trace.nc``, ``metrics.json``,
                         ``index.csv``, ...): its temp file is written, not yet renamed into place
"""

from __future__ import annotations

import os
import time
from pathlib import Path

FAULT = "MMM_GEO_FAULT"
MARK = "MMM_GEO_FAULT_MARK"


def pause(point: str) -> None:
    """Sleep here, until killed, when ``MMM_GEO_FAULT`` names ``point`` (a test hook)."""
    if os.environ.get(FAULT) != point:
        return
    if os.environ.get(MARK):
        Path(os.environ[MARK]).write_text(str(os.getpid()))
    time.sleep(600)
    os._exit(99)
