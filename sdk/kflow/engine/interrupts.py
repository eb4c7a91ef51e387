"""Stopping a running body from outside: the exceptions the engine raises into it, and how.

Python has no safe way to kill a thread, so the engine raises an exception into the thread
that runs the body: in another thread `PyThreadState_SetAsyncExc` schedules it, and it is
raised at the next bytecode boundary. Limit: a thread blocked inside C code (a long
`time.sleep`, a socket read without timeout) sees it only when that call returns. Async bodies
are not touched this way: cancellation cancels their asyncio task (an async body stuck in
synchronous code sees it only at its next `await`). Deadlines are in `kflow.engine.timeouts`.

The exceptions derive from BaseException so that a body's `except Exception:` does not swallow
them.
"""

from __future__ import annotations


class Interrupt(BaseException):
    """Base of the exceptions the engine raises into a running body."""


class DeadlineExceeded(Interrupt):
    """A timeout scope's deadline passed."""


class CancelInterrupt(Interrupt):
    """The flow run was cancelled from outside (or is being torn down)."""


def raise_in_thread(thread_id: int, exc_type: type[BaseException]) -> bool:
    """Schedule `exc_type` to be raised in another thread; False when the thread is gone."""
    import ctypes  # start-up: ctypes (~2 ms) is only for runs that get interrupted

    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)
    )
    if done > 1:  # more than one thread state touched: undo, as the C API docs require
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
        return False
    return bool(done)


def clear_pending_in_thread(thread_id: int) -> None:
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)


class SuspendInterrupt(Interrupt):
    """`pause_flow_run(reschedule=True)`: end this process; the run restarts on resume."""
