"""The fork server: a warm interpreter that forks one child per process run.

`kflow execute` in a fresh Python spends about a second importing kflow before the flow can
report RUNNING. This process (started by the process launcher, one per operator) imports kflow
and what `kflow execute` needs once — never user code — and then forks a child per run that
calls `kflow execute`'s main at once. A run whose interpreter must differ (another Python, its
own command, a different PYTHON*/locale environment) is forked and exec'd instead, which is
what the launcher did before.

Single-threaded on purpose: a child forked while another thread held a lock would inherit it
locked. The server checks that importing kflow started no thread and refuses to serve if one
did (the launcher then execs every run).

Protocol (fork_client.py is the other end), one SOCK_SEQPACKET message each way:
- `{"launch": {...}}` with the gate pipe's read end and the log file as SCM_RIGHTS →
  `{"pid": N}` or `{"error": "…"}`;
- `{"reap": N}` → `{"status": RAW_WAIT_STATUS}` or `{"status": null}` (not ours / not ended).
Children stay zombies until the operator reaps them through the server, so their exit status is
never lost between the exit and the operator's look. End of file means the operator is gone:
the server exits and its children are re-parented, as children of a dead operator always were.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from kflow_operator.decisions.launch_plan import RUN_UID_ENV
from kflow_operator.launchers import environ_slot
from kflow_operator.launchers.fork_request import EXECUTE, ForkRequest
from kflow_operator.launchers.forked_exit import run_and_exit

MAX_MESSAGE_BYTES = 1 << 20
PRELOADED = (
    "kflow.cli",
    "kflow.cli.execute",
    "kflow.cluster.flowrun_process",
    "kflow.engine.flow_calls",
    "kflow.function_keys",
    "kflow.parameters",
)
"""What `kflow execute` imports before it reads its FlowRun: imported here once, for every run."""
PR_SET_NAME = 15


class ChildDone(Exception):
    """Raised in a forked child to leave the server's loop with the run's request."""

    def __init__(self, request: ForkRequest) -> None:
        super().__init__(request.command[0])
        self.request = request


def preload() -> str | None:
    """Import what runs need; why the server must not fork (a thread was started), or None."""
    import importlib

    for module in PRELOADED:
        importlib.import_module(module)
    if threading.active_count() != 1:
        names = ", ".join(t.name for t in threading.enumerate())
        return f"importing kflow started threads ({names}); forking would copy their locks"
    return None


def serve(sock: socket.socket, slot: int) -> None:
    """Answer requests until the operator hangs up. Returns only in a forked child (via
    ChildDone): the child then runs outside every frame of this loop. `slot`: where a child
    writes its run's UID for /proc/PID/environ (environ_slot.py)."""
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE_BYTES, 2)
        except ConnectionResetError:
            return
        if not data:
            return
        message: dict[str, Any] = json.loads(data)
        if "reap" in message:
            _send(sock, {"status": _reap(int(message["reap"]))})
            continue
        request = ForkRequest.from_json(message["launch"])
        if len(fds) != 2:
            _close_all(fds)
            _send(sock, {"error": f"expected 2 file descriptors, got {len(fds)}"})
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        set_up, set_up_done = os.pipe()
        try:
            pid = os.fork()
        except OSError as error:
            _close_all([*fds, set_up, set_up_done])
            _send(sock, {"error": f"fork failed: {error}"})
            continue
        if pid == 0:
            try:
                sock.close()
                os.close(set_up)
                _become_run(request, gate=fds[0], log=fds[1], slot=slot)
                os.close(set_up_done)
            except BaseException as error:
                os.write(2, f"kflow fork server: cannot start the run: {error}\n".encode())
                os._exit(127)
            raise ChildDone(request)
        _close_all([*fds, set_up_done])
        # Like exec, answer once the child is what the run gets (its session, descriptors,
        # environment and directory): the operator may signal its process group at once.
        os.read(set_up, 1)
        os.close(set_up)
        _send(sock, {"pid": pid})


def _send(sock: socket.socket, reply: dict[str, Any]) -> None:
    sock.send(json.dumps(reply).encode())


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _reap(pid: int) -> int | None:
    try:
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return status if reaped == pid else None


def _become_run(request: ForkRequest, gate: int, log: int, slot: int) -> None:
    """What exec gave the run: its own session, the gate on stdin, the log on stdout and
    stderr, only those descriptors, its environment (in /proc/PID/environ, the run's UID, which
    the operator's owner check reads) and working directory."""
    os.setsid()
    os.dup2(gate, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    for fd in (gate, log):
        if fd > 2:
            os.close(fd)
    os.environ.clear()
    os.environ.update(request.env)
    run_uid = request.env.get(RUN_UID_ENV)
    environ_slot.claim(slot, run_uid if run_uid and environ_slot.fits(run_uid) else None)
    time.tzset()
    if request.cwd is not None:
        os.chdir(request.cwd)


def wait_at_gate() -> bool:
    """The gate (launchers/gate.py): True on `go`; False when the operator hung up first."""
    received = b""
    while not received.endswith(b"\n"):
        chunk = os.read(0, 64)
        if not chunk:
            break
        received += chunk
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return received == b"go\n"


def run_child(request: ForkRequest) -> int:
    """The run, once released: `kflow execute` here, or the run's own command exec'd."""
    from kflow_operator.launchers.gate import GATE_MODULE

    if not wait_at_gate():
        # The operator died before recording this process: the orphaned gate decides, exactly
        # as behind the shell gate (it runs the command only if the FlowRun names us).
        os.execv(sys.executable, [sys.executable, "-m", GATE_MODULE, *request.command])
    if request.mode != EXECUTE:
        for restored in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(restored, signal.SIG_DFL)
        try:
            os.execvpe(request.command[0], request.command, request.env)
        except OSError as error:
            print(f"kflow gate: cannot run {request.command[0]!r}: {error}", file=sys.stderr)
            return 127
    sys.argv = list(request.argv)
    sys.path[0:0] = [request.path0]
    _set_name(b"kflow")
    from kflow.cli import main

    return main()


def _set_name(name: bytes) -> None:
    """The kernel's name for the process (ps, top, /proc/PID/comm), as an exec'd script had."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    refusal = preload()
    slot = 0
    try:
        slot = environ_slot.own_slot()
    except environ_slot.NoSlot as error:
        refusal = refusal or f"a forked run could not name its FlowRun in /proc: {error}"
    _send(sock, {"ready": refusal is None, "refusal": refusal})
    if refusal is not None:
        return
    # What is here now is shared by every child: out of the collector's sight, a child's
    # collections never write (copy) its pages (forked_exit.py).
    gc.freeze()
    try:
        serve(sock, slot)
        return
    except ChildDone as done:
        request = done.request
    # Outside the handler: the run's own exceptions are not chained to ChildDone (its log showed
    # "During handling of the above exception" with the server's frames), and the server
    # loop's frames are let go.
    run_and_exit(lambda: run_child(request))


if __name__ == "__main__":
    main()
