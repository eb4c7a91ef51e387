"""kflow.processes: one process identity rule (PID + start time) for the SDK and the operator;
and when a local run takes SIGTERM over (kflow.engine.stop_signals)."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import kflow_operator.identifiers as operator_identifiers
import pytest
from kflow import flow
from kflow.engine import stop_signals
from kflow.processes import ProcessId, is_alive, process_id_of, signal_process


@pytest.fixture
def other_program() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def test_a_live_process_is_alive_only_with_its_own_start_time(
    other_program: subprocess.Popen[bytes],
) -> None:
    live = process_id_of(other_program.pid)
    assert is_alive(live)
    assert not is_alive(ProcessId(live.pid, live.start_ticks + 1))


def test_a_reused_pid_is_not_signalled(other_program: subprocess.Popen[bytes]) -> None:
    live = process_id_of(other_program.pid)
    assert signal_process(ProcessId(live.pid, live.start_ticks - 1), signal.SIGTERM) is False
    assert other_program.poll() is None

    assert signal_process(live, signal.SIGTERM) is True
    assert other_program.wait(timeout=10) == -signal.SIGTERM
    assert not is_alive(live)  # a zombie, then gone: neither is the process any more
    assert signal_process(live, signal.SIGTERM) is False


def test_the_operator_uses_the_sdk_rule() -> None:
    assert operator_identifiers.ProcessId is ProcessId
    assert operator_identifiers.is_alive is is_alive
    assert operator_identifiers.signal_process is signal_process


def test_a_flow_takes_sigterm_only_while_it_runs_and_only_where_nobody_else_does() -> None:
    seen: list[Any] = []

    @flow
    def look() -> None:
        seen.append(signal.getsignal(signal.SIGTERM))

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    look()
    assert seen == [stop_signals._on_sigterm]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def own_handler(signum: int, frame: object) -> None: ...

    previous = signal.signal(signal.SIGTERM, own_handler)
    try:
        look()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen[-1] is own_handler  # an application's own handler is kept

    worker = threading.Thread(target=look)
    worker.start()
    worker.join()
    assert seen[2] is signal.SIG_DFL  # no handler from outside the main thread
