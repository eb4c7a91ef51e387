"""The run page's logs and Kubernetes Events for runs on real infrastructure: a Job's pod on the
local cluster's node and a container on its Docker engine (the flows image of the e2e tier), as
an HTTP client fetches the page. And each section's own gate: a person who may see the run but
not its pod logs, its pods or Events is told which right to ask for, in their own mode
(`kflow dashboard` with their kubeconfig) and through `--auth token` (their token, not the
dashboard's credentials, reads the sections)."""

from __future__ import annotations

import contextlib
import html
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.e2e.conftest import flows_image, node_flows_image  # noqa: F401 - fixtures
from tests.integration.conftest import Cluster, OperatorFactory
from tests.integration.dashboard_support import (
    account_with_rules,
    service_account_kubeconfig,
    token_of,
    view_only_kubeconfig,
)
from tests.support.dashboard import DashboardFactory, DashboardProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

KFLOW_READ = {"apiGroups": ["kflow.dev"], "resources": ["flowruns", "deployments"],
              "verbs": ["get", "list", "watch"]}  # fmt: skip
READ_EVENTS = {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list"]}
LIST_PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
SLEEPING = "sleeping 300.0s"
"""What launcher_flows.py:sleeps prints first, here for a run that outlives the test."""


def page_text(url: str, token: str | None = None) -> str:
    """The page as a person reads it: tags dropped, entities decoded, spaces collapsed."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read().decode()
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def sleeping_run(cluster: Cluster, infrastructure: dict[str, Any]) -> dict[str, Any]:
    """FlowRun `r` of launcher_flows.py:sleeps, once RUNNING."""
    cluster.deployment(
        "d",
        {
            "entrypoint": "launcher_flows.py:sleeps",
            "parameters": {"seconds": 300},
            "infrastructure": {"imagePullPolicy": "Never", **infrastructure},
        },
    )
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    return cluster.wait_state("r", "RUNNING", timeout=120)


def pod_of(cluster: Cluster) -> str:
    listed = cluster.core.list_namespaced_pod(cluster.namespace, label_selector="job-name")
    (pod,) = listed.items
    return str(pod.metadata.name)


def text_with(what: str, url: str, *expected: str, token: str | None = None) -> str:
    """The page once it shows every one of `expected` (the node may still be writing them)."""

    last = [""]

    def probe() -> str | None:
        last[0] = page_text(url, token)
        return last[0] if all(e in last[0] for e in expected) else None

    try:
        found: str = wait_until(what, probe, timeout=60, interval=0.5)
    except TimeoutError as error:
        missing = [e for e in expected if e not in last[0]]
        raise AssertionError(f"{error}; missing {missing}; the page said: {last[0]}") from error
    return found


def raw_refusal(text: str) -> bool:
    """Whether the page shows the API server's own 403 for a section's request (the
    dashboard's refused watch of workpools is another matter, said on every page)."""
    return any(f'resource "{r}"' in text for r in ("pods", "pods/log", "events"))


@pytest.fixture
def job_run(
    cluster: Cluster,
    operators: OperatorFactory,
    node_cluster: Path,
    node_flows_image: str,  # noqa: F811 - the fixture imported above
) -> dict[str, Any]:
    operators.start()
    return sleeping_run(cluster, {"type": "kubernetes-job", "image": node_flows_image})


def test_a_job_runs_pod_log_tail_and_events_are_on_its_page(
    cluster: Cluster, job_run: dict[str, Any], dashboards: DashboardFactory
) -> None:
    dashboard = dashboards.start()
    page = f"{dashboard.url}/runs/{cluster.namespace}/r"
    pod = pod_of(cluster)
    text = text_with(
        "the pod's log line and the Events of run, Job and pod",
        page,
        SLEEPING,
        f"last 200 lines of pod {cluster.namespace}/{pod}",
        f"Pod/{pod}",
        "Started",
        "FlowRun/r",
        "SuccessfulCreate",
    )
    assert "could not be read" not in text and "You may not" not in text
    assert SLEEPING in page_text(f"{page}/logs?fragment=live")


def test_each_section_says_which_right_a_person_lacks(
    cluster: Cluster,
    job_run: dict[str, Any],
    dashboards: DashboardFactory,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    namespace = cluster.namespace
    pod = pod_of(cluster)
    no_pods = view_only_kubeconfig(cluster, kubeconfig, tmp_path)  # kflow objects and Events
    account_with_rules(cluster, "no-logs", [KFLOW_READ, READ_EVENTS, LIST_PODS])
    no_logs = service_account_kubeconfig(cluster, kubeconfig, tmp_path, "no-logs")
    account_with_rules(cluster, "no-events", [KFLOW_READ])
    no_events = service_account_kubeconfig(cluster, kubeconfig, tmp_path, "no-events")
    list_pods_for_logs = (
        "You may not list the pods of this run's Job (to read its logs) "
        f"in namespace {namespace}: ask for list on pods."
    )
    list_pods_for_events = (
        "Some Events could not be read: You may not list the pods of this run's Job "
        f"(for their Events) in namespace {namespace}: ask for list on pods."
    )
    get_logs = (
        f"You may not read this run's pod logs in namespace {namespace}: ask for get on pods/log."
    )
    list_events = (
        "Some Events could not be read: You may not read the Kubernetes Events of this run "
        f"in namespace {namespace}: ask for list on events."
    )

    page = f"{dashboards.start(no_pods).url}/runs/{namespace}/r"
    text = text_with("the run's own Events", page, "FlowRun/r", "SuccessfulCreate")
    assert list_pods_for_logs in text and list_pods_for_events in text
    assert f"Pod/{pod}" not in text and SLEEPING not in text and not raw_refusal(text)

    page = f"{dashboards.start(no_logs).url}/runs/{namespace}/r"
    text = text_with("the pod's Events", page, f"Pod/{pod}", "FlowRun/r")
    assert get_logs in text and "could not be read" not in text
    assert SLEEPING not in text and not raw_refusal(text)
    assert get_logs in page_text(f"{page}/logs?fragment=live")

    page = f"{dashboards.start(no_events).url}/runs/{namespace}/r"
    text = page_text(page)
    assert list_events in text and list_pods_for_logs in text
    assert "FlowRun/r" not in text and not raw_refusal(text)

    # Through --auth token the dashboard reads as the person, not with its own (admin) rights.
    exposed = DashboardProcess.launch(
        ["--namespace", namespace, "--auth", "token"],
        {"KUBECONFIG": str(kubeconfig)},
        tmp_path / "exposed.log",
    )
    dashboards.started.append(exposed)
    page = f"{exposed.url}/runs/{namespace}/r"
    text = text_with("the pod's Events", page, f"Pod/{pod}", token=token_of(no_logs))
    assert get_logs in text and SLEEPING not in text
    assert get_logs in page_text(f"{page}/logs?fragment=live", token_of(no_logs))
    text = page_text(page, token_of(no_pods))
    assert list_pods_for_logs in text and list_pods_for_events in text
    assert f"Pod/{pod}" not in text


@pytest.fixture
def engine(docker_engine: str, cluster: Cluster) -> Iterator[docker.DockerClient]:
    """The session's Docker engine; the test's containers are removed afterwards."""
    client = docker.DockerClient(base_url=docker_engine)
    yield client
    label = f"kflow.dev/flow-run-namespace={cluster.namespace}"
    for summary in client.api.containers(all=True, filters={"label": label}):
        with contextlib.suppress(docker.errors.APIError):
            client.api.remove_container(summary["Id"], force=True)


def test_a_docker_runs_log_tail_is_on_its_page(
    cluster: Cluster,
    operators: OperatorFactory,
    engine: docker.DockerClient,
    flows_image: str,  # noqa: F811 - the fixture imported above
    dashboards: DashboardFactory,
) -> None:
    operators.start("--docker")
    run = sleeping_run(cluster, {"type": "docker", "image": flows_image})
    container = str(run["status"]["infrastructure"]["id"])
    dashboard = dashboards.start()
    page = f"{dashboard.url}/runs/{cluster.namespace}/r"
    text = text_with(
        "the container's log line", page, SLEEPING, f"last 200 lines of container {container[:12]}"
    )
    assert "FlowRun/r" in text
    assert SLEEPING in page_text(f"{page}/logs?fragment=live")
