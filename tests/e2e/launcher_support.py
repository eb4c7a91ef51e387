"""What the Docker and Job launcher e2e tests both need: the Deployment and FlowRun every test
starts with, a timed cancel, deleting the test's runs and waiting for what they ran to go, a
run's end as the operator records it, its logs as a user reads them, and its cancellation step
times."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from kubernetes.client.exceptions import ApiException

from tests.e2e.conftest import kflow_cli
from tests.integration.conftest import Cluster, wait_until

GROUP, VERSION = "kflow.dev", "v1alpha1"
FIRST, RESTARTED = ("--priority", "1"), ("--priority", "2")
"""The restarted operator outranks the killed one's peering record (which lingers until it
expires), so it takes over at once, as a single replica restarted by its Deployment would."""


@dataclass
class LauncherRuns:
    """One test's runs on the launcher under test: Deployments of the flows in
    tests/support/flows/launcher_flows.py, in the test's flows image (never pulled). A launcher's
    subclass says what its runs leave behind while they exist."""

    infrastructure_type: ClassVar[str]
    left_behind_kind: ClassVar[str]
    """What `left_behind` lists, for the wait's message ("container", "Job or pod")."""
    removal_timeout: ClassVar[float]
    cluster: Cluster
    image: str

    def left_behind(self) -> list[Any]:
        """What of the test's runs is still in the infrastructure."""
        raise NotImplementedError

    def deploy(
        self,
        entrypoint: str,
        *,
        name: str = "d",
        image: str | None = None,
        infrastructure: dict[str, Any] | None = None,
        **spec: Any,
    ) -> None:
        """Deployment NAME running `launcher_flows.py:ENTRYPOINT`; `infrastructure` adds to its
        spec.infrastructure, `spec` to its spec."""
        self.cluster.deployment(
            name,
            {
                "entrypoint": f"launcher_flows.py:{entrypoint}",
                "infrastructure": {
                    "type": self.infrastructure_type,
                    "image": image or self.image,
                    "imagePullPolicy": "Never",
                    **(infrastructure or {}),
                },
                **spec,
            },
        )

    def start(
        self, entrypoint: str, parameters: dict[str, Any] | None = None, **deploy: Any
    ) -> None:
        """How nearly every launcher test begins: Deployment `d` of ENTRYPOINT (`deploy` as for
        `deploy`) and FlowRun `r` of it with `parameters`."""
        self.deploy(entrypoint, **deploy)
        run: dict[str, Any] = {"deploymentRef": {"name": "d"}}
        if parameters is not None:
            run["parameters"] = parameters
        self.cluster.flowrun("r", run)

    def cancel_and_time(self, name: str, timeout: float) -> tuple[dict[str, Any], float]:
        """Cancel the run and wait until it is CANCELLED: the run then, and the seconds it took."""
        requested = time.monotonic()
        self.cluster.cancel(name)
        run = self.cluster.wait_state(name, "CANCELLED", timeout=timeout)
        return run, time.monotonic() - requested

    def delete_and_expect_nothing_left(self, *names: str) -> None:
        """Deleting the FlowRuns takes what they ran along: wait until none of it is left."""
        delete_flowruns(self.cluster, *names)
        wait_until(
            f"no {self.left_behind_kind} of the test's runs left",
            lambda: not self.left_behind(),
            timeout=self.removal_timeout,
        )


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


def cancel_with_identifier_forged_to_another_run(
    cluster: Cluster, runs: LauncherRuns, timeout: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `r` (sleeps 120 s), then `victim` (sleeps 20 s); once both run, r's status is
    patched to name victim's container/Job (issue #18) and r is cancelled. Returns r once it
    has ended and victim once it has ended: the operator must not have stopped victim's."""
    runs.deploy("sleeps", cancelGracePeriodSeconds=2)
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "parameters": {"seconds": 120}})
    cluster.wait_state("r", "RUNNING", timeout=timeout)
    cluster.flowrun("victim", {"deploymentRef": {"name": "d"}, "parameters": {"seconds": 20}})
    victim = cluster.wait_state("victim", "RUNNING", timeout=timeout)
    infra = victim["status"]["infrastructure"]
    cluster.patch_flowrun_status("r", {"infrastructure": {"id": infra["id"], "pid": infra["pid"]}})
    cluster.cancel("r")
    ended = cluster.wait_state("r", "CANCELLED", "CRASHED", timeout=60)
    done = cluster.wait_state("victim", "COMPLETED", "FAILED", "CRASHED", "CANCELLED", timeout=90)
    return ended, done
