"""`kflow flow-run logs -f` before there is output: what it says while the run waits, and when
it stops waiting (the run launched, or ended without ever starting)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from kflow.cluster import log_follow
from kflow.cluster.log_follow import Notes, launched, wait_for_launch, wait_for_start


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_follow, "STATE_CHECK_SECONDS", 0.0)


def run(state: str | None = None, message: str | None = None, **infra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if state:
        status["state"] = {"type": state, **({"message": message} if message else {})}
    if infra:
        status["infrastructure"] = infra
    return {"status": status}


def reads(*bodies: Mapping[str, Any]) -> Any:
    """A reader returning `bodies` in turn, then the last one for ever."""
    items: Iterator[Mapping[str, Any]] = iter(bodies)
    last: list[Mapping[str, Any]] = []

    def read() -> Mapping[str, Any]:
        last[:] = [next(items, last[0] if last else bodies[-1])]
        return last[0]

    return read


def test_a_launch_ends_the_wait_saying_once_per_change_what_the_run_waits_for() -> None:
    out = io.StringIO()
    pending = run("PENDING", "pod r-1-abc waits: ErrImagePull: no such host")
    found = wait_for_launch(
        reads(run(), run("SCHEDULED"), run("SCHEDULED"), pending, run("RUNNING", type="docker")),
        Notes("r", out),
    )
    assert found == run("RUNNING", type="docker")
    assert out.getvalue().splitlines() == [
        "waiting for FlowRun r to start: no state yet",
        "waiting for FlowRun r to start: SCHEDULED",
        "waiting for FlowRun r to start: PENDING (pod r-1-abc waits: ErrImagePull: no such host)",
    ]


def test_a_process_run_is_launched_once_its_log_file_is_recorded() -> None:
    assert not launched(run("PENDING", type="process"))
    assert launched(run("PENDING", type="process", logPath="/var/log/r.log"))
    assert launched(run("PENDING", type="kubernetes-job", id="ns/r-1@u"))


def test_a_run_that_ends_without_starting_ends_the_wait() -> None:
    out = io.StringIO()
    crashed = run("CRASHED", "The flow's infrastructure did not start within 300s: …")
    assert wait_for_launch(reads(run("PENDING"), crashed), Notes("r", out)) is None
    assert out.getvalue().splitlines()[-1] == (
        "FlowRun r ended before its flow started: CRASHED (The flow's infrastructure did not "
        "start within 300s: …)"
    )


def test_waiting_for_the_start_takes_what_ran_even_if_the_run_ended_meanwhile() -> None:
    answers = iter([None, "pod-a"])
    out = io.StringIO()
    found = wait_for_start(lambda: next(answers), reads(run("COMPLETED")), Notes("r", out))
    assert found == "pod-a", "a pod that ran and ended before we looked still has its logs"
    assert out.getvalue() == ""
