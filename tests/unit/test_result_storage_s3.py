"""Results in an S3-compatible bucket, against a real S3 server (moto's server mode) that the
tests start on 127.0.0.1: a flow writes its results there, a second process is served a
cached task from there, and a bucket that cannot be reached fails the task with one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from kflow import flow, task
from kflow.backend import MemoryBackend
from kflow.cache_policies import INPUTS
from kflow.history.queries import History
from kflow.s3 import S3Bucket
from kflow.states import StateType

from tests.support.s3_server import local_s3_server

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with local_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_env(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The standard AWS variables a Deployment's env would set, pointing at the test server
    (and at no AWS config file of the machine's)."""
    env = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "kflow-test",
        "AWS_SECRET_ACCESS_KEY": "kflow-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def bucket(aws_env: dict[str, str]) -> str:
    name = f"kflow-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"]).create_bucket(Bucket=name)
    return name


def objects(bucket: str, endpoint: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed
    }


def test_a_flow_persisting_to_s3_writes_objects_boto3_reads_back(
    bucket: str, aws_env: dict[str, str], backend: MemoryBackend
) -> None:
    @task
    def summarize(rows: list[int]) -> dict[str, Any]:
        return {"count": len(rows), "total": sum(rows)}

    @flow(persist_result=True, result_storage=f"s3://{bucket}/runs", result_serializer="json")
    def report(rows: list[int]) -> dict[str, Any]:
        return {"summary": summarize(rows), "rows": rows}

    assert report([1, 2, 3]) == {"summary": {"count": 3, "total": 6}, "rows": [1, 2, 3]}
    run_id = next(iter(backend.flow_runs))
    stored = objects(bucket, aws_env["AWS_ENDPOINT_URL"])
    assert sorted(stored) == sorted(
        [f"runs/{run_id}/flow.json", f"runs/{run_id}/{summarize.task_key}-0.json"]
    )
    assert json.loads(stored[f"runs/{run_id}/flow.json"]) == {
        "summary": {"count": 3, "total": 6},
        "rows": [1, 2, 3],
    }
    assert json.loads(stored[f"runs/{run_id}/{summarize.task_key}-0.json"]) == {
        "count": 3,
        "total": 6,
    }


SECOND_PROCESS = textwrap.dedent(
    """
    import sys

    from kflow import flow, task
    from kflow.cache_policies import INPUTS

    @task(cache_policy=INPUTS, result_storage=sys.argv[1])
    def expensive(x: int) -> int:
        print("body ran", flush=True)
        return x * 10

    @flow(name="served-from-s3", result_storage=sys.argv[1], persist_result=True)
    def pipeline(x: int) -> list[object]:
        return [expensive(x), "." * 20_000]  # over 16 KiB: the history shows a reference

    print(pipeline(7)[0])
    """
)


def test_a_cached_task_is_served_from_s3_by_a_second_process(
    bucket: str, aws_env: dict[str, str], tmp_path: Path
) -> None:
    """The second process has a KFLOW_HOME of its own: all it shares is the bucket."""
    storage = f"s3://{bucket}/cache-test"
    calls: list[int] = []

    @task(cache_policy=INPUTS, result_storage=storage)
    def expensive(x: int) -> int:
        calls.append(x)
        return x * 10

    @flow
    def pipeline(x: int) -> int:
        return expensive(x)

    assert pipeline(7) == 70 and calls == [7]
    script = tmp_path / "second_process.py"
    script.write_text(SECOND_PROCESS)
    home = tmp_path / "second-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")} | aws_env
    second = subprocess.run(
        [sys.executable, str(script), storage],
        env=env | {"KFLOW_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == ["70"], "served from the bucket, body not run"
    assert "Finished in state Cached(type=COMPLETED)" in second.stderr
    keys = objects(bucket, aws_env["AWS_ENDPOINT_URL"])
    assert len([key for key in keys if key.startswith("cache-test/cache/")]) == 1
    [run] = [r for r in History.at(home).flow_runs() if r.flow_name == "served-from-s3"]
    assert run.result is not None
    assert run.result["reference"] == f"s3://{bucket}/cache-test/{run.id}/flow.pickle"
    assert f"cache-test/{run.id}/flow.pickle" in keys


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_endpoint_fails_the_task_with_one_clear_line(
    aws_env: dict[str, str],
    backend: MemoryBackend,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # a refused connection is not retried here
    calls: list[int] = []

    @task(result_storage="s3://unreachable/runs")
    def work() -> int:
        calls.append(1)
        return 1

    @flow
    def job() -> int:
        return work()

    state = job(return_state=True)
    assert state.type is StateType.FAILED
    assert calls == []
    task_state = next(iter(backend.task_run_states.values()))[-1]
    assert task_state.type is StateType.FAILED
    run_id = next(iter(backend.flow_runs))
    expected = (
        f"Could not read '{run_id}/{work.task_key}-0.pickle' in result storage "
        f"s3://unreachable/runs (endpoint {endpoint}): cannot connect to {endpoint}; check "
        "AWS_ENDPOINT_URL and that the S3 server is up and reachable from here."
    )
    assert task_state.message == expected
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors[0].getMessage() == expected and errors[0].exc_info is None


def test_a_missing_bucket_is_named(aws_env: dict[str, str], backend: MemoryBackend) -> None:
    @task(result_storage="s3://no-such-bucket-here")
    def work() -> int:
        return 1

    @flow
    def job() -> int:
        return work()

    assert job(return_state=True).type is StateType.FAILED
    task_state = next(iter(backend.task_run_states.values()))[-1]
    assert task_state.message is not None
    assert task_state.message.endswith(
        f"bucket 'no-such-bucket-here' does not exist at {aws_env['AWS_ENDPOINT_URL']}; create "
        "it, or fix the bucket in result_storage."
    )


def test_an_s3bucket_object_with_its_own_endpoint_wins_over_the_environment(
    bucket: str, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    storage = S3Bucket(
        bucket_name=bucket, bucket_folder="/objects/", endpoint_url=aws_env["AWS_ENDPOINT_URL"]
    )

    @flow(result_storage=storage, result_serializer="compressed/json")
    def small() -> dict[str, int]:
        return {"answer": 42}

    assert small() == {"answer": 42}
    [key] = objects(bucket, aws_env["AWS_ENDPOINT_URL"])
    assert key.startswith("objects/") and key.endswith("/flow.json.xz")
