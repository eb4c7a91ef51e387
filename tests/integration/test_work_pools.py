"""Work pools on a real API server: a pool-wide concurrencyLimit across Deployments, a paused
pool, a pool that does not exist yet, operators serving different pools of one namespace, and
the pool's pod settings in a Job's pod template."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.integration.conftest import (
    GROUP,
    VERSION,
    Cluster,
    OperatorFactory,
    OperatorProcess,
    wait_until,
)
from tests.integration.schedules_support import (
    PROCESS_ONLY,
    get_deployment,
    runs_of,
    started,
    state_of,
)
from tests.support.custom_objects import items_of
from tests.support.launching_process import operator_of

pytestmark = pytest.mark.integration

ACTIVE = {"PENDING", "RUNNING", "PAUSED", "CANCELLING"}


def work_pool(cluster: Cluster, name: str, **spec: Any) -> None:
    cluster.workpool(name, {"type": "process", **spec})


def patch_pool(cluster: Cluster, name: str, spec: dict[str, Any]) -> None:
    cluster.objects.patch_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "workpools", name, {"spec": spec}
    )


def pool_deployment(
    cluster: Cluster, name: str, pool: str, script: str | None = None, **spec: Any
) -> dict[str, Any]:
    """A Deployment of `pool` whose runs are a shell command, or (no script) the flow
    `sums`; the infrastructure type comes from the pool."""
    body: dict[str, Any] = {"entrypoint": FLOW, "parameters": {"n": 1}, "workPool": {"name": pool}}
    if script is not None:
        body["infrastructure"] = {"command": ["/bin/sh", "-c", script]}
    return cluster.deployment(name, {**body, **spec})


FLOW = "flows.py:sums"


def parent_recorder(out: Path) -> str:
    """A script that writes its parent's pid (the operator that launched it, or that operator's
    fork server: the process launcher's gate execs the command) to OUT/RUN-NAME, then runs
    the flow."""
    return f'echo $PPID > "{out}/$KFLOW_FLOW_RUN_NAME"; exec kflow execute'


def all_runs(cluster: Cluster) -> list[dict[str, Any]]:
    items = items_of(
        cluster.objects.list_namespaced_custom_object(GROUP, VERSION, cluster.namespace, "flowruns")
    )
    return sorted(
        items, key=lambda r: (r["spec"].get("scheduledTime") or "", r["metadata"]["name"])
    )


def names(runs: list[dict[str, Any]]) -> list[str]:
    return [r["metadata"]["name"] for r in runs]


HELD = "AwaitingConcurrencySlot"


def order(run: dict[str, Any]) -> tuple[str, str]:
    """Scheduled order: scheduled time, then name."""
    return (run["spec"]["scheduledTime"], run["metadata"]["name"])


def history_names(run: dict[str, Any]) -> list[str]:
    return [entry["name"] for entry in (run.get("status") or {}).get("stateHistory") or []]


def message_of(run: dict[str, Any]) -> str:
    return str(((run.get("status") or {}).get("state") or {}).get("message") or "")


def ready_condition(cluster: Cluster, deployment: str) -> dict[str, Any] | None:
    conditions = (get_deployment(cluster, deployment).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


@pytest.fixture
def scheduler(operators: OperatorFactory) -> OperatorProcess:
    return operators.start(*PROCESS_ONLY)


def test_a_pool_limit_holds_across_two_deployments_in_scheduled_order(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    work_pool(cluster, "shared", concurrencyLimit=2)
    for name in ("d1", "d2"):
        pool_deployment(
            cluster,
            name,
            "shared",
            "sleep 2",
            schedules=[{"interval": 1}],
            successfulRunsHistoryLimit=100,
        )
    most_active = 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # bounded observation of one consistent list each time
        runs = all_runs(cluster)
        running = [r for r in runs if state_of(r)[0] in ACTIVE]
        most_active = max(most_active, len(running))
        assert len(running) <= 2, f"more than the pool's limit active: {names(running)}"
        # Order across the pool: no run has started while one scheduled before it waits for a
        # slot (two runs given slots together may launch in either order).
        started_keys = [order(r) for r in runs if started(r)]
        waiting_keys = [order(r) for r in runs if state_of(r) == ("SCHEDULED", HELD)]
        if started_keys and waiting_keys:
            assert max(started_keys) < min(waiting_keys), (
                f"{max(started_keys)} started while {min(waiting_keys)} waits"
            )
        time.sleep(0.1)
    final = [(r["metadata"]["name"], state_of(r), message_of(r)) for r in all_runs(cluster)]
    assert most_active == 2, final

    runs = all_runs(cluster)
    assert {r["spec"]["deploymentRef"]["name"] for r in runs if started(r)} == {"d1", "d2"}
    waited = [r for r in runs if "AwaitingConcurrencySlot" in history_names(r)]
    assert waited, "some runs waited for a pool slot"
    held_now = [r for r in runs if state_of(r) == ("SCHEDULED", "AwaitingConcurrencySlot")]
    assert held_now, "runs are still queued behind the pool's limit"
    assert "work pool 'shared' has concurrencyLimit=2" in message_of(held_now[0])
    assert any(started(r) for r in waited), "a held run started once a slot freed"
    skipped = [r["metadata"]["name"] for r in runs if state_of(r)[0] == "CANCELLED"]
    assert not skipped, f"runs waiting for the pool were dropped: {skipped}"


def test_a_paused_pool_holds_runs_its_deadline_still_skips_and_resume_releases(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    work_pool(cluster, "p", paused=True)
    pool_deployment(cluster, "d", "p", schedules=[{"interval": 2}], startingDeadlineSeconds=3)

    def held() -> dict[str, Any] | None:
        return next(
            (r for r in runs_of(cluster, "d") if state_of(r) == ("SCHEDULED", "PoolPaused")),
            None,
        )

    run = wait_until("a run held by the paused pool", held, timeout=20)
    assert "work pool 'p' is paused" in message_of(run)
    assert "kflow work-pool resume p" in message_of(run)

    def skipped() -> dict[str, Any] | None:
        return next(
            (r for r in runs_of(cluster, "d") if state_of(r) == ("CANCELLED", "Skipped")), None
        )

    late = wait_until("a held run skipped past its deadline", skipped, timeout=20)
    assert "startingDeadlineSeconds=3" in message_of(late)
    assert history_names(late)[-3:] == ["PoolPaused", "Late", "Skipped"]
    assert not any(started(r) for r in runs_of(cluster, "d")), "nothing started while paused"

    patch_pool(cluster, "p", {"paused": False})
    resumed = wait_until(
        "a run completed after resume",
        lambda: next((r for r in runs_of(cluster, "d") if state_of(r)[0] == "COMPLETED"), None),
        timeout=20,
    )
    assert started(resumed)


def test_a_missing_pool_holds_runs_until_it_is_created(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    pool_deployment(cluster, "d", "later")
    cluster.flowrun("by-deployment", {"deploymentRef": {"name": "d"}})
    cluster.flowrun(
        "ad-hoc", {"entrypoint": FLOW, "parameters": {"n": 2}, "workPool": {"name": "later"}}
    )
    for name in ("by-deployment", "ad-hoc"):
        run = wait_until(
            f"{name} awaiting its pool",
            lambda name=name: (  # type: ignore[misc]
                found
                if state_of(found := cluster.get_flowrun(name)) == ("SCHEDULED", "AwaitingWorkPool")
                else None
            ),
            timeout=20,
        )
        message = message_of(run)
        assert "work pool 'later' does not exist" in message, message
        assert "kflow work-pool create later --type" in message, message

    ready = wait_until(
        "the Deployment not Ready for its pool",
        lambda: c if (c := ready_condition(cluster, "d")) and c["status"] == "False" else None,
        timeout=20,
    )
    assert ready["reason"] == "WorkPoolNotFound"
    assert "'later'" in ready["message"]

    work_pool(cluster, "later")
    for name in ("by-deployment", "ad-hoc"):
        run = cluster.wait_state(name, "COMPLETED", timeout=20)
        assert "AwaitingWorkPool" in history_names(run)
    wait_until(
        "the Deployment Ready again",
        lambda: (c := ready_condition(cluster, "d")) is not None and c["status"] == "True",
        timeout=20,
    )


def parent_pid_run(cluster: Cluster, name: str, pool: str, out: Path) -> None:
    """An ad-hoc run of `pool` that writes its parent's pid (the operator that started it)."""
    cluster.flowrun(
        name,
        {
            "entrypoint": FLOW,
            "parameters": {"n": 1},
            "workPool": {"name": pool},
            "infrastructure": {"command": ["/bin/sh", "-c", parent_recorder(out)]},
        },
    )


def test_operators_of_two_pools_in_one_namespace_each_run_only_their_pools_runs(
    cluster: Cluster, operators: OperatorFactory, tmp_path: Path
) -> None:
    out = tmp_path / "parents"
    out.mkdir()
    work_pool(cluster, "a")
    work_pool(cluster, "b")
    operator_a = operators.start(*PROCESS_ONLY, "--work-pool", "a")
    operator_b = operators.start(*PROCESS_ONLY, "--work-pool", "b")
    pool_deployment(cluster, "da", "a", parent_recorder(out))
    pool_deployment(cluster, "db", "b", parent_recorder(out))
    cluster.flowrun("run-da", {"deploymentRef": {"name": "da"}})
    cluster.flowrun("run-db", {"deploymentRef": {"name": "db"}})
    parent_pid_run(cluster, "adhoc-a", "a", out)
    parent_pid_run(cluster, "adhoc-b", "b", out)
    # A run of pool b by its own spec.workPool, of a Deployment of pool a.
    cluster.flowrun("da-in-b", {"deploymentRef": {"name": "da"}, "workPool": {"name": "b"}})

    expected = {
        "run-da": operator_a,
        "adhoc-a": operator_a,
        "run-db": operator_b,
        "adhoc-b": operator_b,
        "da-in-b": operator_b,
    }
    for name, operator in expected.items():
        run = cluster.wait_state(name, "COMPLETED", "FAILED", "CRASHED", timeout=30)
        assert state_of(run)[0] == "COMPLETED", run.get("status")
        launched_by = operator_of(int((out / name).read_text()))
        assert launched_by == operator.popen.pid, f"{name} was started by the other pool's operator"
        assert [e["type"] for e in run["status"]["stateHistory"]].count("PENDING") == 1
    assert operator_a.alive() and operator_b.alive()
    assert "peering object 'kflow-pool-a'" in operator_a.log()
    assert "peering object 'kflow-pool-b'" in operator_b.log()
    for operator, foreign in ((operator_a, ("run-db", "adhoc-b")), (operator_b, ("run-da",))):
        log = operator.log()
        for name in foreign:
            assert f"/{name} " not in log, f"{name} appears in the other pool's operator log"


def test_two_operators_of_one_pool_share_it_and_run_nothing_twice(
    cluster: Cluster, operators: OperatorFactory, tmp_path: Path
) -> None:
    out = tmp_path / "parents"
    out.mkdir()
    work_pool(cluster, "a")
    first = operators.start(*PROCESS_ONLY, "--work-pool", "a", "--priority", "100")
    second = operators.start(*PROCESS_ONLY, "--work-pool", "a", "--priority", "10")
    for index in range(3):
        parent_pid_run(cluster, f"r{index}", "a", out)
    for index in range(3):
        run = cluster.wait_state(f"r{index}", "COMPLETED", timeout=30)
        assert [e["type"] for e in run["status"]["stateHistory"]].count("PENDING") == 1
        launched_by = operator_of(int((out / f"r{index}").read_text()))
        assert launched_by == first.popen.pid, "the active one ran it"
    assert second.alive()


def test_a_pools_pod_settings_reach_the_jobs_pod_template(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    resources = {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}
    tolerations = [
        {"key": "dedicated", "operator": "Equal", "value": "flows", "effect": "NoSchedule"}
    ]
    work_pool(
        cluster,
        "jobs",
        type="kubernetes-job",
        infrastructure={
            "image": "registry.example/flows:1",
            "job": {
                "resources": resources,
                "nodeSelector": {"kflow.dev/test-pool": "jobs"},
                "tolerations": tolerations,
                "podLabels": {"team": "data"},
            },
        },
    )
    operators.start("--launchers", "kubernetes-job")
    cluster.flowrun("r", {"entrypoint": FLOW, "workPool": {"name": "jobs"}})
    run = cluster.wait_state("r", "PENDING", "RUNNING", "CRASHED", timeout=30)
    assert run["status"]["infrastructure"]["type"] == "kubernetes-job"
    raw = client.BatchV1Api(cluster.core.api_client).list_namespaced_job(
        cluster.namespace, _preload_content=False
    )
    (job,) = items_of(json.loads(raw.data))  # type: ignore[attr-defined]
    pod = job["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == {"kflow.dev/test-pool": "jobs"}
    assert pod["spec"]["tolerations"] == tolerations
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "registry.example/flows:1"
    assert container["resources"] == resources
    assert pod["metadata"]["labels"]["team"] == "data"
