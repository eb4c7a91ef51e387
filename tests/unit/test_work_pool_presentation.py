"""What `kflow work-pool ls|inspect|create` and `kflow flow-run inspect` (cluster) print about
pools, from objects as the API returns them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kflow.cli import main
from kflow.cluster.run_infrastructure_view import (
    effective_section,
    effective_view,
    unreadable_view,
)
from kflow.cluster.workpool_presentation import work_pool_details, work_pool_table
from kflow.cluster.workpool_spec import PoolSpecError, pool_manifest
from kflow.resources.pools import run_pool

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pool(name: str, spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "team", "creationTimestamp": stamp(3600)},
        "spec": spec,
        **({"status": status} if status is not None else {}),
    }


SERVED = pool(
    "k8s",
    {"type": "kubernetes-job", "concurrencyLimit": 2, "infrastructure": {"image": "py:3.12"}},
    {
        "workers": [
            {"identity": "op-a@node1", "lastHeartbeatTime": stamp(5), "version": "0.1"},
            {"identity": "op-b@node2", "lastHeartbeatTime": stamp(300)},
        ],
        "liveWorkers": 2,
        "runCounts": {"running": 2, "scheduled": 3, "completed": 7},
        "lateRuns": 1,
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": stamp(60), "message": "ok"}
        ],
    },
)
ORPHANED = pool(
    "proc",
    {"type": "process", "paused": True},
    {
        "workers": [{"identity": "laptop", "lastHeartbeatTime": stamp(120)}],
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "NoWorkers",
                "lastTransitionTime": stamp(60),
                "message": "no worker is serving pool proc",
            }
        ],
    },
)


def test_ls_counts_only_workers_with_a_fresh_heartbeat() -> None:
    """A dead operator leaves its entry (and maybe a stale liveWorkers) behind; the CLI judges
    the heartbeat itself."""
    quiet = pool("quiet", {"type": "docker"}, {"runCounts": {"completed": 4}, "lateRuns": 0})
    pools = [ORPHANED, SERVED, pool("new", {"type": "docker"}), quiet]
    lines = work_pool_table(pools, NOW).splitlines()
    assert lines[0].split() == [
        "NAME", "TYPE", "PAUSED", "LIMIT", "WORKERS", "RUNNING", "LATE", "READY", "AGE",
    ]  # fmt: skip
    assert lines[1].split() == ["k8s", "kubernetes-job", "false", "2", "1", "2", "1", "True", "1h"]
    assert lines[2].split() == ["new", "docker", "false", "none", "0", "-", "-", "-", "1h"]
    assert lines[3].split() == [
        "proc", "process", "true", "none", "0", "-", "-", "False", "(NoWorkers)", "1h",
    ]  # fmt: skip
    assert lines[4].split() == ["quiet", "docker", "false", "none", "0", "0", "0", "-", "1h"]


def test_inspect_shows_spec_workers_with_heartbeat_ages_runs_and_conditions() -> None:
    text = work_pool_details(SERVED, NOW, ["etl", "nightly"])
    assert "WorkPool     team/k8s" in text
    assert "Limit        2 runs at once across the pool's Deployments" in text
    assert "Workers      1 live of 2 recorded" in text
    assert "Deployments  etl, nightly" in text
    assert "  image: py:3.12" in text
    worker_lines = [line.split() for line in text.splitlines() if "op-" in line]
    assert worker_lines == [["op-a@node1", "5s", "ago", "yes", "-", "0.1"],
                            ["op-b@node2", "5m", "ago", "no", "-", "-"]]  # fmt: skip
    assert "running 2, scheduled 3, completed 7" not in text  # in state order, not insertion
    assert "scheduled 3, running 2, completed 7" in text
    assert "Ready   True" in text


def test_inspect_of_a_paused_unserved_pool_says_what_holds_its_runs() -> None:
    text = work_pool_details(
        pool("empty", {"type": "process", "paused": True, "concurrencyLimit": 0}), NOW
    )
    assert "Paused       yes: no run of the pool starts; due runs wait (PoolPaused)" in text
    assert "Limit        0: every run of the pool waits (AwaitingConcurrencySlot)" in text
    assert "nothing serves pool empty; start one with `kflow worker start --pool empty" in text
    assert "- (no operator has counted them yet)" in text


def test_create_builds_the_pool_from_flags_over_a_file(tmp_path: Path) -> None:
    file = tmp_path / "pool.yaml"
    file.write_text(
        "apiVersion: kflow.dev/v1alpha1\nkind: WorkPool\nmetadata: {name: ignored}\n"
        "spec:\n  type: docker\n  concurrencyLimit: 9\n"
        "  infrastructure: {image: old, docker: {network: host}}\n"
    )
    manifest = pool_manifest(
        "dk", pool_type=None, limit=3, image="new", paused=True, description="d", file=file
    )
    assert manifest["metadata"] == {"name": "dk"}
    assert manifest["spec"] == {
        "type": "docker",
        "concurrencyLimit": 3,
        "infrastructure": {"image": "new", "docker": {"network": "host"}},
        "paused": True,
        "description": "d",
    }


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("Bad_Name", {"pool_type": "process"}, "'Bad_Name' is not a pool name"),
        ("p", {"pool_type": None}, "--type is required: one of kubernetes-job, docker, process"),
        ("p", {"pool_type": "k8s"}, "type 'k8s' is not a pool type; use one of kubernetes-job"),
        (
            "p",
            {"pool_type": "process", "limit": -1},
            "spec.concurrencyLimit: Input should be greater than or equal to 0 (got -1)",
        ),
    ],
)
def test_create_refuses_bad_input_with_a_sentence(
    name: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(PoolSpecError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        pool_manifest(name, **kwargs)


def test_create_refuses_options_of_another_type(tmp_path: Path) -> None:
    file = tmp_path / "pool.yaml"
    file.write_text("type: process\ninfrastructure: {job: {nodeSelector: {a: b}}}\n")
    with pytest.raises(PoolSpecError, match="`job` options apply to type kubernetes-job only"):
        pool_manifest("p", pool_type=None, file=file)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["set-concurrency-limit", "p", "-1"], "-1 is negative; give a limit ≥ 0"),
        (["set-concurrency-limit", "p", "two"], "'two' is not a whole number"),
        (["create", "p", "--type", "k8s"], "invalid choice: 'k8s' (choose from 'kubernetes-job'"),
    ],
)
def test_the_parser_refuses_bad_values_naming_the_allowed_ones(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["work-pool", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


# --- flow-run inspect: the run's pool and effective infrastructure ----------------------------


def run(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "etl-1", "namespace": "team"}, "spec": spec}


DEPLOYMENT: dict[str, Any] = {
    "metadata": {"name": "etl", "namespace": "team"},
    "spec": {
        "entrypoint": "flows.py:etl",
        "workPool": {"name": "k8s"},
        "infrastructure": {"env": {"STAGE": "prod"}, "job": {"nodeSelector": {"disk": "ssd"}}},
    },
}


def test_the_pool_of_a_run_is_its_own_else_its_deployments() -> None:
    assert run_pool({"workPool": {"name": "gpu"}}, DEPLOYMENT["spec"]) == "gpu"
    assert run_pool({}, DEPLOYMENT["spec"]) == "k8s"
    assert run_pool({}, None) is None
    assert run_pool({}, {"entrypoint": "f.py:f"}) is None


def test_each_field_names_the_layer_it_came_from() -> None:
    flow_run = run({"deploymentRef": {"name": "etl"}, "infrastructure": {"env": {"DEBUG": "1"}}})
    view = effective_view(flow_run, DEPLOYMENT, SERVED)
    assert (view.pool, view.pool_from, view.problem) == ("k8s", "Deployment etl", None)
    assert view.infrastructure == {
        "type": "kubernetes-job",
        "image": "py:3.12",
        "env": {"STAGE": "prod", "DEBUG": "1"},
        "job": {"nodeSelector": {"disk": "ssd"}},
    }
    assert view.sources == {
        "type": "WorkPool k8s",
        "image": "WorkPool k8s",
        "env": "FlowRun etl-1 over Deployment etl",
        "job": "Deployment etl",
    }
    section = effective_section(view).splitlines()[3:]
    rows = [re.split(r"\s{3,}", line.strip()) for line in section]
    assert rows == [
        ["FIELD", "FROM", "VALUE"],
        ["type", "WorkPool k8s", "kubernetes-job"],
        ["image", "WorkPool k8s", "py:3.12"],
        ["env", "FlowRun etl-1 over Deployment etl", '{"DEBUG": "1", "STAGE": "prod"}'],
        ["job", "Deployment etl", '{"nodeSelector": {"disk": "ssd"}}'],
    ]
    assert "Work pool       k8s (named by Deployment etl)" in effective_section(view)
    document = view.document()
    assert document["workPool"] == "k8s" and document["sources"]["job"] == "Deployment etl"


def test_a_conflict_is_shown_as_the_sentence() -> None:
    flow_run = run({"deploymentRef": {"name": "etl"}, "infrastructure": {"type": "process"}})
    view = effective_view(flow_run, DEPLOYMENT, SERVED)
    assert view.infrastructure is None
    assert view.problem == (
        "FlowRun etl-1 says infrastructure.type process, but its WorkPool k8s runs "
        "kubernetes-job; remove infrastructure.type from FlowRun etl-1 (a pool decides the "
        "type) or choose a pool of type process"
    )
    assert f"  cannot be decided: {view.problem}" in effective_section(view)
    assert view.document()["problem"] == view.problem


def test_a_missing_pool_says_the_run_waits_and_how_to_create_it() -> None:
    view = effective_view(run({"deploymentRef": {"name": "etl"}}), DEPLOYMENT, None)
    assert view.problem == (
        "WorkPool k8s does not exist in namespace team; the run waits (AwaitingWorkPool) until "
        "it is created: kflow work-pool create k8s --type kubernetes-job|docker|process -n team"
    )


def test_a_run_without_a_pool_and_a_container_without_an_image() -> None:
    flow_run = run({"entrypoint": "f.py:f", "infrastructure": {"type": "docker"}})
    view = effective_view(flow_run, None, None)
    assert (view.pool, view.problem) == (None, None)
    text = effective_section(view)
    assert "Work pool       - (none)" in text
    assert (
        "image   operator defaults   (none set: the operator's --default-image, else NoImage)"
    ) in text


def test_a_run_whose_deployment_or_pool_may_not_be_read_says_so() -> None:
    text = effective_section(unreadable_view('workpools.kflow.dev "k8s" is forbidden'))
    assert "Work pool       unknown" in text
    assert (
        "  cannot be decided: cannot read the run's Deployment or WorkPool: "
        'workpools.kflow.dev "k8s" is forbidden'
    ) in text
