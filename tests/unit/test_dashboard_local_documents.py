"""Local history runs shaped like FlowRuns for `kflow dashboard --local`."""

from __future__ import annotations

from kflow.dashboard.local_documents import fingerprint, local_flow_run
from kflow.history.queries import FlowRunRecord, HistoryState, TaskRunRecord

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def record(state: HistoryState | None, **fields: object) -> FlowRunRecord:
    base: dict[str, object] = dict(
        id="0f1e", name="dainty-mule", flow_name="gated", flow_version=None,
        parameters={"label": "x"}, tags=["t"], parent_flow_run_id=None, parent_task_run_id=None,
        created=T0, hostname="vm", pid=42, start_time=T0 + 1, end_time=None, run_count=1,
        state=state, result=None,
    )  # fmt: skip
    return FlowRunRecord(**{**base, **fields})  # type: ignore[arg-type]


def task(name: str, kind: str, start: float) -> TaskRunRecord:
    return TaskRunRecord(
        id=name, flow_run_id="0f1e", name=name, task_name="greet", task_key="k",
        dynamic_key=0, tags=[], child_flow_run_id=None, created=start, start_time=start,
        end_time=start + 1 if kind == "COMPLETED" else None, run_count=1,
        state=HistoryState(kind, kind.title(), None, start),
    )  # fmt: skip


def test_a_local_run_reads_like_a_flowrun() -> None:
    running = HistoryState("RUNNING", "Running", None, T0 + 1)
    run = record(running, parent_flow_run_id="parent", result={"value": 3})
    states = [HistoryState("PENDING", "Pending", None, T0), running]
    document = local_flow_run(
        run, states, [task("a", "COMPLETED", T0 + 2), task("b", "RUNNING", T0 + 2.5)]
    )
    assert document["metadata"] == {
        "name": "0f1e", "namespace": "local", "uid": "0f1e",
        "creationTimestamp": "2026-01-01T00:00:00.000Z",
    }  # fmt: skip
    assert document["spec"] == {
        "parameters": {"label": "x"},
        "tags": ["t"],
        "parentRef": {"name": "parent"},
    }
    status = document["status"]
    assert status["state"]["type"] == "RUNNING" and status["runName"] == "dainty-mule"
    assert [s["type"] for s in status["stateHistory"]] == ["PENDING", "RUNNING"]
    assert status["taskRuns"]["total"] == 2
    assert status["taskRuns"]["counts"] == {"COMPLETED": 1, "RUNNING": 1}
    assert [t["name"] for t in status["taskRuns"]["recent"]] == ["a", "b"]  # a changed last
    assert status["infrastructure"] == {"type": "process", "pid": "vm:42"}
    assert status["result"] == {"value": 3}
    assert "endTime" not in status


def test_the_fingerprint_changes_with_the_state_and_the_end() -> None:
    running = record(HistoryState("RUNNING", "Running", None, T0))
    done = record(HistoryState("COMPLETED", "Completed", None, T0 + 5), end_time=T0 + 5)
    assert fingerprint(running) != fingerprint(done)
    assert fingerprint(done) == fingerprint(record(done.state, end_time=T0 + 5))
