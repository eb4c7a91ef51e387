"""One thread that learns at once when watched processes end, via Linux pidfds.

A pidfd becomes readable when its process exits, whether or not it is our child and whether or
not anyone reaps it, so children of a previous operator incarnation (re-parented elsewhere,
possibly left as zombies) are noticed as quickly as our own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

Callback = Callable[[], None]


@dataclass
class _Entry:
    pid: int
    fd: int
    callbacks: list[Callback] = field(default_factory=list)


class ExitWatcher:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._lock = threading.Lock()
        self._by_fd: dict[int, _Entry] = {}
        self._by_pid: dict[int, _Entry] = {}
        self._thread = threading.Thread(target=self._run, name="kflow-exit-watcher", daemon=True)
        self._closed = threading.Event()
        self._wakeup_read, self._wakeup_write = os.pipe()
        self._epoll.register(self._wakeup_read, select.EPOLLIN)
        self._thread.start()

    def watch(self, pid: int, callback: Callback) -> None:
        """Call `callback` once when `pid` ends (at once, from this thread, if already gone).

        The caller has checked the PID's start time; a pidfd opened afterwards pins the process.
        """
        with self._lock:
            entry = self._by_pid.get(pid)
            if entry is not None:
                entry.callbacks.append(callback)
                return
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                fd = -1
            if fd >= 0:
                entry = _Entry(pid, fd, [callback])
                self._by_fd[fd] = entry
                self._by_pid[pid] = entry
                self._epoll.register(fd, select.EPOLLIN)
                return
        callback()

    def unwatch(self, pid: int) -> None:
        with self._lock:
            entry = self._by_pid.pop(pid, None)
            if entry is not None:
                self._drop(entry)

    def _drop(self, entry: _Entry) -> None:
        self._by_fd.pop(entry.fd, None)
        with contextlib.suppress(OSError):
            self._epoll.unregister(entry.fd)
        os.close(entry.fd)

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                ready = self._epoll.poll()
            except OSError:
                if self._closed.is_set():
                    return
                raise
            for fd, _ in ready:
                if fd == self._wakeup_read:
                    return
                with self._lock:
                    entry = self._by_fd.get(fd)
                    if entry is None:
                        continue
                    self._by_pid.pop(entry.pid, None)
                    self._drop(entry)
                for callback in entry.callbacks:
                    try:
                        callback()
                    except Exception:
                        logger.exception("exit callback for PID %d failed", entry.pid)

    def close(self) -> None:
        self._closed.set()
        os.write(self._wakeup_write, b"x")
        self._thread.join(timeout=2)
        os.close(self._wakeup_read)
        os.close(self._wakeup_write)
        with self._lock:
            for entry in list(self._by_pid.values()):
                self._drop(entry)
            self._by_pid.clear()
        self._epoll.close()
