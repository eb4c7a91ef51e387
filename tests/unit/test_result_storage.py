"""Result storage on local and mounted paths: `result_storage=` / `result_serializer=` /
`result_storage_key=` on flows and tasks decide where persisted results, cache entries and
the reschedule marker go, and a storage that cannot be used fails the run with one line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from kflow import flow, pause_flow_run, task
from kflow.backend import FlowRun, MemoryBackend
from kflow.backend_selection import set_backend
from kflow.cache_policies import INPUTS
from kflow.engine.flow_calls import run_flow
from kflow.exceptions import ResultStorageError
from kflow.filesystems import LocalFileSystem, resolve_storage
from kflow.s3 import S3Bucket
from kflow.serializers import CompressedSerializer, JSONSerializer
from kflow.states import State, StateType
from pydantic import BaseModel

pytestmark = pytest.mark.usefixtures("backend")


class Point(BaseModel):
    x: int
    y: int


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def final_task_states(backend: MemoryBackend) -> list[State[Any]]:
    """In the order the task runs were created."""
    return [backend.task_run_states[run.id][-1] for run in backend.task_runs.values()]


def test_a_flows_storage_and_serializer_keep_its_task_results_and_its_own(
    tmp_path: Path, backend: MemoryBackend
) -> None:
    storage = tmp_path / "shared"

    @task
    def make_point(x: int) -> Point:
        return Point(x=x, y=2 * x)

    @flow(result_storage=str(storage), result_serializer="json")
    def points() -> list[Point]:
        return [make_point(1), make_point.submit(2).result()]

    assert points.persist_result is True, "choosing a storage implies persisting (Prefect)"
    state = points(return_state=True)
    assert state.result() == [Point(x=1, y=2), Point(x=2, y=4)]
    run_id = next(iter(backend.flow_runs))
    task_key = make_point.task_key
    assert files_under(storage) == [
        f"{run_id}/flow.json",
        f"{run_id}/{task_key}-0.json",
        f"{run_id}/{task_key}-1.json",
    ]
    stored = json.loads((storage / run_id / f"{task_key}-1.json").read_text())
    assert stored == {"__class__": f"{__name__}.Point", "data": {"x": 2, "y": 4}}
    assert not (tmp_path / "results").exists(), "nothing in $KFLOW_HOME/results"


def test_a_tasks_own_storage_and_serializer_win_over_its_flows(tmp_path: Path) -> None:
    @task(result_storage=LocalFileSystem(basepath=tmp_path / "task"), result_serializer="json")
    def own() -> int:
        return 1

    @task
    def inherited() -> int:
        return 2

    @flow(result_storage=tmp_path / "flow", result_serializer="compressed/pickle")
    def both() -> int:
        return own() + inherited()

    assert both() == 3
    assert [p.rsplit("/", 1)[1] for p in files_under(tmp_path / "task")] == [
        f"{own.task_key}-0.json"
    ]
    assert {p.rsplit("/", 1)[1] for p in files_under(tmp_path / "flow")} == {
        f"{inherited.task_key}-0.pickle.xz",
        "flow.pickle.xz",
    }


def test_with_options_takes_the_same_options(tmp_path: Path) -> None:
    @task
    def plain() -> int:
        return 1

    @flow
    def quiet() -> int:
        return plain()

    changed = plain.with_options(result_storage=str(tmp_path), result_serializer="json")
    assert changed.persist_result is True
    assert isinstance(changed.result_storage, LocalFileSystem)
    assert changed.result_storage.basepath == str(tmp_path)
    assert isinstance(changed.result_serializer, JSONSerializer)
    again = changed.with_options(retries=1)
    assert again.result_storage is changed.result_storage
    assert again.result_serializer is changed.result_serializer
    keyed = plain.with_options(result_storage_key="one.json")
    assert keyed.result_storage_key == "one.json" and keyed.persist_result is True
    flow_changed = quiet.with_options(result_serializer="compressed/json")
    assert flow_changed.persist_result is True
    assert isinstance(flow_changed.result_serializer, CompressedSerializer)
    assert flow_changed.with_options(name="q").result_serializer is flow_changed.result_serializer
    assert plain.persist_result is None and quiet.persist_result is None, "originals unchanged"


def test_a_cached_task_is_served_from_its_storage_in_its_serializer(
    tmp_path: Path, backend: MemoryBackend
) -> None:
    calls: list[int] = []

    @task(
        cache_policy=INPUTS, result_storage=str(tmp_path / "cache-here"), result_serializer="json"
    )
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @flow
    def once(x: int) -> int:
        return square(x)

    assert once(3) == 9
    assert once(3) == 9
    assert calls == [3]
    assert [s.name for s in final_task_states(backend)][-1] == "Cached"
    entries = [p for p in files_under(tmp_path / "cache-here") if p.startswith("cache/")]
    assert len(entries) == 1 and entries[0].endswith(".json")
    record = json.loads((tmp_path / "cache-here" / entries[0]).read_text())
    assert record[0] == "kflow.cache/1" and record[2] == 9


def test_a_result_storage_key_names_the_file_and_a_later_run_finds_it(
    tmp_path: Path, backend: MemoryBackend
) -> None:
    calls: list[int] = []

    @task(
        result_storage=str(tmp_path),
        result_serializer="json",
        result_storage_key="squares/{parameters[x]}-{task_run.task_name}.json",
    )
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @flow
    def squares(xs: list[int]) -> list[int]:
        return [square(x) for x in xs]

    assert squares([2, 3]) == [4, 9]
    assert files_under(tmp_path) == ["squares/2-square.json", "squares/3-square.json"]
    assert json.loads((tmp_path / "squares" / "3-square.json").read_text()) == 9
    assert squares([3, 4]) == [9, 16]
    assert calls == [2, 3, 4], "3 was read back, as Prefect reads a result_storage_key"
    assert [s.name for s in final_task_states(backend)][-2:] == ["Cached", "Completed"]


def test_a_result_storage_key_that_cannot_be_filled_fails_the_task_saying_why(
    tmp_path: Path, backend: MemoryBackend
) -> None:
    @task(result_storage=str(tmp_path), result_storage_key="{parameters[y]}.json")
    def square(x: int) -> int:
        return x * x

    @flow
    def one() -> int:
        return square(2)

    state = one(return_state=True)
    assert state.type is StateType.FAILED
    failed = final_task_states(backend)[0]
    assert failed.type is StateType.FAILED
    assert failed.message is not None
    assert failed.message.startswith(
        "result_storage_key '{parameters[y]}.json' of task 'square' cannot be filled in: "
        "KeyError: 'y'. It may use {parameters[name]} (this run has 'x'), {flow_run.id}"
    )


def test_a_storage_that_cannot_be_used_fails_the_task_with_one_line_before_it_runs(
    tmp_path: Path, backend: MemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """The persisted result is looked up first: a storage that cannot even be read fails the
    run there, before its body does work whose result could not be kept."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the storage's directory should be")
    calls: list[int] = []

    @task(result_storage=str(blocker / "results"))
    def work() -> int:
        calls.append(1)
        return 1

    @flow
    def job() -> int:
        return work()

    with caplog.at_level(logging.INFO):
        state = job(return_state=True)
    assert calls == []
    assert state.type is StateType.FAILED
    failed = final_task_states(backend)[0]
    assert failed.type is StateType.FAILED
    assert isinstance(failed.data, ResultStorageError)
    run_id = next(iter(backend.flow_runs))
    expected = (
        f"Could not read '{run_id}/{work.task_key}-0.pickle' in result storage "
        f"{blocker / 'results'}: NotADirectoryError: Not a directory; check that "
        f"{blocker / 'results'} exists (for a cluster run: is mounted into the pod) and that "
        "this process may write to it."
    )
    assert failed.message == expected
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[0].getMessage() == expected
    assert "\n" not in errors[0].getMessage() and errors[0].exc_info is None
    assert "Finished in state Failed" in errors[1].getMessage()


def test_a_result_that_cannot_be_written_fails_the_run_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    @flow(result_storage=str(blocker))
    def returns() -> int:
        return 1

    state = returns(return_state=True)
    assert state.type is StateType.FAILED
    assert state.message == (
        f"Could not write '{state.state_details.flow_run_id}/flow.pickle' in result storage "
        f"{blocker}: NotADirectoryError: Not a directory; check that {blocker} exists (for a "
        "cluster run: is mounted into the pod) and that this process may write to it."
    )
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[0] == state.message


def test_a_result_the_serializer_cannot_encode_fails_the_task_saying_what_to_use(
    backend: MemoryBackend,
) -> None:
    @task(result_serializer="json")
    def opaque() -> object:
        return object()

    @flow
    def job() -> None:
        opaque()

    assert job(return_state=True).type is StateType.FAILED
    failed = final_task_states(backend)[0]
    assert failed.type is StateType.FAILED
    assert failed.message is not None
    assert "result_serializer='json' cannot encode a object" in failed.message
    assert "Use result_serializer='pickle'" in failed.message


def test_s3_storage_without_boto3_says_how_to_install_it(
    backend: MemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` raises ImportError

    @task(result_storage="s3://results-bucket/runs")
    def work() -> int:
        return 1

    @flow
    def job() -> None:
        work()

    assert job(return_state=True).type is StateType.FAILED
    failed = final_task_states(backend)[0]
    assert failed.type is StateType.FAILED
    assert failed.message is not None
    assert failed.message.startswith("Could not read '")
    assert "in result storage s3://results-bucket/runs" in failed.message
    assert failed.message.endswith(
        "S3 result storage needs boto3, which is not installed: pip install 'kflow[s3]'."
    )


@pytest.mark.parametrize(
    ("value", "error", "says"),
    [
        ("gs://bucket/x", ValueError, "must be a directory path, an 's3://bucket/prefix' URL"),
        ("s3://", ValueError, "must name a bucket: 's3://bucket' or 's3://bucket/prefix'"),
        ("", ValueError, "is an empty path; name a directory"),
        (42, TypeError, "LocalFileSystem(basepath=...), S3Bucket(bucket_name=...), or an"),
        (LocalFileSystem, TypeError, "or an object with read_path(path) and write_path"),
    ],
)
def test_a_storage_kflow_cannot_use_is_refused_at_the_decorator(
    value: Any, error: type[Exception], says: str
) -> None:
    with pytest.raises(error) as raised:
        task(result_storage=value)(lambda: None)
    assert str(raised.value).startswith("result_storage of task '<lambda>'")
    assert says in str(raised.value)
    with pytest.raises(error, match="result_storage of flow 'f'"):
        flow(name="f", result_storage=value)(lambda: None)


def test_storage_values_resolve_as_prefect_users_write_them(tmp_path: Path) -> None:
    local = resolve_storage(f"file://{tmp_path}", "task 't'")
    assert isinstance(local, LocalFileSystem) and local.basepath == str(tmp_path)
    bucket = resolve_storage("s3://my-bucket/deep/prefix/", "task 't'")
    assert isinstance(bucket, S3Bucket)
    assert (bucket.bucket_name, bucket.bucket_folder) == ("my-bucket", "deep/prefix")
    assert bucket.location("a/b.json") == "s3://my-bucket/deep/prefix/a/b.json"
    own = S3Bucket(bucket_name="b")
    assert resolve_storage(own, "task 't'") is own
    assert own.location("k") == "s3://b/k"


class ReschedulingBackend(MemoryBackend):
    """Stands in for the cluster backend: suspending ends the process, resuming reruns it."""

    supports_reschedule = True

    def suspend_flow_run(self, flow_run: FlowRun, timeout: float | None) -> None:
        pass


def test_a_rescheduled_run_reads_back_its_results_from_the_flows_storage(tmp_path: Path) -> None:
    set_backend(ReschedulingBackend())
    calls: list[int] = []
    storage = tmp_path / "mounted"

    @task
    def before_pause() -> int:
        calls.append(1)
        return 40

    @flow(result_storage=str(storage), result_serializer="json")
    def pausing() -> int:
        x = before_pause()
        pause_flow_run(timeout=30, reschedule=True)
        return x + 2

    first = run_flow(pausing, {}, flow_run_id="resched")
    assert (first.type, first.name) == (StateType.PAUSED, "Suspended")
    assert set(files_under(storage)) == {
        f"resched/{before_pause.task_key}-0.json",
        "resched/suspension-1.json",
    }
    second = run_flow(pausing, {}, flow_run_id="resched")
    assert second.result() == 42
    assert calls == [1], "the rerun read the task's result back from the flow's storage"
    assert not (tmp_path / "results").exists()
