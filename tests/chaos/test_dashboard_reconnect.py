"""The API server goes away under an open dashboard (killed for 5 s, then started again): the
dashboard's watches resume on their own, so runs created and states written after the outage
show up without restarting `kflow dashboard`, and the health endpoint says when it is synced
again."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.conftest import GROUP, NAMESPACE, VERSION, Chaos
from tests.support.dashboard import DashboardProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.chaos

OUTAGE_SECONDS = 5


@pytest.fixture
def dashboard(chaos: Chaos, tmp_path: Path) -> Iterator[DashboardProcess]:
    made = DashboardProcess.start(chaos.plane.kubeconfig, NAMESPACE, tmp_path / "dashboard.log")
    yield made
    made.stop()


def page(dashboard: DashboardProcess, path: str) -> str:
    try:
        with urllib.request.urlopen(f"{dashboard.url}{path}", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def adhoc() -> dict[str, object]:
    return {"entrypoint": "chaos_flows.py:recorded", "infrastructure": {"type": "process"}}


def test_the_dashboard_follows_the_cluster_again_after_the_api_server_was_down(
    chaos: Chaos, dashboard: DashboardProcess
) -> None:
    chaos.create("flowruns", "FlowRun", "before", adhoc())
    wait_until("the run listed", lambda: "before" in page(dashboard, "/runs"), timeout=30)

    chaos.plane.apiserver.kill()
    time.sleep(OUTAGE_SECONDS)  # the fault itself, not synchronisation
    chaos.plane.start_apiserver()
    back = time.monotonic()

    chaos.create("flowruns", "FlowRun", "after", adhoc())
    chaos.objects.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        NAMESPACE,
        "flowruns",
        "before",
        {
            "status": {
                "state": {
                    "type": "FAILED",
                    "name": "Failed",
                    "message": "written after the outage",
                    "timestamp": "2026-12-04T12:00:00Z",
                }
            }
        },
    )
    try:
        wait_until(
            "the new run and the new state shown",
            lambda: (
                "after" in page(dashboard, "/runs")
                and "written after the outage" in page(dashboard, f"/runs/{NAMESPACE}/before")
            ),
            timeout=60,
            interval=0.5,
        )
    except TimeoutError as error:
        raise AssertionError(f"{error}\n--- dashboard log:\n{dashboard.log()[-4000:]}") from error
    wait_until("the dashboard synced again", dashboard.synced, timeout=30)
    print(f"\ndashboard current again {time.monotonic() - back:.1f}s after the API server was back")
