"""Random specs, generated from our own CRDs, against the real API server and a running operator
(issue #18, "Bad input"): what the API server refuses is refused naming the field; what it
accepts never crashes the operator or makes it spin, and every run ends up with a state that
says where it stands.

The specs are the same on every run (derandomized hypothesis), so a failure reproduces. Three
things are fixed up before a spec is sent, for the machine's sake, not the operator's: the
entrypoint's module is the test's own flows file (a random module name could import anything
installed), `command`/`pythonExecutable` are dropped (they would execute random programs), and
environment names get a `FUZZ_` prefix (a random `PATH` would break the flow process in ways
that say nothing about kflow).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import GROUP, VERSION, Cluster, OperatorFactory
from tests.support.crd_strategies import draw_specs
from tests.support.custom_objects import items_of
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

COUNTS = {"workpools": 25, "deployments": 30, "flowruns": 40}
REAL_FLOWS = ("sums", "fails", "waits")
MIN_INTERVAL_SECONDS = 20
"""Schedules are clamped to this: a 1-second schedule on 30 Deployments would start a Python
process per Deployment per second on a 2-core machine, which tests the machine, not kflow."""
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
IDLE_WINDOW_SECONDS = 15.0
IDLE_CPU_LIMIT = 0.5
"""Operator CPU seconds per wall second once every run has settled: well above what a quiet
operator uses (< 0.05), far below a spinning one (≥ 1)."""


def valid_text(value: Any) -> Any:
    """Lone surrogates cannot be sent as UTF-8; everything else goes as generated."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [valid_text(v) for v in value]
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    return value


def defang(spec: dict[str, Any], pick: random.Random) -> dict[str, Any]:
    spec = valid_text(spec)
    if "entrypoint" in spec:
        function = spec["entrypoint"].rsplit(":", 1)[-1]
        spec["entrypoint"] = f"flows.py:{pick.choice([function, *REAL_FLOWS])}"
    infrastructure = spec.get("infrastructure")
    if isinstance(infrastructure, dict):
        infrastructure.pop("command", None)
        (infrastructure.get("process") or {}).pop("pythonExecutable", None)
        if "env" in infrastructure:
            infrastructure["env"] = {f"FUZZ_{k}": v for k, v in infrastructure["env"].items()}
    for schedule in spec.get("schedules") or []:
        if isinstance(schedule.get("interval"), int):
            schedule["interval"] = max(schedule["interval"], MIN_INTERVAL_SECONDS)
    return spec


OPTIONS_TYPE = {"job": "kubernetes-job", "docker": "docker", "process": "process"}


def repair(spec: dict[str, Any], plural: str, pick: random.Random) -> dict[str, Any]:
    """Make a spec meet the CRD's CEL rules, which the generator does not know: one options
    block, of the infrastructure's type; a type or a pool; one kind per schedule. A quarter of
    the specs are left as drawn, so refusals are exercised too."""
    if pick.random() < 0.25:
        return spec
    infrastructure = spec.get("infrastructure")
    if isinstance(infrastructure, dict):
        blocks = [key for key in OPTIONS_TYPE if key in infrastructure]
        keep = pick.choice(blocks) if blocks else None
        for key in blocks:
            if key != keep:
                del infrastructure[key]
        if plural == "workpools":
            if keep is not None:
                spec["type"] = OPTIONS_TYPE[keep]
        elif keep is not None:
            infrastructure["type"] = OPTIONS_TYPE[keep]
    if plural != "workpools" and "workPool" not in spec:
        infrastructure = spec.setdefault("infrastructure", {})
        infrastructure.setdefault("type", pick.choice(list(OPTIONS_TYPE.values())))
    if plural == "flowruns" and "deploymentRef" not in spec:
        spec.setdefault("entrypoint", "flows.py:sums")
    for schedule in spec.get("schedules") or []:
        if "cron" in schedule and "interval" in schedule:
            del schedule[pick.choice(["cron", "interval"])]
        if "cron" not in schedule and "interval" not in schedule:
            schedule["interval"] = MIN_INTERVAL_SECONDS
        if "cron" not in schedule:
            schedule.pop("timezone", None)
        if "interval" not in schedule:
            schedule.pop("anchorTime", None)
    return spec


def create(cluster: Cluster, plural: str, kind: str, name: str, spec: dict[str, Any]) -> str | None:
    """None when the API server accepted it, else its refusal."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": cluster.namespace},
        "spec": spec,
    }
    try:
        cluster.objects.create_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, plural, body
        )
    except ApiException as error:
        assert error.status == 422, f"{kind} {name} refused with {error.status}: {error.body}"
        return str(json.loads(error.body or "{}").get("message"))
    return None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def describe(run: dict[str, Any]) -> str:
    spec = json.dumps(run["spec"])[:300]
    status = json.dumps(run.get("status"))[:600]
    return f"{run['metadata']['name']}: spec={spec} status={status}"


def settled(run: dict[str, Any]) -> bool:
    """Terminal; or waiting/running with a state that says why."""
    state = (run.get("status") or {}).get("state") or {}
    if state.get("type") in TERMINAL:
        return True
    if state.get("type") in {"SCHEDULED", "PAUSED", "RUNNING", "CANCELLING"}:
        return bool(state.get("message")) or state.get("type") == "RUNNING"
    return False


def test_random_specs_are_refused_by_field_or_handled(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    pick = random.Random(18)
    accepted: dict[str, list[str]] = {plural: [] for plural in COUNTS}
    refusals: list[str] = []
    kinds = {"workpools": "WorkPool", "deployments": "Deployment", "flowruns": "FlowRun"}
    operator = operators.start("--launchers", "process")
    for plural in ("workpools", "deployments", "flowruns"):
        file = f"{plural}.kflow.dev.yaml"
        for index, raw in enumerate(draw_specs(file, COUNTS[plural])):
            spec = defang(repair(raw, plural, pick), pick)
            if plural == "flowruns" and accepted["deployments"] and pick.random() < 0.5:
                spec["deploymentRef"] = {"name": pick.choice(accepted["deployments"])}
            name = f"fz-{plural[:2]}-{index}"
            refusal = create(cluster, plural, kinds[plural], name, spec)
            if refusal is None:
                accepted[plural].append(name)
            else:
                refusals.append(refusal)
    print(f"\naccepted: { {k: len(v) for k, v in accepted.items()} }, refused: {len(refusals)}")
    for refusal in refusals:
        print("refused:", refusal[:300])
        assert "spec" in refusal, f"a refusal that names no field: {refusal}"
    assert accepted["flowruns"], "no random FlowRun was accepted: the generator is too wild"

    def unsettled() -> list[str]:
        runs = items_of(
            cluster.objects.list_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, "flowruns"
            )
        )
        return [describe(run) for run in runs if not settled(run)]

    try:
        wait_until("every FlowRun settled", lambda: not unsettled(), timeout=180, interval=1)
    except TimeoutError as error:
        raise AssertionError(
            f"{error}:\n" + "\n".join(unsettled()) + f"\n--- operator log:\n{operator.log_tail()}"
        ) from error
    assert operator.alive(), operator.log_tail()
    runs = items_of(
        cluster.objects.list_namespaced_custom_object(GROUP, VERSION, cluster.namespace, "flowruns")
    )
    outcomes = Counter(
        f"{run['status']['state']['type']}/{run['status']['state']['name']}" for run in runs
    )
    print(f"outcomes of {len(runs)} FlowRuns: {dict(outcomes.most_common())}")
    for run in runs:
        state = run["status"]["state"]
        print("  ", state["type"], (state.get("message") or "")[:150].replace("\n", " "))

    before = cpu_seconds(operator.popen.pid)
    time.sleep(IDLE_WINDOW_SECONDS)  # a measurement window, not synchronisation
    used = cpu_seconds(operator.popen.pid) - before
    print(f"operator CPU over the idle window: {used:.2f} s")
    assert used / IDLE_WINDOW_SECONDS < IDLE_CPU_LIMIT, operator.log_tail()
    assert operator.alive(), operator.log_tail()
    assert "Traceback" not in operator.log(), operator.log_tail(8000)
