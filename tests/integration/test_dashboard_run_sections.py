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
from dataclasses import dataclass
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
READ_POD_LOGS = {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}
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
    assert pod.metadata is not None
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
    # The logs' own page (its live region); the kubelet may fail one read of a container's
    # log under load ("unable to retrieve container logs"), which the next poll gets over.
    text_with("the logs' own page", f"{page}/logs?fragment=live", SLEEPING)


@dataclass(frozen=True)
class Refusals:
    """The sentences a run page shows in namespace `namespace` where a right is missing."""

    namespace: str

    @property
    def list_pods_for_logs(self) -> str:
        return (
            "You may not list the pods of this run's Job (to read its logs) "
            f"in namespace {self.namespace}: ask for list on pods."
        )

    @property
    def list_pods_for_events(self) -> str:
        return (
            "Some Events could not be read: You may not list the pods of this run's Job "
            f"(for their Events) in namespace {self.namespace}: ask for list on pods."
        )

    @property
    def get_logs(self) -> str:
        return (
            f"You may not read this run's pod logs in namespace {self.namespace}: "
            "ask for get on pods/log."
        )

    @property
    def list_events(self) -> str:
        return (
            "Some Events could not be read: You may not read the Kubernetes Events of this run "
            f"in namespace {self.namespace}: ask for list on events."
        )


@dataclass(frozen=True)
class Limited:
    """Kubeconfigs of ServiceAccounts that may read the kflow objects but not all of a run."""

    no_pods: Path
    """Also Events; no pods."""
    no_logs: Path
    """Also Events and pods; not pods/log."""
    no_events: Path
    """Nothing else."""


@pytest.fixture
def limited(cluster: Cluster, kubeconfig: Path, tmp_path: Path) -> Limited:
    no_pods = view_only_kubeconfig(cluster, kubeconfig, tmp_path)
    account_with_rules(cluster, "no-logs", [KFLOW_READ, READ_EVENTS, LIST_PODS])
    account_with_rules(cluster, "no-events", [KFLOW_READ])
    return Limited(
        no_pods,
        service_account_kubeconfig(cluster, kubeconfig, tmp_path, "no-logs"),
        service_account_kubeconfig(cluster, kubeconfig, tmp_path, "no-events"),
    )


def test_each_section_says_which_right_a_person_lacks(
    cluster: Cluster, job_run: dict[str, Any], dashboards: DashboardFactory, limited: Limited
) -> None:
    refusals = Refusals(cluster.namespace)
    pod = pod_of(cluster)

    page = f"{dashboards.start(limited.no_pods).url}/runs/{cluster.namespace}/r"
    text = text_with("the run's own Events", page, "FlowRun/r", "SuccessfulCreate")
    assert refusals.list_pods_for_logs in text and refusals.list_pods_for_events in text
    assert f"Pod/{pod}" not in text and SLEEPING not in text and not raw_refusal(text)

    page = f"{dashboards.start(limited.no_logs).url}/runs/{cluster.namespace}/r"
    text = text_with("the pod's Events", page, f"Pod/{pod}", "FlowRun/r")
    assert refusals.get_logs in text and "could not be read" not in text
    assert SLEEPING not in text and not raw_refusal(text)
    assert refusals.get_logs in page_text(f"{page}/logs?fragment=live")

    page = f"{dashboards.start(limited.no_events).url}/runs/{cluster.namespace}/r"
    text = page_text(page)
    assert refusals.list_events in text and refusals.list_pods_for_logs in text
    assert "FlowRun/r" not in text and not raw_refusal(text)


def test_through_token_auth_a_runs_sections_are_read_as_the_person(
    cluster: Cluster,
    job_run: dict[str, Any],
    dashboards: DashboardFactory,
    limited: Limited,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    """The dashboard runs with admin rights; what a signed-in person sees of a run's logs and
    Events is still what their own RBAC lets them read."""
    refusals = Refusals(cluster.namespace)
    pod = pod_of(cluster)
    exposed = DashboardProcess.launch(
        ["--namespace", cluster.namespace, "--auth", "token"],
        {"KUBECONFIG": str(kubeconfig)},
        tmp_path / "exposed.log",
    )
    dashboards.started.append(exposed)
    page = f"{exposed.url}/runs/{cluster.namespace}/r"
    no_logs, no_pods = token_of(limited.no_logs), token_of(limited.no_pods)
    text = text_with("the pod's Events", page, f"Pod/{pod}", token=no_logs)
    assert refusals.get_logs in text and SLEEPING not in text
    assert refusals.get_logs in page_text(f"{page}/logs?fragment=live", no_logs)
    text = page_text(page, no_pods)
    assert refusals.list_pods_for_logs in text and refusals.list_pods_for_events in text
    assert f"Pod/{pod}" not in text
    account_with_rules(cluster, "reader", [KFLOW_READ, READ_EVENTS, LIST_PODS, READ_POD_LOGS])
    reader = token_of(service_account_kubeconfig(cluster, kubeconfig, tmp_path, "reader"))
    text = text_with("the pod's log line", page, SLEEPING, f"Pod/{pod}", token=reader)
    assert "You may not" not in text and "could not be read" not in text


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
    text_with("the logs' own page", f"{page}/logs?fragment=live", SLEEPING)
