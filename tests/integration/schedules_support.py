"""What the schedule integration tests share: Deployments with short real-clock schedules and
views of the runs they produce, read from the API server the way a user would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.integration.conftest import (
    GROUP,
    VERSION,
    Cluster,
    wait_until,
)
from tests.support.custom_objects import items_of, json_object

PROCESS_ONLY = ("--no-kubernetes-jobs",)
"""Schedule tests run shell commands with the process launcher; no Jobs, no node needed."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def shell_schedule_deployment(
    cluster: Cluster, name: str, script: str, schedules: list[dict[str, Any]], **spec: Any
) -> dict[str, Any]:
    """A Deployment whose runs are a shell command started by the process launcher."""
    return cluster.deployment(
        name,
        {
            "entrypoint": "flows.py:main",
            "infrastructure": {"type": "process", "command": ["/bin/sh", "-c", script]},
            "schedules": schedules,
            **spec,
        },
    )


def runs_of(cluster: Cluster, deployment: str) -> list[dict[str, Any]]:
    items = items_of(
        cluster.objects.list_namespaced_custom_object(GROUP, VERSION, cluster.namespace, "flowruns")
    )
    return sorted(
        (r for r in items if (r["spec"].get("deploymentRef") or {}).get("name") == deployment),
        key=lambda r: (r["spec"].get("scheduledTime") or "", r["metadata"]["name"]),
    )


def state_of(run: dict[str, Any]) -> tuple[str | None, str | None]:
    state = (run.get("status") or {}).get("state") or {}
    return state.get("type"), state.get("name")


def scheduled_time(run: dict[str, Any]) -> datetime:
    return parse(run["spec"]["scheduledTime"])


def started(run: dict[str, Any]) -> bool:
    """The operator launched it (it has left SCHEDULED by way of PENDING)."""
    history = (run.get("status") or {}).get("stateHistory") or []
    return any(entry["type"] == "PENDING" for entry in history)


def launch_time(run: dict[str, Any]) -> datetime:
    return parse(run["status"]["infrastructure"]["launchTime"])


def get_deployment(cluster: Cluster, name: str) -> dict[str, Any]:
    return json_object(
        cluster.objects.get_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, "deployments", name
        )
    )


def patch_deployment(cluster: Cluster, name: str, spec: dict[str, Any]) -> None:
    cluster.objects.patch_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "deployments", name, {"spec": spec}
    )


def wait_started_count(
    cluster: Cluster, deployment: str, count: int, timeout: float = 60
) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        runs = [r for r in runs_of(cluster, deployment) if started(r)]
        return runs if len(runs) >= count else None

    found: list[dict[str, Any]] = wait_until(
        f"{count} runs of {deployment} started", probe, timeout
    )
    return found


def names(runs: list[dict[str, Any]]) -> list[str]:
    return [r["metadata"]["name"] for r in runs]
