"""The Docker daemon restarts under running Docker runs (SIGTERM, then the same command again, as
`systemctl restart docker` does), on an engine of the test's own (private_docker.py).

With `--live-restore` the containers keep running through the restart: the operator re-adopts
the same containers and the runs finish COMPLETED. Without it dockerd stops every container on
its way down: the runs end CRASHED, with a message that says so. Either way no run is lost or
started twice, and once the FlowRuns are deleted no container of theirs is left.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.conftest import NAMESPACE, Chaos, not_ended_once
from tests.chaos.private_docker import PrivateDocker
from tests.cluster import docker_engine as docker_tier
from tests.support import images
from tests.support.waiting import wait_until

pytestmark = pytest.mark.chaos

FLOWS = Path(__file__).resolve().parents[1] / "support" / "flows"
RUNS = ("sleeper-0", "sleeper-1", "sleeper-2")
SLEEP_SECONDS = 20
LABEL_NAME = "kflow.dev/flow-run-name"
LABEL_NAMESPACE = "kflow.dev/flow-run-namespace"


@pytest.fixture(params=[True, False], ids=["live-restore", "no-live-restore"])
def private_docker(request: pytest.FixtureRequest, docker_engine: str) -> Iterator[PrivateDocker]:
    engine = PrivateDocker(live_restore=request.param)
    try:
        engine.start()
        yield engine
    finally:
        engine.close()
    # A private dockerd must leave the shared engine's network alone: one started with
    # --bridge=none deleted docker0, and every e2e test of the shared engine failed after it.
    assert Path("/sys/class/net", docker_tier.OWN_BRIDGE).exists(), "the shared docker0 is gone"
    assert not Path("/sys/class/net", engine.bridge).exists(), "the private bridge was left"


@pytest.fixture
def private_flows_image(docker_engine: str, private_docker: PrivateDocker) -> str:
    """The test flows image, built on the shared engine and copied into the private one."""
    image = images.flows_image(docker_engine, FLOWS)
    docker_tier.copy_image(image, docker_engine, private_docker.host)
    return image


def containers(engine: PrivateDocker) -> dict[str, list[dict[str, Any]]]:
    """The test's kflow containers on the private engine, by FlowRun name."""
    found: dict[str, list[dict[str, Any]]] = {}
    listed = engine.client().api.containers(
        all=True, filters={"label": f"{LABEL_NAMESPACE}={NAMESPACE}"}
    )
    for summary in listed:
        found.setdefault(summary["Labels"][LABEL_NAME], []).append(summary)
    return found


def finished(run: dict[str, Any]) -> bool:
    conditions = (run.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Finished" and c["status"] == "True" for c in conditions)


def test_runs_end_with_the_truth_after_dockerd_restarted(
    chaos: Chaos, private_docker: PrivateDocker, private_flows_image: str
) -> None:
    live = private_docker.live_restore
    operator = chaos.start_operator(
        "--docker-host", private_docker.host, "--docker-sweep-seconds", "1", launchers="docker"
    )
    for name in RUNS:
        chaos.create(
            "flowruns",
            "FlowRun",
            name,
            {
                "entrypoint": "launcher_flows.py:sleeps",
                "parameters": {"seconds": SLEEP_SECONDS},
                "infrastructure": {
                    "type": "docker",
                    "image": private_flows_image,
                    "imagePullPolicy": "Never",
                },
            },
        )

    def flows_sleeping() -> bool:
        engine = private_docker.client()
        found = containers(private_docker)
        return all(chaos.state(name) == "RUNNING" for name in RUNS) and all(
            len(found.get(name, [])) == 1 and b"sleeping" in engine.api.logs(found[name][0]["Id"])
            for name in RUNS
        )

    try:
        wait_until("every flow sleeping in its container", flows_sleeping, timeout=90, interval=0.5)
    except TimeoutError as error:
        raise AssertionError(f"{error}\n--- operator:\n{operator.log_tail(6000)}") from error
    before = {name: chaos.flowrun(name)["status"]["infrastructure"]["id"] for name in RUNS}

    private_docker.restart()
    up_at = time.monotonic()  # dockerd answers again: the fault is over
    assert operator.alive(), operator.log_tail()

    expected = "COMPLETED" if live else "CRASHED"

    def all_right() -> bool:
        return all(chaos.state(name) == expected for name in RUNS)

    try:
        wait_until(f"every run {expected}", all_right, timeout=90, interval=0.5)
    except TimeoutError as error:
        states = {name: (chaos.flowrun(name).get("status") or {}).get("state") for name in RUNS}
        raise AssertionError(
            f"{error}: {states}\n--- operator:\n{operator.log_tail(8000)}\n--- dockerd:\n"
            + private_docker.daemon.log_path.read_text(errors="replace")[-3000:]
        ) from error
    recovered = time.monotonic() - up_at

    # A flow writes its final state, then its process exits: the operator says Finished once the
    # container is gone too.
    wait_until("every run Finished", lambda: all(finished(chaos.flowrun(n)) for n in RUNS), 60)
    runs = {name: chaos.flowrun(name) for name in RUNS}
    after = {name: run["status"]["infrastructure"]["id"] for name, run in runs.items()}
    assert after == before, "the runs' containers were not re-adopted"
    assert not not_ended_once(runs, list(RUNS)), {
        name: runs[name]["status"]["stateHistory"] for name in RUNS
    }
    for name, run in runs.items():
        history = [entry["type"] for entry in run["status"]["stateHistory"]]
        assert history.count("RUNNING") == 1, f"{name} ran twice: {history}"
        message = run["status"]["state"].get("message") or ""
        if live:
            assert run["status"]["result"]["value"] == "woke up"
        else:
            # dockerd stops its containers on shutdown: SIGTERM, which the flow reports itself.
            assert "SIGTERM without a cancellation request" in message, (name, message)
            assert "Docker daemon shut down or restarted" in message, (name, message)

    found = containers(private_docker)
    started = {name: len(found.get(name, [])) for name in RUNS}
    assert set(started.values()) == {1}, f"containers per run: {started}"
    still_running = [name for name in RUNS if found[name][0]["State"] == "running"]
    assert not still_running, f"containers still running for ended runs: {still_running}"

    for name in RUNS:
        chaos.objects.delete_namespaced_custom_object(
            "kflow.dev", "v1alpha1", NAMESPACE, "flowruns", name
        )
    wait_until(
        "the deleted runs' containers removed",
        lambda: not containers(private_docker),
        timeout=60,
        interval=0.5,
    )
    messages = sorted({run["status"]["state"].get("message") or "" for run in runs.values()})
    exits = sorted({str(run["status"]["infrastructure"].get("exitCode")) for run in runs.values()})
    print(
        f"\ndockerd restart ({'live-restore' if live else 'no live-restore'}): "
        f"all {len(RUNS)} runs {expected} {recovered:.1f}s after dockerd answered again, "
        f"same containers re-adopted; runs lost 0, started twice 0, containers orphaned 0; "
        f"exit codes {exits}, messages {messages}"
    )
