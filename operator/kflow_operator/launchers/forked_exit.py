"""How a forked run's interpreter ends: what Python's own exit does for the run, without
tearing down the heap it shares with the fork server.

A normal interpreter exit clears every module and collects the whole heap. In a child forked
from the warm server that heap is the server's, shared copy-on-write: tearing it down writes
every page of it (reference counts, GC headers), which cost ~100 ms of CPU per run, three times
the run's own work, and on a busy host that CPU is taken from the next run's start. Python's
`multiprocessing` ends its forked workers with `os._exit` for the same reason.

What a run can observe of its exit is kept: non-daemon threads (and thread pools left open)
are waited for, `atexit` callbacks run, the run's own garbage is collected (finalizers,
`finally` blocks of dropped generators), buffered output is flushed and the exit status is the
one `sys.exit` would give.
What is not done is what CPython does not promise either: `__del__` of objects still alive
when the interpreter exits ("It is not guaranteed that __del__() methods are called for
objects that still exist when the interpreter exits", the data model reference).
"""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import NoReturn

EXIT_FAILED = 1


def exit_status(code: object) -> int:
    """The process exit status `sys.exit(code)` gives: None is 0, an int itself, anything
    else is printed to stderr and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return EXIT_FAILED


def run_and_exit(run: Callable[[], int]) -> NoReturn:
    """Run `run` and end the process as the interpreter would, less the heap's teardown."""
    try:
        status = exit_status(run())
    except SystemExit as stop:
        status = exit_status(stop.code)
    except KeyboardInterrupt:
        _finish()
        # As CPython does: die of the signal, so the parent sees SIGINT.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        os._exit(128 + signal.SIGINT)
    except BaseException:
        traceback.print_exc()
        status = EXIT_FAILED
    _finish()
    os._exit(status)


def _finish() -> None:
    # What the interpreter's exit calls first: it tells thread pools left open to stop
    # (concurrent.futures registers that with threading) and waits for non-daemon threads.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    gc.collect()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
