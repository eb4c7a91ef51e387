"""The operator's end of the fork server (fork_server.py): start it, ask it for children, reap
them through it, and notice when it is gone.

Once the server fails (it did not start, refused to serve, died, or answered nonsense) it is
not used again: the launcher execs every later run, and says so in one log line.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import Any

from kflow_operator.decisions.launch_plan import RUN_UID_ENV
from kflow_operator.launchers import environ_slot
from kflow_operator.launchers.fork_request import ForkRequest

logger = logging.getLogger(__name__)

SERVER_MODULE = "kflow_operator.launchers.fork_server"
READY_TIMEOUT_SECONDS = 60.0
"""How long a launch waits for the server's imports (about a second on an idle machine)."""
REPLY_TIMEOUT_SECONDS = 30.0
MAX_REPLY_BYTES = 4096


class ForkServerUnavailable(Exception):
    """The server cannot start this run; the launcher execs it instead."""


class ForkServer:
    def __init__(self) -> None:
        """Starts the server process now; it imports kflow while the operator starts up."""
        self._lock = threading.Lock()
        self._failure: str | None = None
        self._ready = False
        self.env: Mapping[str, str] = dict(os.environ)
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.popen: subprocess.Popen[bytes] | None = subprocess.Popen(
                # -P: no sys.path entry for the operator's working directory; each child gets
                # the one its command would have had.
                [sys.executable, "-P", "-m", SERVER_MODULE, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                # The slot each child overwrites with its run's UID (environ_slot.py).
                env={**self.env, RUN_UID_ENV: environ_slot.PLACEHOLDER},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as error:
            self.popen = None
            self._fail(f"it did not start: {error}")
        finally:
            theirs.close()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def available(self) -> bool:
        return self._failure is None

    def launch(self, request: ForkRequest, gate: int, log: int) -> int:
        """The PID of a new child held at its gate; raises ForkServerUnavailable when the
        server cannot start it (the caller execs the run instead)."""
        reply = self._ask({"launch": request.to_json()}, [gate, log])
        if "pid" not in reply:
            raise ForkServerUnavailable(str(reply.get("error", reply)))
        return int(reply["pid"])

    def reap(self, pid: int) -> int | None:
        """Reap an ended child: its raw wait status, None when the server cannot tell (it is
        gone, or the child is not its own)."""
        try:
            status = self._ask({"reap": pid}, [])["status"]
        except (ForkServerUnavailable, KeyError):
            return None
        return None if status is None else int(status)

    def _ask(self, message: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        with self._lock:
            if self._failure is not None:
                raise ForkServerUnavailable(self._failure)
            try:
                if not self._ready:
                    self._await_ready()
                socket.send_fds(self._sock, [json.dumps(message).encode()], fds)
                self._sock.settimeout(REPLY_TIMEOUT_SECONDS)
                data = self._sock.recv(MAX_REPLY_BYTES)
                if not data:
                    raise OSError("it hung up")
                reply: dict[str, Any] = json.loads(data)
                return reply
            except (OSError, ValueError) as error:
                self._fail(f"it stopped answering: {error}")
                raise ForkServerUnavailable(str(error)) from error

    def _await_ready(self) -> None:
        self._sock.settimeout(READY_TIMEOUT_SECONDS)
        data = self._sock.recv(MAX_REPLY_BYTES)
        if not data:
            raise OSError("it exited while importing kflow")
        hello: dict[str, Any] = json.loads(data)
        if not hello.get("ready"):
            raise OSError(str(hello.get("refusal")))
        self._ready = True

    def gone(self) -> None:
        """The server process ended (the launcher's exit watcher says so)."""
        with self._lock:
            if self._failure is None:
                self._fail("it exited")
        if self.popen is not None:
            self.popen.poll()

    def _fail(self, why: str) -> None:
        if self._failure is not None:
            return
        self._failure = why
        logger.warning(
            "Process fork server unavailable (%s); process runs start by exec from now on.", why
        )
        # A server that stopped answering exits once it reads the end of its socket.
        self._sock.close()

    def close(self) -> None:
        """Hang up: the server exits; runs it started keep running."""
        with self._lock:
            self._failure = self._failure or "closed"
            self._sock.close()
        if self.popen is not None:
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
