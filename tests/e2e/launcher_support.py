"""What the Docker and Job launcher e2e tests both need: a run's end as the operator records it,
its logs as a user reads them, its cancellation step times, and deleting the test's runs."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from tests.e2e.conftest import kflow_cli
from tests.integration.conftest import Cluster, wait_until

GROUP, VERSION = "kflow.dev", "v1alpha1"
FIRST, RESTARTED = ("--priority", "1"), ("--priority", "2")
"""The restarted operator outranks the killed one's peering record (which lingers until it
expires), so it takes over at once, as a single replica restarted by its Deployment would."""


def finished(cluster: Cluster, name: str, timeout: float = 30) -> dict[str, Any]:
    """The run once the operator is done with it (Finished condition, exit recorded)."""

    def probe() -> dict[str, Any] | None:
        run = cluster.get_flowrun(name)
        conditions = (run.get("status") or {}).get("conditions") or []
        done = any(c["type"] == "Finished" and c["status"] == "True" for c in conditions)
        return run if done else None

    found: dict[str, Any] = wait_until(f"FlowRun {name} finished", probe, timeout)
    return found


def logs(cluster: Cluster, name: str) -> str:
    """`kflow flow-run logs NAME`, as a user runs it."""
    done = kflow_cli("flow-run", "logs", name, "-n", cluster.namespace)
    assert done.returncode == 0, done.stderr
    return done.stdout


def times(run: dict[str, Any]) -> dict[str, datetime]:
    """The cancellation's step times (stopTime, goneTime, killDeadline, …)."""
    return {
        key: datetime.fromisoformat(value)
        for key, value in run["status"]["cancellation"].items()
        if key.endswith(("Time", "Deadline"))
    }


def delete_flowruns(cluster: Cluster, *names: str) -> None:
    for name in names:
        with contextlib.suppress(ApiException):
            cluster.objects.delete_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, "flowruns", name
            )
