"""Soak: schedules, bursts, cancels and random faults for `--minutes` on a control plane of its
own, then the figures (issue #18). Not in CI and not in `poe bench`: run it by hand,

    uv run python -m bench.soak --minutes 30

It starts its own etcd and kube-apiserver (tests/chaos/private_control_plane.py, as root) and
one operator reaching them through a TCP proxy it can cut (tests/chaos/tcp_proxy.py). While it
runs: a Deployment fires every 3 s, a burst of ad-hoc runs arrives every 10 s, one run in four
of each burst is cancelled while it runs, and every `--fault-every` seconds one fault happens
for real: every API connection cut, the operator SIGKILLed and started again, or the API server
stopped for 5 s. After each fault, "time to correct" is how long until a run created right
after the fault ended COMPLETED. At the end, with faults stopped, every run must end; then:
runs made, lost (created, never seen again), duplicated (a flow started twice, or a schedule
instant with two runs), ended twice, still not ended, orphaned processes (a flow process alive
after its run ended).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kflow.processes import ProcessId, is_alive, signal_process
from kubernetes import client, config

from bench._workdir import bench_workdir
from tests.chaos.private_control_plane import PrivateControlPlane
from tests.chaos.tcp_proxy import CuttableProxy
from tests.cluster import cluster as local_cluster
from tests.cluster.kubectl import Kubectl
from tests.support.custom_objects import items_of
from tests.support.operator_process import OperatorProcess
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "tests" / "chaos" / "flows"
GROUP, VERSION, NAMESPACE = "kflow.dev", "v1alpha1", "soak"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
BURST_EVERY, BURST_SIZE = 10.0, 8
FAULTS = ("cut-connections", "kill-operator", "apiserver-down-5s")


@dataclass
class Soak:
    plane: PrivateControlPlane
    proxy: CuttableProxy
    objects: client.CustomObjectsApi
    state_dir: Path
    starts_file: Path
    operator: OperatorProcess | None = None
    made: list[str] = field(default_factory=list)
    corrections: list[tuple[str, float]] = field(default_factory=list)
    operator_starts: int = 0

    def start_operator(self) -> None:
        os.environ["CHAOS_STARTS"] = str(self.starts_file)
        self.operator = OperatorProcess.start(
            NAMESPACE,
            self.plane.kubeconfig_via(self.proxy.port),
            self.state_dir,
            self.state_dir / f"operator-{self.operator_starts}.log",
            FLOWS,
            ("--launchers", "process", "--standalone"),
            ready_timeout=60,
        )
        self.operator_starts += 1

    def create(self, plural: str, kind: str, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind,
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec,
        }
        retrying(
            lambda: self.objects.create_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, plural, body
            )
        )

    def run(self, name: str, seconds: float) -> None:
        self.create(
            "flowruns",
            "FlowRun",
            name,
            {
                "entrypoint": "chaos_flows.py:recorded",
                "infrastructure": {"type": "process"},
                "parameters": {"seconds": seconds},
                "cancelGracePeriodSeconds": 5,
            },
        )
        self.made.append(name)

    def runs(self) -> dict[str, dict[str, Any]]:
        listed = retrying(
            lambda: self.objects.list_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, "flowruns"
            )
        )
        return {run["metadata"]["name"]: run for run in items_of(listed)}

    def state(self, name: str) -> str | None:
        run = self.runs().get(name)
        return state_of(run) if run else None


def state_of(run: dict[str, Any]) -> str | None:
    found = ((run.get("status") or {}).get("state") or {}).get("type")
    return str(found) if found else None


def retrying(call: Callable[[], Any], attempts: int = 60) -> Any:
    """The soak's own API calls ride out the faults it causes (1 s apart, then give up)."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


def fault(soak: Soak, kind: str) -> None:
    if kind == "cut-connections":
        soak.proxy.cut()
    elif kind == "kill-operator":
        assert soak.operator is not None
        soak.operator.popen.send_signal(signal.SIGKILL)
        soak.operator.popen.wait(30)
        soak.start_operator()
    else:
        soak.plane.apiserver.stop()
        time.sleep(5)  # the fault itself: five seconds without an API server
        soak.plane.start_apiserver()


def time_to_correct(soak: Soak, number: int) -> float:
    """From the fault's end until a run created then has COMPLETED."""
    began = time.monotonic()
    name = f"probe-{number:03d}"
    soak.run(name, 0)
    wait_until(f"{name} COMPLETED", lambda: soak.state(name) == "COMPLETED", 180, 0.2)
    return time.monotonic() - began


def soak_for(soak: Soak, minutes: float, fault_every: float, rng: random.Random) -> None:
    soak.create(
        "deployments",
        "Deployment",
        "tick",
        {
            "entrypoint": "chaos_flows.py:recorded",
            "infrastructure": {"type": "process"},
            "schedules": [{"interval": 3}],
            "upcomingRuns": 2,
            "successfulRunsHistoryLimit": 10000,
            "failedRunsHistoryLimit": 10000,
        },
    )
    end = time.monotonic() + minutes * 60
    next_burst = time.monotonic()
    next_fault = time.monotonic() + fault_every
    bursts = faults = 0
    pool = ThreadPoolExecutor(6)
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_burst:
            names = [f"b{bursts:03d}-{i:02d}" for i in range(BURST_SIZE)]
            cancelled = set(rng.sample(names, BURST_SIZE // 4))
            for name in names:
                pool.submit(soak.run, name, 20 if name in cancelled else 1)
            pool.submit(cancel_when_running, soak, sorted(cancelled))
            bursts += 1
            next_burst = now + BURST_EVERY
        if now >= next_fault:
            kind = rng.choice(FAULTS)
            fault(soak, kind)
            soak.corrections.append((kind, time_to_correct(soak, faults)))
            print(f"  fault {faults}: {kind}; correct after {soak.corrections[-1][1]:.1f}s")
            faults += 1
            next_fault = time.monotonic() + fault_every
        time.sleep(0.2)
    pool.shutdown(wait=True)
    retrying(
        lambda: soak.objects.patch_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "deployments", "tick", {"spec": {"paused": True}}
        )
    )


def cancel_when_running(soak: Soak, names: list[str]) -> None:
    for name in names:
        cancel_one_when_running(soak, name)


def cancel_one_when_running(soak: Soak, name: str) -> None:
    # Past 60 s it ended, or a fault held it: cancelling it still must end it.
    with contextlib.suppress(TimeoutError):
        wait_until(f"{name} RUNNING", lambda: soak.state(name) == "RUNNING", 60, 0.3)
    retrying(
        lambda: soak.objects.patch_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "flowruns", name, {"spec": {"cancel": True}}
        )
    )


def figures(soak: Soak) -> dict[str, Any]:
    def unsettled() -> bool:
        return all(
            state_of(r) in TERMINAL or state_of(r) == "SCHEDULED" for r in soak.runs().values()
        )

    with contextlib.suppress(TimeoutError):  # counted below as not ended
        wait_until("every run ended", unsettled, 300, 1)
    runs = soak.runs()
    starts = (
        Counter(line.split()[0] for line in soak.starts_file.read_text().splitlines())
        if soak.starts_file.exists()
        else Counter()
    )
    instants = Counter(
        r["spec"].get("scheduledTime") for r in runs.values() if r["spec"].get("deploymentRef")
    )
    processes = (
        [ProcessId.parse(line.split()[1]) for line in soak.starts_file.read_text().splitlines()]
        if soak.starts_file.exists()
        else []
    )
    ended_twice = [
        n
        for n, r in runs.items()
        if sum(e["type"] in TERMINAL for e in (r.get("status") or {}).get("stateHistory") or []) > 1
    ]
    by_state = Counter(
        f"{'scheduled' if r['spec'].get('deploymentRef') else 'ad-hoc'} {state_of(r)}"
        f"{'/' + str(r['status']['state'].get('name')) if state_of(r) == 'CANCELLED' else ''}"
        for r in runs.values()
    )
    return {
        "runs": len(runs),
        "ad-hoc runs made": len(soak.made),
        "scheduled runs": sum(1 for r in runs.values() if r["spec"].get("deploymentRef")),
        "by kind and state": dict(sorted(by_state.items())),
        "lost": len([n for n in soak.made if n not in runs]),
        "duplicated (started twice)": len([n for n, c in starts.items() if c > 1]),
        "duplicated (instant twice)": len([t for t, c in instants.items() if c > 1]),
        "ended twice": len(ended_twice),
        "not ended": len(
            [r for r in runs.values() if state_of(r) not in TERMINAL and state_of(r) != "SCHEDULED"]
        ),
        "orphaned processes": len([p for p in processes if is_alive(p)]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--fault-every", type=float, default=40, metavar="SECONDS")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.soak starts its own etcd and kube-apiserver: run it as root", file=sys.stderr)
        return 2
    local_cluster.prepare("control-plane")
    with bench_workdir("soak") as root:
        plane = PrivateControlPlane(root / "plane")
        plane.start()
        processes: list[ProcessId] = []
        soak: Soak | None = None
        try:
            kubectl = Kubectl(plane.kubeconfig)
            kubectl.run("apply", "--server-side", "-f", str(ROOT / "crds"))
            for file in sorted((ROOT / "crds").glob("*.yaml")):
                kubectl.run("wait", "--for=condition=Established", "--timeout=60s", "-f", str(file))
            api = config.new_client_from_config(config_file=str(plane.kubeconfig))  # type: ignore[no-untyped-call]
            client.CoreV1Api(api).create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
            )
            (root / "operator").mkdir()
            with CuttableProxy(plane.port) as proxy:
                soak = Soak(
                    plane,
                    proxy,
                    client.CustomObjectsApi(api),
                    root / "operator",
                    root / "starts.log",
                )
                soak.start_operator()
                began = time.monotonic()
                soak_for(soak, args.minutes, args.fault_every, random.Random(args.seed))
                result = figures(soak)
                result["minutes"] = round((time.monotonic() - began) / 60, 1)
                result["operator starts"] = soak.operator_starts
                if soak.operator is not None:  # before the proxy it talks through goes away
                    soak.operator.stop()
                    soak.operator = None
            print_table(result, soak.corrections)
        finally:
            if soak is not None:
                if soak.operator is not None:
                    soak.operator.stop()
                if soak.starts_file.exists():
                    processes = [
                        ProcessId.parse(line.split()[1])
                        for line in soak.starts_file.read_text().splitlines()
                    ]
            for process in processes:
                signal_process(process, signal.SIGKILL)
            plane.close()
    return 0


def print_table(result: dict[str, Any], corrections: list[tuple[str, float]]) -> None:
    print("\nsoak figures")
    for key, value in result.items():
        print(f"  {key:<28} {value}")
    print("  time to correct after each fault (s):")
    by_kind: dict[str, list[float]] = {}
    for kind, seconds in corrections:
        by_kind.setdefault(kind, []).append(seconds)
    for kind, values in sorted(by_kind.items()):
        listed = ", ".join(f"{v:.1f}" for v in values)
        print(f"    {kind:<22} n={len(values)} max={max(values):.1f}  [{listed}]")


if __name__ == "__main__":
    sys.exit(main())
