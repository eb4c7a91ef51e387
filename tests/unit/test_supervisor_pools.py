"""A supervisor of an operator sharded by work pool (--work-pool) whose run's pool could not be
told when it started: it ends without a write once the run is known to be another pool's,
and keeps waiting while the run's Deployment does not exist (it may yet be this one's)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kflow_operator.decisions.run_finalizer import FINALIZER
from kflow_operator.informers import Informers, apply_change
from kflow_operator.kubeapi.kflow_objects import KflowObjects
from kflow_operator.kubeapi.list_watch import Change
from kflow_operator.kubeapi.notification_reads import NotificationReads
from kflow_operator.operator_context import OperatorContext
from kflow_operator.settings import OperatorSettings
from kflow_operator.supervision import supervisor
from kflow_operator.wakeups import StopFlag


def no_api_client() -> Any:
    raise AssertionError("this test reaches no API server")


def sharded_context() -> OperatorContext:
    ctx = OperatorContext(
        OperatorSettings(work_pools=frozenset({"mine"})),
        KflowObjects(),
        {},
        NotificationReads(no_api_client),
    )
    ctx.informers = Informers((), KflowObjects())
    ctx.schedules.deployments = ctx.informers.deployments
    ctx.informers.deployments.mark_ready()
    return ctx


def finished_run_of(deployment: str) -> dict[str, Any]:
    """A run with the finalizer still on: the kind whose finalizer an ending supervisor takes
    off, were the run its operator's."""
    return {
        "metadata": {
            "namespace": "ns",
            "name": "r",
            "uid": "u-r",
            "resourceVersion": "3",
            "finalizers": [FINALIZER],
        },
        "spec": {"deploymentRef": {"name": deployment}},
        "status": {
            "state": {"type": "FAILED", "name": "Failed", "timestamp": "2026-12-05T09:00:00Z"},
            "conditions": [
                {
                    "type": "Finished",
                    "status": "True",
                    "lastTransitionTime": "2026-12-05T09:00:01Z",
                }
            ],
        },
    }


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    made: list[str] = []

    async def write_finalizers(*args: Any, **kwargs: Any) -> bool:
        made.append("finalizers")
        return True

    monkeypatch.setattr(supervisor, "write_finalizers", write_finalizers)
    return made


def test_a_run_known_to_be_another_pools_ends_its_supervisor_untouched(writes: list[str]) -> None:
    async def scenario() -> None:
        ctx = sharded_context()
        assert ctx.informers is not None
        deployment = {
            "metadata": {"namespace": "ns", "name": "d", "resourceVersion": "1"},
            "spec": {"workPool": {"name": "other"}},
        }
        apply_change(ctx.informers.deployments, Change("ADDED", deployment))
        ended = supervisor.Supervisor(ctx, finished_run_of("d"))
        assert await asyncio.wait_for(ended.run(StopFlag()), 10) is False
        assert ended.foreign
        assert writes == [], "another operator's run: not even its finalizer is touched"

    asyncio.run(scenario())


def test_a_run_whose_deployment_does_not_exist_yet_is_waited_for(
    writes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        ctx = sharded_context()
        monkeypatch.setattr(ctx.schedules._api, "get_deployment", lambda namespace, name: None)
        waiting = supervisor.Supervisor(ctx, finished_run_of("not-yet"))
        stop = StopFlag()
        task = asyncio.create_task(waiting.run(stop))
        done, _ = await asyncio.wait({task}, timeout=0.5)
        assert not done, "it may yet be this operator's run: the supervisor waits"
        stop.set()
        assert await asyncio.wait_for(task, 10) is False
        assert not waiting.foreign
        assert writes == []

    asyncio.run(scenario())
