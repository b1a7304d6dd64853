"""Ctrl-C that stops a command at once, even inside one long compiled call.

Python runs its SIGINT handler (``KeyboardInterrupt``) only when the main thread is back in Python.
Parallel chains sample in one compiled XLA call, so a Ctrl-C there took effect only after the
last draw (measured: 18.7 s late), and once it was lost. :func:`watch` makes the signal visible to
a helper thread through :func:`signal.set_wakeup_fd`; that thread prints the CLI's message and
ends the process with exit code 130 at once. The main thread's Python handler, when it runs
first, does the same instead of raising ``KeyboardInterrupt``: raised wherever the main thread
happens to be, that exception can land in one of JAX's garbage-collection callbacks, which Python
reports with a traceback (measured, session 10: parallel chains). Both call ``write`` and
``_exit`` through :class:`ctypes.PyDLL`, which keeps the GIL, so only the first prints: a call
that gives the GIL up (``os.write``, a wait) may not get it back while XLA runs.

Nothing half-written can look complete: every file is written atomically, and a run folder
without ``metrics.json`` is refused by ``load_run`` and completed by a re-run (the contract of a
``kill -9``, tested in ``tests/test_faults.py``). Only the CLI calls :func:`watch`; a library
user (a notebook) keeps Python's own behaviour.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading

from mmm_geo.errors import EXIT_INTERRUPTED


def _exit_now(message: bytes) -> None:
    libc = ctypes.PyDLL(None)  # calls that keep the GIL
    libc.write(2, message, len(message))
    libc._exit(EXIT_INTERRUPTED)


def watch(message: str = "mmm-geo: interrupted") -> None:
    """From now on a SIGINT ends the process at once (exit 130, ``message`` on stderr). Call it
    from the main thread, once per process; elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    try:
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        os.close(read_fd)
        os.close(write_fd)
        return

    text = ("\n" + message + "\n").encode()
    signal.signal(signal.SIGINT, lambda *_: _exit_now(text))

    def loop() -> None:
        while True:
            got = os.read(read_fd, 64)
            if not got:
                return
            if signal.SIGINT in got:
                _exit_now(text)
                return

    threading.Thread(target=loop, name="mmm-geo-ctrl-c", daemon=True).start()
