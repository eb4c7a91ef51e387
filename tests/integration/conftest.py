"""Integration fixtures: the kflow CRDs on a real API server, a fresh namespace per test, and
`kflow-operator` run as a child process against it (so a test can SIGKILL it and start another).

Everything here talks to the API server the `kubeconfig` session fixture provides (tests/
conftest.py); nothing is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.cluster.kubectl import Kubectl, poll
from tests.support.custom_objects import items_of, json_object
from tests.support.dashboard import browser as browser
from tests.support.dashboard import dashboards as dashboards
from tests.support.namespaces import drop_finalizers
from tests.support.operator_process import OperatorProcess as OperatorProcess
from tests.support.waiting import wait_until as wait_until

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
FLOWS = Path(__file__).resolve().parent / "flows"
GROUP, VERSION = "kflow.dev", "v1alpha1"


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path) -> Kubectl:
    return Kubectl(kubeconfig)


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> None:
    """The CRDs from crds/, applied and established."""
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    for file in sorted(CRDS.glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            kubectl.run(
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                f"crd/{doc['metadata']['name']}",
            )


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> client.ApiClient:
    made: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig)
    )
    return made


@dataclass
class Cluster:
    """The test's namespace and the calls tests make in it."""

    namespace: str
    kubectl: Kubectl
    objects: client.CustomObjectsApi
    core: client.CoreV1Api

    def apply(self, manifest: str | dict[str, Any]) -> str:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        return self.kubectl.apply(text)

    def deployment(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }
        return json_object(
            self.objects.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "deployments", body
            )
        )

    def flowrun(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "FlowRun",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }
        return json_object(
            self.objects.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "flowruns", body
            )
        )

    def workpool(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "WorkPool",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }
        return json_object(
            self.objects.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "workpools", body
            )
        )

    def get_flowrun(self, name: str) -> dict[str, Any]:
        return json_object(
            self.objects.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "flowruns", name
            )
        )

    def patch_flowrun(self, name: str, spec: dict[str, Any]) -> None:
        self.objects.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "flowruns", name, {"spec": spec}
        )

    def patch_flowrun_status(self, name: str, status: dict[str, Any]) -> None:
        self.objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, "flowruns", name, {"status": status}
        )

    def cancel(self, name: str) -> None:
        self.patch_flowrun(name, {"cancel": True})

    def state(self, name: str) -> str | None:
        status = self.get_flowrun(name).get("status") or {}
        state = status.get("state") or {}
        return state.get("type")

    def wait_state(
        self, name: str, *states: str, timeout: float = 30, interval: float = 0.05
    ) -> dict[str, Any]:
        """Poll until the run is in one of `states`; return the whole FlowRun."""

        def probe() -> dict[str, Any] | None:
            run = self.get_flowrun(name)
            state = ((run.get("status") or {}).get("state") or {}).get("type")
            return run if state in states else None

        try:
            found: dict[str, Any] = poll(f"FlowRun {name} in {states}", probe, timeout, interval)
        except Exception as error:
            status = self.get_flowrun(name).get("status") or {}
            raise AssertionError(f"{error}; last status: {json.dumps(status, indent=1)}") from error
        return found

    def wait_for(
        self, what: str, probe: Callable[[], Any], timeout: float = 30, interval: float = 0.05
    ) -> Any:
        return poll(what, probe, timeout, interval)

    def events(self, name: str) -> list[Any]:
        found = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}"
        )
        return sorted(found.items, key=lambda e: e.metadata.creation_timestamp)


@pytest.fixture
def cluster(crds: None, kubectl: Kubectl, api_client: client.ApiClient) -> Iterator[Cluster]:
    """A fresh namespace for one test; removed afterwards (finalizers dropped first, since the
    operator may already be gone)."""
    namespace = f"kf-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    objects = client.CustomObjectsApi(api_client)
    yield Cluster(namespace, kubectl.in_namespace(namespace), objects, core)
    for plural in ("flowruns", "deployments", "workpools"):
        drop_finalizers(objects, namespace, plural)
    with contextlib.suppress(ApiException):
        core.delete_namespace(namespace)


@dataclass
class OperatorFactory:
    namespace: str
    state_dir: Path
    kubeconfig: Path
    started: list[OperatorProcess] = field(default_factory=list)

    def start(self, *extra: str) -> OperatorProcess:
        operator = OperatorProcess.start(
            self.namespace,
            self.kubeconfig,
            self.state_dir,
            self.state_dir / f"operator-{len(self.started)}.log",
            FLOWS,
            extra,
        )
        self.started.append(operator)
        return operator


@pytest.fixture
def operators(cluster: Cluster, kubeconfig: Path, tmp_path: Path) -> Iterator[OperatorFactory]:
    """Start `kflow-operator` children on demand; all are stopped, and every process they
    launched is killed, at the end of the test."""
    factory = OperatorFactory(cluster.namespace, tmp_path, kubeconfig)
    yield factory
    for operator in factory.started:
        operator.stop()
    _kill_launched(cluster)


@pytest.fixture
def operator(operators: OperatorFactory) -> OperatorProcess:
    """One running operator for the test's namespace."""
    return operators.start()


def _kill_launched(cluster: Cluster) -> None:
    """No test leaves a flow process behind, whatever happened to its operator."""
    items = items_of(
        cluster.objects.list_namespaced_custom_object(GROUP, VERSION, cluster.namespace, "flowruns")
    )
    for item in items:
        infra = (item.get("status") or {}).get("infrastructure") or {}
        ident = infra.get("id") or ""
        pid, _, ticks = ident.partition("@")
        if infra.get("type") != "process" or not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.rindex(")") + 2 :].split()[19] == ticks:
                os.kill(int(pid), signal.SIGKILL)


def process_alive(pid: int, start_ticks: int | None = None) -> bool:
    """True while the process runs (zombies count as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return False
    return start_ticks is None or int(fields[19]) == start_ticks


def recorded_process(run: dict[str, Any]) -> tuple[int, int]:
    """PID and start ticks from a FlowRun's status.infrastructure.id."""
    ident = run["status"]["infrastructure"]["id"]
    pid, _, ticks = ident.partition("@")
    return int(pid), int(ticks)


def monotonic() -> float:
    return time.monotonic()
