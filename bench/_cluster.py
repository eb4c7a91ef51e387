"""What the cluster benchmarks share: the local cluster's API server, a namespace of their own,
`kflow-operator` as a child process, a watch that timestamps every state a run passes through,
and the table they print.

The benchmarks observe from outside, the way a user does: through the API server (a watch, so a
state is timed when it becomes visible, not when some writer believes it wrote it) and through
/proc for processes (bench.processes). All clocks compared are this host's wall clock: the
operator, the flow processes and the benchmark run here.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kflow_operator.kubeapi.list_watch import Lister
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from bench._follow import Follower
from bench._workdir import bench_workdir
from bench.processes import CLOCK_TICKS_PER_SECOND, stat_fields
from tests.support.namespaces import drop_finalizers
from tests.support.operator_process import OperatorProcess
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
CRDS = ROOT / "crds"
GROUP, VERSION = "kflow.dev", "v1alpha1"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})


class ClusterUnavailable(RuntimeError):
    """No API server answers; the message says how to get one."""


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- the cluster -------------------------------------------------------------------------------


def kubeconfig_path() -> Path:
    """KUBECONFIG when set (a user's own cluster), else the local cluster's admin kubeconfig."""
    explicit = os.environ.get("KUBECONFIG")
    if explicit:
        return Path(explicit)
    from tests.cluster import paths

    return paths.admin_kubeconfig()


@dataclass
class Api:
    kubeconfig: Path
    objects: client.CustomObjectsApi
    core: client.CoreV1Api
    extensions: client.ApiextensionsV1Api


def connect() -> Api:
    """An API client for the cluster, or ClusterUnavailable saying what to do."""
    kubeconfig = kubeconfig_path()
    if not kubeconfig.is_file():
        raise ClusterUnavailable(
            f"no kubeconfig at {kubeconfig}: start the local cluster with `uv run poe cluster-up` "
            "(or set KUBECONFIG to your own cluster)"
        )
    api_client: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig)
    )
    core = client.CoreV1Api(api_client)
    try:
        core.list_namespace(limit=1, _request_timeout=5)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
        raise ClusterUnavailable(
            f"the API server in {kubeconfig} does not answer ({error.__class__.__name__}): "
            "start the local cluster with `uv run poe cluster-up`"
        ) from error
    return Api(
        kubeconfig,
        client.CustomObjectsApi(api_client),
        core,
        client.ApiextensionsV1Api(api_client),
    )


@contextlib.contextmanager
def cluster_lease(api: Api) -> Iterator[None]:
    """While the benchmark runs, a test session ending elsewhere must not stop the local
    cluster under it: hold a lease like a test session does (tests.cluster.sessions)."""
    from tests.cluster import paths, sessions

    if api.kubeconfig != paths.admin_kubeconfig():
        yield
        return
    with sessions.cluster_lock():
        sessions.take_lease()
    try:
        yield
    finally:
        sessions.drop_lease()


def apply_crds(api: Api) -> None:
    """Create or update the CRDs from crds/ and wait (bounded) until they are served."""
    names = []
    for path in sorted(CRDS.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not document:
                continue
            name = document["metadata"]["name"]
            names.append(name)
            try:
                existing = api.extensions.read_custom_resource_definition(name)
            except ApiException as error:
                if error.status != 404:
                    raise
                api.extensions.create_custom_resource_definition(document)
            else:
                document["metadata"]["resourceVersion"] = existing.metadata and (
                    existing.metadata.resource_version
                )
                api.extensions.replace_custom_resource_definition(name, document)

    def established() -> bool:
        for name in names:
            crd = api.extensions.read_custom_resource_definition(name)
            conditions = (crd.status and crd.status.conditions) or []
            if not any(c.type == "Established" and c.status == "True" for c in conditions):
                return False
        return True

    wait_until("the kflow CRDs to be established", established, timeout=60, interval=0.2)


@contextlib.contextmanager
def cluster_frame(name: str) -> Iterator[tuple[Api, Path]]:
    """What cluster benchmark `name` runs in: the API server, the local cluster leased, a
    temporary directory (bench_workdir) and the CRDs applied. ClusterUnavailable, from here or
    from the benchmark, says what to do."""
    api = connect()
    with cluster_lease(api), bench_workdir(name) as workdir:
        apply_crds(api)
        yield api, workdir


@contextlib.contextmanager
def bench_namespace(api: Api, prefix: str) -> Iterator[str]:
    """A fresh namespace, deleted afterwards with everything in it (finalizers dropped first:
    the operator that would remove them is stopped by then)."""
    namespace = f"{prefix}-{uuid.uuid4().hex[:8]}"
    api.core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=namespace, labels={"kflow.dev/bench": "1"})
        )
    )
    try:
        yield namespace
    finally:
        for plural in ("flowruns", "deployments", "workpools"):
            with contextlib.suppress(ApiException):
                drop_finalizers(api.objects, namespace, plural)
        with contextlib.suppress(ApiException):
            api.core.delete_namespace(namespace)
            _deleting.append(namespace)


_deleting: list[str] = []
"""Namespaces bench_namespace deleted that may still be going."""


def wait_namespaces_deleted(api: Api, timeout: float) -> bool:
    """Wait until every namespace this process's bench_namespace deleted is gone: the API
    server deletes its objects after the call returns, and thousands of them weigh on the next
    measurement. False (with a line saying so) if some are still there after `timeout`."""
    started = time.monotonic()
    while _deleting:
        try:
            api.core.read_namespace(_deleting[0])
        except ApiException as error:
            if error.status != 404:
                raise
            gone = _deleting.pop(0)
            if time.monotonic() - started >= 1:
                progress(f"waited {time.monotonic() - started:.0f} s for namespace {gone} to go")
            continue
        if time.monotonic() - started > timeout:
            progress(f"namespaces {', '.join(_deleting)} still deleting after {timeout:.0f} s")
            return False
        time.sleep(0.5)
    return True


def require_namespace(api: Api, namespace: str) -> None:
    """Figures from a namespace that vanished mid-run mean nothing: say what happened."""
    try:
        api.core.read_namespace(namespace)
    except ApiException as error:
        if error.status != 404:
            raise
        raise ClusterUnavailable(
            f"namespace {namespace} vanished while the benchmark ran: the local cluster was "
            "stopped or restarted meanwhile (another session's `cluster-down`?); run it again"
        ) from error


def create(api: Api, namespace: str, kind: str, name: str, spec: dict[str, Any]) -> None:
    plural = {"Deployment": "deployments", "FlowRun": "flowruns", "WorkPool": "workpools"}[kind]
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    api.objects.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)


def objects_lister(api: Api, namespace: str, plural: str) -> Lister:
    """The list call of one kflow plural in one namespace, for a Follower."""
    return functools.partial(
        api.objects.list_namespaced_custom_object, GROUP, VERSION, namespace, plural
    )


def patch_flowrun_spec(api: Api, namespace: str, name: str, spec: dict[str, Any]) -> None:
    api.objects.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "flowruns", name, {"spec": spec}
    )


# --- the operator ------------------------------------------------------------------------------


class Operator(OperatorProcess):
    """The benchmark's operator, with the figures it reads of it from /proc."""

    def peak_rss_bytes(self) -> int:
        """The kernel's high-water mark of the operator's resident memory (VmHWM)."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmHWM in /proc/{self.popen.pid}/status")

    def cpu_seconds(self) -> float:
        """User + system CPU time the operator process has used so far."""
        fields = stat_fields(self.popen.pid)
        if fields is None:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_SECOND

    def stop(self, grace: float = 20) -> None:
        super().stop(grace)


def start_operator(api: Api, namespace: str, state_dir: Path, cwd: Path, *extra: str) -> Operator:
    """`kflow-operator --namespace NS` for the benchmark, live (its log in state_dir)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    return Operator.start(
        namespace,
        api.kubeconfig,
        state_dir,
        state_dir / "operator.log",
        cwd,
        extra,
        ready_timeout=60,
    )


# --- the host ---------------------------------------------------------------------------------


def memory_available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


# --- watching runs -----------------------------------------------------------------------------


@dataclass
class RunRecord:
    """What the watch saw of one FlowRun: when each state type first became visible (Unix
    time, as received) and the newest object."""

    seen: dict[str, float] = field(default_factory=dict)
    latest: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str | None:
        status = self.latest.get("status") or {}
        state = status.get("state") or {}
        found = state.get("type")
        return str(found) if found else None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def infrastructure(self) -> dict[str, Any]:
        status = self.latest.get("status") or {}
        found: dict[str, Any] = status.get("infrastructure") or {}
        return found

    def state_timestamp(self, state_type: str) -> float | None:
        """The timestamp its writer put on the first entry of `state_type` in stateHistory."""
        status = self.latest.get("status") or {}
        for entry in status.get("stateHistory") or []:
            if entry.get("type") == state_type and entry.get("timestamp"):
                return parse_time(entry["timestamp"])
        return None


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class RunWatch(Follower):
    """A watch on the FlowRuns of one namespace in a thread of its own."""

    def __init__(self, api: Api, namespace: str) -> None:
        super().__init__("flowrun-watch", objects_lister(api, namespace, "flowruns"))
        self._records: dict[str, RunRecord] = {}

    def on_event(self, kind: str, obj: dict[str, Any], received: float) -> None:
        name = obj["metadata"]["name"]
        with self._changed:
            record = self._records.setdefault(name, RunRecord())
            record.latest = obj
            state = ((obj.get("status") or {}).get("state") or {}).get("type")
            if state and state not in record.seen:
                record.seen[state] = received
            if kind == "DELETED":
                record.seen.setdefault("DELETED", received)
            self._changed.notify_all()

    def record(self, name: str) -> RunRecord:
        with self._changed:
            return self._records.setdefault(name, RunRecord())

    def records(self) -> dict[str, RunRecord]:
        with self._changed:
            return dict(self._records)

    def wait(self, what: str, done: Callable[[dict[str, RunRecord]], bool], timeout: float) -> bool:
        """Block until `done(records)` holds (re-checked on every event); False on timeout."""
        if self.wait_for(lambda: done(self._records), timeout):
            return True
        progress(f"gave up waiting for {what} after {timeout:.0f} s")
        return False

    def wait_state(self, name: str, states: Sequence[str], timeout: float) -> RunRecord | None:
        wanted = set(states)
        found = self.wait(
            f"FlowRun {name} in {sorted(wanted)}",
            lambda records: bool(
                name in records and wanted & (set(records[name].seen) | {records[name].state})
            ),
            timeout,
        )
        return self.record(name) if found else None


class PodWatch(Follower):
    """A watch on the pods of one namespace: per value of `label`, when a container of one of
    its pods was first seen started (running, or already ended: the kubelet reports what it
    finds every second, so a container that lives less may never show as running), and when
    its last pod was seen deleted."""

    def __init__(self, api: Api, namespace: str, label: str) -> None:
        super().__init__(
            "pod-watch", functools.partial(api.core.list_namespaced_pod, namespace), label
        )
        self._label = label
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._pods: dict[str, set[str]] = {}
        self._emptied: dict[str, float] = {}

    def on_event(self, kind: str, pod: dict[str, Any], received: float) -> None:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if self._label not in labels:
            return
        run, name = labels[self._label], meta.get("name") or ""
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        states = [status.get("state") or {} for status in statuses]
        with self._lock:
            if kind == "DELETED":
                self._pods.setdefault(run, set()).discard(name)
                if not self._pods[run]:
                    self._emptied[run] = received
                return
            self._pods.setdefault(run, set()).add(name)
            self._emptied.pop(run, None)
            if any("running" in state or "terminated" in state for state in states):
                self._started.setdefault(run, received)

    def started_at(self, run: str) -> float | None:
        with self._lock:
            return self._started.get(run)

    def all_gone_at(self, run: str) -> float | None:
        """When the last pod of `run` was seen deleted (None while one is left)."""
        with self._lock:
            return self._emptied.get(run)


# --- figures and the table ---------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 200 values is the 198th smallest): always a value that
    was measured."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def format_value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    if unit == "s":
        if abs(value) >= 1:
            return f"{value:.2f} s"
        return f"{value * 1e3:.0f} ms"
    if unit == "B":
        return f"{value / 2**20:.0f} MiB"
    if unit == "/s":
        return f"{value:.1f}/s"
    return f"{value:.0f}"


def ratio(ours: float, theirs: float) -> str:
    if math.isnan(ours) or math.isnan(theirs) or ours <= 0 or theirs <= 0:
        return "-"
    value = ours / theirs
    return f"1/{1 / value:.0f}" if value < 1 else f"{value:.2f}"


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def verdict(passed: bool | None) -> str:
    return "" if passed is None else ("PASS" if passed else "FAIL")
