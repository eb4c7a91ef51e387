"""Operator latency: how fast kflow starts, stops and drains runs (issues 4 and 5).

Against a real API server (the local cluster, or KUBECONFIG), with `kflow-operator` run as a
child process the way the integration tests run it, on real `kflow execute` flows:

- launch: FlowRun created -> infrastructure started (process forked / container started / pod
  running), -> PENDING visible (infrastructure recorded), -> RUNNING visible (reported by the
  flow's own process); one launch at a time, at most a few runs unfinished.
- cancel: `spec.cancel` patched -> infrastructure gone, for a flow that stops on SIGTERM and one
  that ignores it (a short grace period; the kill must come within grace + 1 s).
- burst: 500 FlowRuns created at once -> all terminal: throughput, errors, lost runs.
- the operator's peak RSS (the kernel's high-water mark).

Baseline: Prefect's workers poll for scheduled runs every 10 s by default
(PREFECT_WORKER_QUERY_SECONDS), so a run created at a random moment waits for the next poll: on
average half the interval (p50 5 s), at worst the whole of it (p99 9.9 s), before its
infrastructure is even asked for. That is a documented anchor, not run here.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from kubernetes.client.exceptions import ApiException

from bench import launch_comparison, validity
from bench._cluster import (
    TERMINAL,
    Api,
    ClusterUnavailable,
    PodWatch,
    RunRecord,
    RunWatch,
    bench_namespace,
    cluster_frame,
    create,
    format_value,
    memory_available_bytes,
    parse_time,
    patch_flowrun_spec,
    percentile,
    progress,
    ratio,
    render_table,
    require_namespace,
    start_operator,
    verdict,
)
from bench.processes import kill_process, process_alive, process_start_epoch
from tests.support.waiting import wait_until

PREFECT_WORKER_QUERY_SECONDS = 10.0
"""Prefect 3's default PREFECT_WORKER_QUERY_SECONDS (prefect.settings.models.worker)."""
LAUNCH_P50_TARGET = 0.25
LAUNCH_P99_TARGET = 1.0
KILL_SLACK_TARGET = 1.0
CANCEL_GRACE_SECONDS = 2
BURST_CONCURRENCY = 16
"""The burst Deployment's concurrencyLimit: what one host runs at once. Unlimited, 500 flow
processes (~60 MiB each) would need ~30 GiB; the rest wait as AwaitingConcurrencySlot."""
MEMORY_FLOOR_BYTES = 1 << 30
"""The burst stops early (and says so) rather than let the host run out of memory."""
KEEP_HISTORY = {"successfulRunsHistoryLimit": 1000, "failedRunsHistoryLimit": 1000}
"""Runs (and their containers) are inspected after they end: no pruning while measuring."""
LAUNCHES_IN_FLIGHT = 4
"""The launch measurement keeps at most this many runs unfinished at once."""
RUN_TIMEOUT_SECONDS = 60.0
STARTED_REPORT_SECONDS = 30.0
"""How long a completed run's infrastructure start time may take to be known (the kubelet
reports a container's state every second or so, after the flow may have ended)."""

FLOWS = '''
"""Flows of the operator latency benchmark."""

import signal
import time

from kflow import flow


@flow
def quick() -> str:
    return "done"


def note_cancellation(flow, flow_run, state) -> None:
    print("on_cancellation hook ran", flush=True)


@flow(on_cancellation=[note_cancellation])
def handles_sigterm() -> None:
    print("waiting to be cancelled", flush=True)
    for _ in range(6000):
        time.sleep(0.05)


@flow
def ignores_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ignoring SIGTERM", flush=True)
    time.sleep(600)
'''
FLOWS_FILE = "latency_flows.py"
POD_RUN_LABEL = "kflow.dev/flow-run-name"
"""The Job launcher's label naming a pod's FlowRun (launchers/kubernetes_job/names.py)."""
CONTAINER_LAUNCHERS = ("docker", "kubernetes-job")
LATENCY_ROWS = {
    "started": "created -> infrastructure started",
    "pending": "created -> PENDING visible",
    "running": "created -> RUNNING visible (flow process)",
    "handles_gone": "cancel -> gone, flow handles SIGTERM",
    "ignores_gone": f"cancel -> gone, flow ignores SIGTERM (grace {CANCEL_GRACE_SECONDS} s)",
    "ignores_cancelled": "cancel -> CANCELLED visible, flow ignores SIGTERM",
}
"""The latency lists of `Figures` and the table rows (less their p50/p99/max) they fill."""


@dataclass(frozen=True)
class Plan:
    launches: int
    cancels: int
    container_launches: int
    container_cancels: int
    burst: int
    launch_budget_seconds: float
    burst_budget_seconds: float

    @classmethod
    def full(cls) -> Plan:
        return cls(
            launches=200,
            cancels=10,
            container_launches=20,
            container_cancels=3,
            burst=500,
            launch_budget_seconds=480,
            burst_budget_seconds=720,
        )

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            launches=5,
            cancels=1,
            container_launches=2,
            container_cancels=1,
            burst=10,
            launch_budget_seconds=120,
            burst_budget_seconds=180,
        )


@dataclass
class Figures:
    """What one launcher measured; each list holds seconds, one value per run."""

    launcher: str
    started: list[float] = field(default_factory=list)
    pending: list[float] = field(default_factory=list)
    running: list[float] = field(default_factory=list)
    launch_failures: list[str] = field(default_factory=list)
    handles_gone: list[float] = field(default_factory=list)
    ignores_gone: list[float] = field(default_factory=list)
    ignores_cancelled: list[float] = field(default_factory=list)
    cancel_failures: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Runs that completed but left the benchmark without one of their figures."""
    skipped: str | None = None


@dataclass
class Burst:
    runs: int
    created_seconds: float = math.nan
    drained_seconds: float = math.nan
    create_errors: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    aborted: str = ""
    operator_cpu_share: float = math.nan
    """The operator's CPU time over the burst's wall time (1.0 = one core all the time)."""

    @property
    def completed(self) -> int:
        return self.outcomes.get("COMPLETED", 0)

    @property
    def failed_runs(self) -> int:
        return sum(count for state, count in self.outcomes.items() if state != "COMPLETED")

    @property
    def throughput(self) -> float:
        if not self.drained_seconds or math.isnan(self.drained_seconds):
            return math.nan
        return self.completed / self.drained_seconds

    @property
    def clean(self) -> bool:
        return (
            not self.create_errors
            and not self.lost
            and self.completed == self.runs
            and not math.isnan(self.drained_seconds)
            and not self.aborted
        )


@dataclass
class Report:
    plan: Plan
    launchers: list[Figures]
    burst: Burst
    peak_rss_bytes: int
    left_out: tuple[str, ...] = ()
    """Container launchers left out on purpose (--skip-launcher)."""
    execd: Figures | None = None
    """Process runs exec'd instead of forked by the fork server (the comparison's baseline)."""


# --- where runs live ---------------------------------------------------------------------------


@dataclass
class Target:
    """One launcher's infrastructure and how the benchmark observes it from outside. Each
    callable takes the run's name and what the watch last saw of it."""

    launcher: str
    infrastructure: dict[str, Any]
    started_at: Callable[[str, RunRecord], float | None]
    """When the infrastructure started (Unix time), once known: a pod's container may be
    reported started only after its flow has already reported COMPLETED."""
    gone_at: Callable[[str, RunRecord], float | None]
    """When the infrastructure was gone (Unix time), None while it is still there."""
    output: Callable[[str, RunRecord], str]
    gone_poll_seconds: float


def process_target(workdir: Path, execd: bool = False) -> Target:
    """Process runs, started by the operator's fork server or (`execd`) by exec."""

    def started_at(name: str, record: RunRecord) -> float | None:
        ident = record.infrastructure().get("id")
        return process_start_epoch(ident) if ident else None

    def gone_at(name: str, record: RunRecord) -> float | None:
        ident = record.infrastructure().get("id")
        return time.time() if not ident or not process_alive(ident) else None

    def output(name: str, record: RunRecord) -> str:
        log_path = record.infrastructure().get("logPath")
        return Path(log_path).read_text(errors="replace") if log_path else ""

    return Target(
        launch_comparison.EXEC_LABEL if execd else "process",
        launch_comparison.exec_infrastructure(str(workdir))
        if execd
        else {"type": "process", "process": {"workingDirectory": str(workdir)}},
        started_at,
        gone_at,
        output,
        gone_poll_seconds=0.005,
    )


def _docker_time(text: str) -> float | None:
    """Docker's RFC 3339 times carry nanoseconds; Python parses microseconds."""
    if not text or text.startswith("0001-"):
        return None
    head, _, fraction = text.rstrip("Z").partition(".")
    return parse_time(f"{head}.{(fraction or '0')[:6]:0<6}Z")


def docker_target(engine: docker.DockerClient, image: str) -> Target:
    def container(record: RunRecord) -> Any:
        """The run's container, None when it has none (yet) or when it is already removed."""
        ident = record.infrastructure().get("id")
        if not ident:
            return None
        try:
            return engine.containers.get(ident)
        except docker.errors.NotFound:
            return None

    def started_at(name: str, record: RunRecord) -> float | None:
        found = container(record)
        return _docker_time(found.attrs["State"]["StartedAt"]) if found else None

    def gone_at(name: str, record: RunRecord) -> float | None:
        if not record.infrastructure().get("id"):
            return None
        found = container(record)
        if found is None:
            return time.time()
        if found.attrs["State"]["Running"]:
            return None
        return _docker_time(found.attrs["State"]["FinishedAt"]) or time.time()

    def output(name: str, record: RunRecord) -> str:
        found = container(record)
        return found.logs().decode(errors="replace") if found else ""

    return Target(
        "docker",
        {"type": "docker", "image": image, "imagePullPolicy": "Never"},
        started_at,
        gone_at,
        output,
        gone_poll_seconds=0.05,
    )


def job_target(api: Api, namespace: str, pods: PodWatch, image: str) -> Target:
    def output(name: str, record: RunRecord) -> str:
        listed = api.core.list_namespaced_pod(namespace, label_selector=f"{POD_RUN_LABEL}={name}")
        texts = []
        for pod in listed.items:
            if pod.metadata and pod.metadata.name:
                with contextlib.suppress(ApiException):
                    texts.append(api.core.read_namespaced_pod_log(pod.metadata.name, namespace))
        return "\n".join(texts)

    return Target(
        "kubernetes-job",
        {"type": "kubernetes-job", "image": image, "imagePullPolicy": "Never"},
        lambda name, record: pods.started_at(name),
        lambda name, record: pods.all_gone_at(name),
        output,
        gone_poll_seconds=0.05,
    )


# --- one launcher's runs -----------------------------------------------------------------------


class Session:
    """The flows deployed for one target in the benchmark's namespace, and the runs made."""

    def __init__(self, api: Api, namespace: str, watch: RunWatch, target: Target) -> None:
        self.api = api
        self.namespace = namespace
        self.watch = watch
        self.target = target
        self._serial = 0
        for entrypoint in ("quick", "handles_sigterm", "ignores_sigterm"):
            create(
                api,
                namespace,
                "Deployment",
                self._deployment(entrypoint),
                {
                    "entrypoint": f"{FLOWS_FILE}:{entrypoint}",
                    "infrastructure": target.infrastructure,
                    "cancelGracePeriodSeconds": CANCEL_GRACE_SECONDS,
                    **KEEP_HISTORY,
                },
            )
        create(
            api,
            namespace,
            "Deployment",
            self._deployment("burst"),
            {
                "entrypoint": f"{FLOWS_FILE}:quick",
                "infrastructure": target.infrastructure,
                "concurrencyLimit": BURST_CONCURRENCY,
                **KEEP_HISTORY,
            },
        )

    def _deployment(self, entrypoint: str) -> str:
        return f"{self.target.launcher}-{entrypoint.replace('_', '-')}"

    def submit(self, entrypoint: str, prefix: str) -> tuple[str, float]:
        """Create a FlowRun of a deployed flow; its name and the moment before the call."""
        self._serial += 1
        name = f"{self.target.launcher}-{prefix}-{self._serial:04d}"
        before = time.time()
        create(
            self.api,
            self.namespace,
            "FlowRun",
            name,
            {"deploymentRef": {"name": self._deployment(entrypoint)}},
        )
        return name, before

    def launches(self, figures: Figures, count: int, budget: float) -> None:
        """One launch at a time: the next run is created once the previous one is PENDING and
        fewer than LAUNCHES_IN_FLIGHT runs are unfinished (a flow's own start-up takes seconds
        of CPU; waiting for each to end would make 200 launches take most of an hour)."""
        deadline = time.monotonic() + budget
        created: dict[str, float] = {}

        def room(records: dict[str, RunRecord]) -> bool:
            unfinished = [n for n in created if n not in records or not records[n].terminal]
            return len(unfinished) < LAUNCHES_IN_FLIGHT

        for index in range(count):
            if time.monotonic() >= deadline:
                figures.launch_failures.append(
                    f"time budget of {budget:.0f} s spent after {index} of {count} launches"
                )
                break
            self.watch.wait("room for another launch", room, RUN_TIMEOUT_SECONDS)
            name, created[name] = self.submit("quick", "launch")
            self.watch.wait_state(name, ["PENDING", *TERMINAL], RUN_TIMEOUT_SECONDS)
            if (index + 1) % 25 == 0:
                progress(f"{self.target.launcher}: {index + 1}/{count} launches")
        self.watch.wait(
            "the launched runs to end",
            lambda records: all(records[n].terminal for n in created if n in records),
            RUN_TIMEOUT_SECONDS,
        )
        for name, before in created.items():
            record = self.watch.record(name)
            if record.state != "COMPLETED":
                figures.launch_failures.append(f"{name} ended {record.state or 'nowhere'}")
                continue
            started = self.started_at(name, record)
            if isinstance(started, str):
                figures.missing.append(started)
            else:
                figures.started.append(started - before)
            for state, values in (("PENDING", figures.pending), ("RUNNING", figures.running)):
                if state in record.seen:
                    values.append(record.seen[state] - before)
                else:
                    figures.missing.append(f"{name}: {state} never seen on the watch")

    def started_at(self, name: str, record: RunRecord) -> float | str:
        """When a completed run's infrastructure started, or why that is not known."""
        try:
            found: float = wait_until(
                f"{name}'s infrastructure start time",
                lambda: self.target.started_at(name, record),
                timeout=STARTED_REPORT_SECONDS,
            )
        except TimeoutError as error:
            return str(error)
        return found

    def cancel(self, entrypoint: str, marker: str) -> tuple[float, float] | str:
        """Cancel a running flow once it printed `marker`: (patch -> infrastructure gone,
        patch -> CANCELLED visible), or what went wrong."""
        name, _ = self.submit(entrypoint, "cancel")
        record = self.watch.wait_state(name, ["RUNNING"], RUN_TIMEOUT_SECONDS)
        if record is None:
            return f"{name} never reached RUNNING (state {self.watch.record(name).state})"
        try:
            wait_until(
                f"{name} printing {marker!r}",
                lambda: marker in self.target.output(name, self.watch.record(name)),
                timeout=RUN_TIMEOUT_SECONDS,
                interval=0.05,
            )
        except TimeoutError as error:
            return str(error)
        patched = time.time()
        patch_flowrun_spec(self.api, self.namespace, name, {"cancel": True})
        try:
            gone_at = wait_until(
                f"{name}'s infrastructure gone",
                lambda: self.target.gone_at(name, self.watch.record(name)),
                timeout=CANCEL_GRACE_SECONDS + 30,
                interval=self.target.gone_poll_seconds,
            )
        except TimeoutError as error:
            return str(error)
        final = self.watch.wait_state(name, ["CANCELLED"], 30)
        if final is None:
            return f"{name} gone but not CANCELLED (state {self.watch.record(name).state})"
        return gone_at - patched, final.seen["CANCELLED"] - patched

    def cancels(self, figures: Figures, count: int) -> None:
        for _ in range(count):
            handled = self.cancel("handles_sigterm", "waiting to be cancelled")
            if isinstance(handled, str):
                figures.cancel_failures.append(handled)
            else:
                figures.handles_gone.append(handled[0])
            ignored = self.cancel("ignores_sigterm", "ignoring SIGTERM")
            if isinstance(ignored, str):
                figures.cancel_failures.append(ignored)
            else:
                figures.ignores_gone.append(ignored[0])
                figures.ignores_cancelled.append(ignored[1])

    def burst(self, runs: int, budget: float) -> Burst:
        burst = Burst(runs)
        names = [f"{self.target.launcher}-burst-{index:04d}" for index in range(runs)]
        started = time.time()

        def create_one(name: str) -> str | None:
            try:
                create(
                    self.api,
                    self.namespace,
                    "FlowRun",
                    name,
                    {"deploymentRef": {"name": self._deployment("burst")}},
                )
            except ApiException as error:
                return f"{name}: {error.status} {error.reason}"
            return None

        with ThreadPoolExecutor(max_workers=16) as pool:
            errors = [e for e in pool.map(create_one, names) if e]
        burst.create_errors = errors
        burst.created_seconds = time.time() - started
        progress(f"burst: {runs} FlowRuns created in {burst.created_seconds:.1f} s")
        wanted = set(names)

        def drained(records: dict[str, RunRecord]) -> bool:
            if memory_available_bytes() < MEMORY_FLOOR_BYTES:
                burst.aborted = (
                    f"stopped early: less than {MEMORY_FLOOR_BYTES // 2**20} MiB of memory left"
                )
                return True
            return all(name in records and records[name].terminal for name in wanted)

        waited = self.watch.wait(f"{runs} runs terminal", drained, budget - burst.created_seconds)
        if waited and not burst.aborted:
            records = self.watch.records()
            burst.drained_seconds = (
                max(min(t for s, t in records[n].seen.items() if s in TERMINAL) for n in names)
                - started
            )
        records = self.watch.records()
        for name in names:
            record = records.get(name)
            if record is None or not record.terminal:
                burst.lost.append(name)
                continue
            assert record.state is not None
            burst.outcomes[record.state] = burst.outcomes.get(record.state, 0) + 1
        return burst


# --- the run -----------------------------------------------------------------------------------


def _kill_process_leftovers(watch: RunWatch) -> None:
    """Kill whatever a process run left behind (only the recorded process, checked by its
    start time); containers and Jobs go with the namespace's FlowRuns."""
    for record in watch.records().values():
        infrastructure = record.infrastructure()
        if infrastructure.get("type") == "process" and infrastructure.get("id"):
            kill_process(infrastructure["id"])


def _docker_engine() -> tuple[docker.DockerClient | None, str]:
    """A client of the Docker engine the benchmark can use, or why there is none."""
    from tests.cluster import docker_engine

    host = docker_engine.running_host()
    if host is None:
        return None, "no Docker engine answers (start one: `uv run poe cluster-up --tier docker`)"
    return docker.DockerClient(base_url=host, timeout=120), host


def _flows_image(host: str, workdir: Path) -> str:
    """The kflow runtime image with the benchmark's flows (tests.support.images builds it,
    cached by content)."""
    from tests.cluster import docker_engine
    from tests.support import images

    flows = workdir / "image-flows"
    flows.mkdir(exist_ok=True)
    shutil.copy(workdir / FLOWS_FILE, flows / FLOWS_FILE)
    docker_engine.load_python_base(host)
    return images.flows_image(host, flows)


def _node_ready(api: Api) -> bool:
    for node in api.core.list_node().items:
        conditions = (node.status and node.status.conditions) or []
        if any(c.type == "Ready" and c.status == "True" for c in conditions):
            return True
    return False


def _containers_for(
    wanted: Sequence[str], api: Api, namespace: str, workdir: Path, pods: PodWatch
) -> tuple[list[Target], list[Figures], list[str]]:
    """The targets of the `wanted` container launchers this cluster can run, figures saying why
    for the others, and the operator flags they need. The Job launcher needs the Docker engine
    too: it builds the flows image."""
    targets: list[Target] = []
    flags: list[str] = []
    if not wanted:
        return targets, [], flags
    engine, host_or_reason = _docker_engine()
    if engine is None:
        return targets, [Figures(name, skipped=host_or_reason) for name in wanted], flags
    try:
        progress("building the flows image (cached by content)")
        image = _flows_image(host_or_reason, workdir)
    except Exception as error:
        reason = f"the flows image could not be built: {error}"
        return targets, [Figures(name, skipped=reason) for name in wanted], flags
    if "docker" in wanted:
        targets.append(docker_target(engine, image))
        flags += ["--docker-host", host_or_reason]
    if "kubernetes-job" not in wanted:
        return targets, [], flags
    skipped: list[Figures] = []
    from tests.cluster import cluster, paths

    if api.kubeconfig != paths.admin_kubeconfig():
        skipped.append(
            Figures(
                "kubernetes-job",
                skipped="the flows image is loaded into the local cluster's node only",
            )
        )
    elif not _node_ready(api):
        skipped.append(
            Figures(
                "kubernetes-job",
                skipped="no Ready node (start it: `uv run poe cluster-up --tier node`)",
            )
        )
    else:
        try:
            cluster.load_image(image)
        except Exception as error:
            skipped.append(Figures("kubernetes-job", skipped=f"loading the image failed: {error}"))
        else:
            targets.append(job_target(api, namespace, pods, image))
    return targets, skipped, flags


def _measure_containers(
    api: Api, namespace: str, watch: RunWatch, target: Target, plan: Plan
) -> Figures:
    """A container launcher's rows; one that breaks is reported as such, and the process
    launcher's figures and the burst still follow."""
    figures = Figures(target.launcher)
    try:
        session = Session(api, namespace, watch, target)
        progress(f"{target.launcher}: {plan.container_launches} launches")
        session.launches(figures, plan.container_launches, plan.launch_budget_seconds)
        progress(f"{target.launcher}: {plan.container_cancels} cancellations")
        session.cancels(figures, plan.container_cancels)
    except Exception as error:
        progress(f"{target.launcher}: measuring failed: {error!r}")
        figures.skipped = f"measuring failed: {type(error).__name__}: {error}"
    return figures


def measure(api: Api, plan: Plan, workdir: Path, left_out: Sequence[str] = ()) -> Report:
    (workdir / FLOWS_FILE).write_text(textwrap.dedent(FLOWS).lstrip())
    wanted = [name for name in CONTAINER_LAUNCHERS if name not in left_out]
    with (
        bench_namespace(api, "kflow-bench-latency") as namespace,
        PodWatch(api, namespace, POD_RUN_LABEL) as pods,
    ):
        containers, skipped, flags = _containers_for(wanted, api, namespace, workdir, pods)
        operator = start_operator(api, namespace, workdir / "operator", workdir, *flags)
        try:
            with RunWatch(api, namespace) as watch:
                try:
                    process = Session(api, namespace, watch, process_target(workdir))
                    measured = [Figures("process")]
                    progress(f"process: {plan.launches} launches, one at a time")
                    process.launches(measured[0], plan.launches, plan.launch_budget_seconds)
                    execd = Figures(launch_comparison.EXEC_LABEL)
                    progress(f"process, exec'd: {plan.launches} launches, one at a time")
                    Session(api, namespace, watch, process_target(workdir, execd=True)).launches(
                        execd, plan.launches, plan.launch_budget_seconds
                    )
                    progress(f"process: {plan.cancels} cancellations of each kind")
                    process.cancels(measured[0], plan.cancels)
                    for target in containers:
                        measured.append(_measure_containers(api, namespace, watch, target, plan))
                    progress(f"process: {plan.burst} runs created at once")
                    cpu, wall = operator.cpu_seconds(), time.monotonic()
                    burst = process.burst(plan.burst, plan.burst_budget_seconds)
                    burst.operator_cpu_share = (operator.cpu_seconds() - cpu) / (
                        time.monotonic() - wall
                    )
                finally:
                    _kill_process_leftovers(watch)
            require_namespace(api, namespace)
            if not operator.alive():
                raise RuntimeError(f"kflow-operator died:\n{operator.log_tail()}")
            peak = operator.peak_rss_bytes()
        finally:
            operator.stop()
    order = ["process", "docker", "kubernetes-job"]
    launchers = sorted([*measured, *skipped], key=lambda f: order.index(f.launcher))
    return Report(plan, launchers, burst, peak, tuple(left_out), execd)


# --- the table ---------------------------------------------------------------------------------


def _p(values: Sequence[float], fraction: float) -> float:
    return percentile(values, fraction)


def render(report: Report) -> str:
    anchor_p50 = PREFECT_WORKER_QUERY_SECONDS * 0.5
    anchor_p99 = PREFECT_WORKER_QUERY_SECONDS * 0.99
    labels = [f.launcher for f in report.launchers]
    header = ["metric", *labels, "Prefect anchor", "ratio", "kflow target", "result"]
    rows: list[list[str]] = []
    process = report.launchers[0]
    measured = [f for f in report.launchers if f.skipped is None]

    def row(
        metric: str,
        get: Callable[[Figures], float],
        unit: str = "s",
        anchor: float = math.nan,
        target: str = "",
        passed: bool | None = None,
    ) -> None:
        values = [get(f) for f in report.launchers]
        rows.append(
            [
                metric,
                *(
                    format_value(v, unit) if f.skipped is None else "skipped"
                    for v, f in zip(values, report.launchers, strict=True)
                ),
                format_value(anchor, unit),
                ratio(values[0], anchor),
                target,
                verdict(passed),
            ]
        )

    n = len(process.pending)
    label = LATENCY_ROWS
    row(f"{label['started']}, p50", lambda f: _p(f.started, 0.5))
    row(f"{label['started']}, p99", lambda f: _p(f.started, 0.99))
    row(
        f"{label['pending']}, p50 (n={n})",
        lambda f: _p(f.pending, 0.5),
        anchor=anchor_p50,
        target=f"< {format_value(LAUNCH_P50_TARGET, 's')} (process)",
        passed=_p(process.pending, 0.5) < LAUNCH_P50_TARGET,
    )
    row(
        f"{label['pending']}, p99 (n={n})",
        lambda f: _p(f.pending, 0.99),
        anchor=anchor_p99,
        target=f"< {format_value(LAUNCH_P99_TARGET, 's')} (process)",
        passed=_p(process.pending, 0.99) < LAUNCH_P99_TARGET,
    )
    row(f"{label['running']}, p50", lambda f: _p(f.running, 0.5))
    row(f"{label['running']}, p99", lambda f: _p(f.running, 0.99))
    row(
        "launch failures",
        lambda f: float(len(f.launch_failures)),
        unit="",
        target="0",
        passed=not any(f.launch_failures for f in measured),
    )
    row(f"{label['handles_gone']}, p50", lambda f: _p(f.handles_gone, 0.5))
    row(f"{label['handles_gone']}, max", lambda f: max(f.handles_gone, default=math.nan))
    row(
        f"{label['ignores_gone']}, max",
        lambda f: max(f.ignores_gone, default=math.nan),
        target=f"<= grace + {KILL_SLACK_TARGET:.0f} s",
        passed=all(_killed_in_time(f) for f in measured),
    )
    row(
        f"{label['ignores_cancelled']}, max",
        lambda f: max(f.ignores_cancelled, default=math.nan),
    )
    row(
        "cancel failures",
        lambda f: float(len(f.cancel_failures)),
        unit="",
        target="0",
        passed=not any(f.cancel_failures for f in measured),
    )
    lines = [render_table(header, rows), ""]
    if report.execd is not None:
        lines += [launch_comparison.render(process.running, report.execd.running), ""]
    burst = report.burst
    burst_rows = [
        ["runs created at once", f"{burst.runs}", "", ""],
        ["Deployment's concurrencyLimit", f"{BURST_CONCURRENCY}", "", ""],
        ["creation took", format_value(burst.created_seconds, "s"), "", ""],
        ["created -> all terminal", format_value(burst.drained_seconds, "s"), "", ""],
        ["throughput (completed runs)", format_value(burst.throughput, "/s"), "", ""],
        [
            "outcomes",
            ", ".join(f"{k} {v}" for k, v in sorted(burst.outcomes.items())) or "-",
            f"COMPLETED {burst.runs}",
            verdict(burst.completed == burst.runs),
        ],
        ["create errors", f"{len(burst.create_errors)}", "0", verdict(not burst.create_errors)],
        ["operator CPU during the burst", f"{burst.operator_cpu_share:.0%} of a core", "", ""],
        ["lost runs (never terminal)", f"{len(burst.lost)}", "0", verdict(not burst.lost)],
        [
            "operator peak RSS (VmHWM, whole benchmark)",
            format_value(report.peak_rss_bytes, "B"),
            "",
            "",
        ],
    ]
    lines.append(
        render_table(["burst (process launcher)", "kflow", "kflow target", "result"], burst_rows)
    )
    lines.append("")
    lines.append(
        f"Prefect anchor: workers poll every {PREFECT_WORKER_QUERY_SECONDS:.0f} s by default "
        "(PREFECT_WORKER_QUERY_SECONDS): a run waits half a poll interval on average, almost a "
        "whole one at p99, before its infrastructure is requested (documented, not run here)."
    )
    lines.append(
        f"launches one at a time (at most {LAUNCHES_IN_FLIGHT} runs unfinished); times from just "
        "before the create call; infrastructure "
        "started = the process's kernel start time (10 ms ticks) / the container's StartedAt / "
        "a pod container first seen started (running or, if it never showed running, ended); "
        "visible = received on a watch; gone = the process "
        "seen gone (polled every 5 ms) / the container's FinishedAt / the last pod deleted."
    )
    for launcher in report.left_out:
        lines.append(f"{launcher}: left out (--skip-launcher {launcher})")
    for figures in [*report.launchers, *([report.execd] if report.execd else [])]:
        if figures.skipped:
            lines.append(f"{figures.launcher}: skipped: {figures.skipped}")
        for failure in [*figures.launch_failures, *figures.cancel_failures][:10]:
            lines.append(f"{figures.launcher}: {failure}")
    for error in burst.create_errors[:10]:
        lines.append(f"burst create error: {error}")
    if burst.aborted:
        lines.append(f"burst: {burst.aborted}")
    if burst.lost:
        lines.append(f"burst lost runs: {', '.join(burst.lost[:20])}")
    return "\n".join(lines)


def _killed_in_time(figures: Figures) -> bool:
    return (
        bool(figures.ignores_gone)
        and max(figures.ignores_gone) <= CANCEL_GRACE_SECONDS + KILL_SLACK_TARGET
        and not figures.cancel_failures
    )


def invalid_figures(report: Report) -> list[str]:
    """Why the figures cannot be presented (validity): a latency below zero, a run that left no
    figure, a launcher's column skipped without --skip-launcher; each line names its row."""
    problems: list[str] = []
    for figures in [*report.launchers, *([report.execd] if report.execd else [])]:
        if figures.skipped is not None:
            problems.append(
                f"every row, {figures.launcher}: skipped: {figures.skipped} "
                f"(`--skip-launcher {figures.launcher}` leaves it out on purpose)"
            )
            continue
        for attribute, row in LATENCY_ROWS.items():
            values: list[float] = getattr(figures, attribute)
            problems += validity.negative_latencies(f"{row}, {figures.launcher}", values)
        problems += [f"{figures.launcher}: {missing}" for missing in figures.missing]
    problems += validity.negative_latencies(
        "created -> all terminal (burst)",
        [] if math.isnan(report.burst.drained_seconds) else [report.burst.drained_seconds],
    )
    return problems


def passed(report: Report) -> bool:
    process = report.launchers[0]
    measured = [f for f in report.launchers if f.skipped is None]
    return (
        _p(process.pending, 0.5) < LAUNCH_P50_TARGET
        and _p(process.pending, 0.99) < LAUNCH_P99_TARGET
        and not any(f.launch_failures or f.cancel_failures for f in measured)
        and launch_comparison.passed(process.running)
        and (report.execd is None or not report.execd.launch_failures)
        and all(_killed_in_time(f) for f in measured)
        and report.burst.clean
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.operator_latency",
        description=__doc__.splitlines()[0],
        epilog=validity.EXIT_CODES,
    )
    parser.add_argument(
        "--quick", action="store_true", help="small counts: a check that it all works, not figures"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--skip-launcher",
        action="append",
        choices=CONTAINER_LAUNCHERS,
        default=[],
        help="leave out a container launcher's column on purpose (repeatable); one not left "
        "out that cannot be measured (e.g. no Docker engine) makes the figures invalid",
    )
    parser.add_argument(
        "--launches",
        type=int,
        metavar="N",
        help="launches per process column (fork server, exec) instead of the plan's",
    )
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan.full()
    if args.launches is not None:
        plan = dataclasses.replace(plan, launches=args.launches)
    try:
        with cluster_frame("operator_latency") as (api, workdir):
            report = measure(api, plan, workdir, args.skip_launcher)
            shutil.rmtree(workdir / "operator", ignore_errors=True)
    except ClusterUnavailable as error:
        print(f"operator_latency: {error}", file=sys.stderr)
        return 2
    print(render(report))
    problems = invalid_figures(report)
    if problems:
        print(validity.report("operator_latency", problems))
    if args.json:
        args.json.write_text(json.dumps(_as_json(report, problems), indent=2))
    if problems:
        return validity.INVALID_EXIT_CODE
    return 0 if passed(report) else 1


def _as_json(report: Report, problems: list[str]) -> dict[str, Any]:
    return {
        "plan": report.plan.__dict__,
        "invalid": problems,
        "left_out": list(report.left_out),
        "launchers": [f.__dict__ for f in report.launchers],
        "burst": {**report.burst.__dict__, "throughput": report.burst.throughput},
        "peak_rss_bytes": report.peak_rss_bytes,
        "process_execd": report.execd.__dict__ if report.execd is not None else None,
    }


if __name__ == "__main__":
    sys.exit(main())
