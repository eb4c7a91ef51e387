"""Chaos fixtures: a control plane of the test's own (tests/chaos/private_control_plane.py)
with the kflow CRDs, a namespace, and operators started against it as child processes.

The binaries and PKI are the local cluster's (built once, cached under ~/.cache/kflow); the
daemons are this test's, so a fault here never reaches another test's API server.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kflow.processes import ProcessId, signal_process
from kubernetes import client, config

from tests.chaos.private_control_plane import PrivateControlPlane
from tests.cluster import cluster as local_cluster
from tests.cluster.kubectl import Kubectl
from tests.e2e.conftest import flows_image, node_flows_image  # noqa: F401 - fixtures
from tests.integration.conftest import (  # noqa: F401 - fixtures of the node-tier chaos tests
    api_client,
    cluster,
    crds,
    kubectl,
    operators,
)
from tests.support.custom_objects import items_of, json_object
from tests.support.operator_process import OperatorProcess

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
FLOWS = Path(__file__).resolve().parent / "flows"
GROUP, VERSION = "kflow.dev", "v1alpha1"
NAMESPACE = "chaos"


@dataclass
class Chaos:
    """The test's control plane, its namespace, and what ran."""

    plane: PrivateControlPlane
    objects: client.CustomObjectsApi
    starts_file: Path
    state_dir: Path
    operators: list[OperatorProcess] = field(default_factory=list)

    def start_operator(
        self,
        *extra: str,
        kubeconfig: Path | None = None,
        wrapper: Sequence[str] = (),
        launchers: str = "process",
    ) -> OperatorProcess:
        os.environ["CHAOS_STARTS"] = str(self.starts_file)  # inherited by the flow processes
        os.environ["PYTHONFAULTHANDLER"] = "1"  # SIGABRT dumps a stuck flow's threads to its log
        operator = OperatorProcess.start(
            NAMESPACE,
            kubeconfig or self.plane.kubeconfig,
            self.state_dir,
            self.state_dir / f"operator-{len(self.operators)}.log",
            FLOWS,
            ("--launchers", launchers, "--standalone", *extra),
            wrapper=wrapper,
        )
        self.operators.append(operator)
        return operator

    def create(self, plural: str, kind: str, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind,
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec,
        }
        self.objects.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, plural, body)

    def flowrun(self, name: str) -> dict[str, Any]:
        return json_object(
            self.objects.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "flowruns", name)
        )

    def flowruns(self) -> list[dict[str, Any]]:
        return items_of(
            self.objects.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "flowruns")
        )

    def state(self, name: str) -> str | None:
        with contextlib.suppress(Exception):
            return str(((self.flowrun(name).get("status") or {}).get("state") or {})["type"])
        return None

    def starts(self) -> Counter[str]:
        """How many times each run's flow started (one line per start)."""
        if not self.starts_file.exists():
            return Counter()
        return Counter(line.split()[0] for line in self.starts_file.read_text().splitlines())

    def run_log(self, run: str) -> str:
        """The output of the run's flow process(es), as the process launcher keeps it."""
        logs = sorted((self.state_dir / "logs" / NAMESPACE).glob(f"{run}-*.log"))
        return "\n".join(log.read_text(errors="replace") for log in logs)

    def started_processes(self, run: str | None = None) -> list[ProcessId]:
        """The flow processes that started (of `run`, or of every run), as PID@start-ticks."""
        lines = self.starts_file.read_text().splitlines() if self.starts_file.exists() else []
        return [
            ProcessId.parse(ident)
            for name, ident in (line.split() for line in lines)
            if run in (None, name)
        ]


TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})


def not_ended_once(runs: dict[str, dict[str, Any]], names: list[str]) -> list[str]:
    """The runs whose state history holds other than exactly one terminal state."""
    return [
        name
        for name in names
        if sum(
            entry["type"] in TERMINAL
            for entry in (runs[name].get("status") or {}).get("stateHistory") or []
        )
        != 1
    ]


@pytest.fixture
def chaos(tmp_path: Path) -> Iterator[Chaos]:
    if os.geteuid() != 0:
        pytest.fail("the chaos tests start their own etcd and kube-apiserver: run as root")
    local_cluster.prepare("control-plane")
    plane = PrivateControlPlane(tmp_path / "plane")
    plane.start()
    plane_kubectl = Kubectl(plane.kubeconfig)
    plane_kubectl.run("apply", "--server-side", "-f", str(CRDS))
    for file in sorted(CRDS.glob("*.yaml")):
        plane_kubectl.run("wait", "--for=condition=Established", "--timeout=60s", "-f", str(file))
    api = config.new_client_from_config(config_file=str(plane.kubeconfig))  # type: ignore[no-untyped-call]
    client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
    )
    state_dir = tmp_path / "operator"
    state_dir.mkdir()
    found = Chaos(plane, client.CustomObjectsApi(api), tmp_path / "starts.log", state_dir)
    try:
        yield found
    finally:
        for operator in found.operators:
            operator.stop()
        for process in found.started_processes():
            signal_process(process, signal.SIGKILL)  # no test leaves a flow process behind
        plane.close()
