"""The FlowRun supervisors, started and fed from the operator's own FlowRun watch
(supervision/dispatcher.py): one per run that needs one, none kept once done, none while
another replica acts."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from kflow_operator.decisions.run_finalizer import FINALIZER
from kflow_operator.informers import Informers, apply_change
from kflow_operator.kubeapi.kflow_objects import KflowObjects
from kflow_operator.kubeapi.list_watch import Change
from kflow_operator.kubeapi.notification_reads import NotificationReads
from kflow_operator.operator_context import SUPERVISOR_WORK_SLOTS, OperatorContext
from kflow_operator.settings import OperatorSettings
from kflow_operator.supervision import dispatcher
from kflow_operator.supervision.work_slots import WorkSlot
from kflow_operator.wakeups import StopFlag

FINISHED = {"type": "Finished", "status": "True"}


def no_api_client() -> Any:
    raise AssertionError("this test reaches no API server")


def run(version: int, state: str | None = None, *conditions: dict[str, str]) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": list(conditions)}
    if state is not None:
        status["state"] = {"type": state, "name": state.title()}
    return {
        "metadata": {"namespace": "ns", "name": "r", "resourceVersion": str(version)},
        "spec": {},
        "status": status,
    }


class FakeSupervisor:
    """Stands in for a supervisor: records what it saw; ends when told (or fails)."""

    started: ClassVar[list[FakeSupervisor]] = []
    fail_first: ClassVar[int] = 0

    def __init__(self, context: Any, body: dict[str, Any], slot: WorkSlot | None = None) -> None:
        self.body = body
        self.slot = slot if slot is not None else WorkSlot(context.work_slots)
        self.seen: list[dict[str, Any]] = []
        self.active = True
        self.end = asyncio.Event()
        self.stopped: StopFlag | None = None
        FakeSupervisor.started.append(self)

    def see(self, body: dict[str, Any]) -> None:
        self.seen.append(body)
        self.body = body

    async def run(self, stopped: StopFlag) -> bool:
        self.stopped = stopped
        if FakeSupervisor.fail_first:
            FakeSupervisor.fail_first -= 1
            raise RuntimeError("boom")
        waiting = asyncio.ensure_future(stopped.wait())
        ending = asyncio.ensure_future(self.end.wait())
        await asyncio.wait({waiting, ending}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        ending.cancel()
        return False


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeSupervisor]:
    FakeSupervisor.started = []
    FakeSupervisor.fail_first = 0
    monkeypatch.setattr(dispatcher, "Supervisor", FakeSupervisor)
    monkeypatch.setattr(dispatcher, "RESTART_SECONDS", 0.01)
    return FakeSupervisor


def context(settings: OperatorSettings | None = None) -> OperatorContext:
    found = OperatorContext(
        settings or OperatorSettings(), KflowObjects(), {}, NotificationReads(no_api_client)
    )
    found.informers = Informers((), KflowObjects())
    return found


def feed(supervisors: dispatcher.Supervisors, change: Change) -> None:
    """As the operator's FlowRun watch does: the index takes the change, then the dispatcher."""
    informers = supervisors._context.informers
    assert informers is not None
    apply_change(informers.flowruns, change)
    supervisors._handle(change)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_one_supervisor_per_run_fed_every_change_and_not_kept_once_done(
    fake: type[FakeSupervisor],
) -> None:
    async def scenario() -> None:
        supervisors = dispatcher.Supervisors(context(), asyncio.get_running_loop())
        supervisors._set_active(True)
        feed(supervisors, Change("ADDED", run(1)))
        await settle()
        feed(supervisors, Change("MODIFIED", run(2, "PENDING")))
        await settle()
        assert len(fake.started) == 1 and len(supervisors) == 1
        assert [b["metadata"]["resourceVersion"] for b in fake.started[0].seen] == ["2"]

        fake.started[0].body = run(3, "COMPLETED", FINISHED)
        fake.started[0].end.set()
        await settle()
        assert len(supervisors) == 0, "an ended supervisor (and its run's body) is not kept"
        feed(supervisors, Change("MODIFIED", run(2, "PENDING")))
        feed(supervisors, Change("MODIFIED", run(3, "PENDING")))
        await settle()
        assert len(fake.started) == 1, "events up to the version it ended at start none"
        feed(supervisors, Change("MODIFIED", run(4, "COMPLETED", FINISHED)))
        await settle()
        assert len(fake.started) == 1, "a finished run without the finalizer needs none"
        finishing = run(5, "COMPLETED", FINISHED)
        finishing["metadata"]["finalizers"] = [FINALIZER]
        feed(supervisors, Change("MODIFIED", finishing))
        await settle()
        assert len(fake.started) == 2, "a finished run still carrying the finalizer gets one"

    asyncio.run(scenario())


def test_a_deletion_stops_the_runs_supervisor_as_deleted(fake: type[FakeSupervisor]) -> None:
    async def scenario() -> None:
        supervisors = dispatcher.Supervisors(context(), asyncio.get_running_loop())
        supervisors._set_active(True)
        feed(supervisors, Change("ADDED", run(1, "RUNNING")))
        await settle()
        feed(supervisors, Change("DELETED", run(1, "RUNNING")))
        await settle()
        stopped = fake.started[0].stopped
        assert stopped is not None and stopped and stopped.deleted
        assert len(supervisors) == 0

    asyncio.run(scenario())


def test_supervisors_run_only_while_this_replica_acts(fake: type[FakeSupervisor]) -> None:
    async def scenario() -> None:
        ctx = context()
        assert ctx.informers is not None
        supervisors = dispatcher.Supervisors(ctx, asyncio.get_running_loop())
        ctx.informers.flowruns.put(run(1, "RUNNING"))
        feed(supervisors, Change("ADDED", run(1, "RUNNING")))
        await settle()
        assert fake.started == [], "a standby starts nothing"
        supervisors._set_active(True)
        await settle()
        assert len(fake.started) == 1, "acting: started from the index"
        supervisors._set_active(False)
        await settle()
        stopped = fake.started[0].stopped
        assert stopped is not None and stopped and not stopped.deleted
        assert len(supervisors) == 0
        supervisors._set_active(True)
        await settle()
        assert len(fake.started) == 2, "acting again: started again"

    asyncio.run(scenario())


def test_a_failed_supervisor_starts_again(fake: type[FakeSupervisor]) -> None:
    async def scenario() -> None:
        fake.fail_first = 1
        supervisors = dispatcher.Supervisors(context(), asyncio.get_running_loop())
        supervisors._set_active(True)
        feed(supervisors, Change("ADDED", run(1, "RUNNING")))
        for _ in range(100):
            if len(fake.started) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(fake.started) == 2
        await supervisors.stop_all(1.0)
        assert len(supervisors) == 0

    asyncio.run(scenario())


def test_finished_runs_are_forgotten_after_a_while(
    fake: type[FakeSupervisor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is remembered of each finished run (its last version) must not grow with every run
    the operator ever finished."""
    monkeypatch.setattr(dispatcher, "ENDED_MEMORY_SECONDS", 0.0)

    async def scenario() -> None:
        supervisors = dispatcher.Supervisors(context(), asyncio.get_running_loop())
        supervisors._set_active(True)
        for name in ("a", "b", "c"):
            body = run(1, "RUNNING")
            body["metadata"]["name"] = name
            feed(supervisors, Change("ADDED", body))
            await settle()
            fake.started[-1].end.set()
            await settle()
        assert len(supervisors._ended) <= 1

    asyncio.run(scenario())


def named(name: str, version: int, state: str | None = None) -> dict[str, Any]:
    body = run(version, state)
    body["metadata"]["name"] = name
    body["metadata"]["uid"] = f"uid-{name}"
    body["spec"] = {"deploymentRef": {"name": "d"}}
    return body


def test_runs_wait_by_name_for_a_work_slot_and_start_as_the_index_has_them(
    fake: type[FakeSupervisor],
) -> None:
    """A burst of new runs waits as a queue of names, not as a supervisor each: one is made
    when a slot frees, from the run's newest version, and handed that slot."""

    async def scenario() -> None:
        ctx = context()
        ctx.work_slots = asyncio.Semaphore(2)
        supervisors = dispatcher.Supervisors(ctx, asyncio.get_running_loop())
        supervisors._set_active(True)
        for name in ("a", "b", "c", "d"):
            feed(supervisors, Change("ADDED", named(name, 1)))
        await settle()
        assert [f.body["metadata"]["name"] for f in fake.started] == ["a", "b"]
        assert supervisors.waiting == 2 and ctx.work_slots.locked()

        feed(supervisors, Change("MODIFIED", named("c", 2, "PENDING")))
        feed(supervisors, Change("DELETED", named("d", 2)))
        fake.started[0].end.set()
        await settle()
        assert [f.body["metadata"]["name"] for f in fake.started] == ["a", "b", "c"]
        assert fake.started[2].body["metadata"]["resourceVersion"] == "2", "the newest version"
        assert fake.started[2].slot is not None and supervisors.waiting == 0, "d was deleted"

        fake.started[1].end.set()
        fake.started[2].end.set()
        await settle()
        assert not ctx.work_slots.locked() and ctx.work_slots._value == 2, "every slot back"

    asyncio.run(scenario())


def test_a_run_stopped_before_its_supervisor_ran_gives_its_slot_back(
    fake: type[FakeSupervisor],
) -> None:
    async def scenario() -> None:
        ctx = context()
        ctx.work_slots = asyncio.Semaphore(1)
        supervisors = dispatcher.Supervisors(ctx, asyncio.get_running_loop())
        supervisors._set_active(True)
        feed(supervisors, Change("ADDED", named("a", 1)))
        feed(supervisors, Change("ADDED", named("b", 1)))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        supervisors._set_active(False)
        await settle()
        assert supervisors.waiting == 0 and len(supervisors) == 0
        assert ctx.work_slots._value == 1, "the slot handed to a stopped supervisor came back"
        await supervisors.stop_all(1.0)

    asyncio.run(scenario())


def test_a_run_of_a_pool_another_operator_serves_gets_no_supervisor(
    fake: type[FakeSupervisor],
) -> None:
    """Sharded by pool (--work-pool), an operator kept a sleeping supervisor for every live run
    of the other pools; now it looks at such a run again only when it changes."""

    async def scenario() -> None:
        ctx = context(OperatorSettings(work_pools=frozenset({"mine"})))
        supervisors = dispatcher.Supervisors(ctx, asyncio.get_running_loop())
        supervisors._set_active(True)
        theirs, mine = named("theirs", 1), named("mine", 1)
        theirs["spec"] = {"deploymentRef": {"name": "d"}, "workPool": {"name": "other"}}
        mine["spec"] = {"deploymentRef": {"name": "d"}, "workPool": {"name": "mine"}}
        feed(supervisors, Change("ADDED", theirs))
        feed(supervisors, Change("ADDED", mine))
        await settle()
        assert [f.body["metadata"]["name"] for f in fake.started] == ["mine"]

        moved = named("theirs", 2)
        moved["spec"] = {"deploymentRef": {"name": "d"}, "workPool": {"name": "mine"}}
        feed(supervisors, Change("MODIFIED", moved))
        await settle()
        assert [f.body["metadata"]["name"] for f in fake.started] == ["mine", "theirs"]
        assert ctx.work_slots._value == SUPERVISOR_WORK_SLOTS - 2, "none kept by the skipped"

    asyncio.run(scenario())
