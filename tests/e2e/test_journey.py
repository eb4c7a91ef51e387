"""The README's journey, as a user types it, on a real node with the Helm-installed operator.

helm install → operator Ready → kubectl apply -f examples/deployment.yaml → a scheduled run and
a `kflow deployment run` run both COMPLETED, with result and logs → a long run cancelled with
`kubectl patch` → CANCELLED, pod gone → helm upgrade (2 replicas) keeps runs and Deployments →
the acting operator pod deleted mid-run, the standby takes over and the run completes and is
recorded → helm upgrade with the Docker launcher, a Docker run completes with only the flow's
own rights → helm uninstall leaves no operator objects.

It is one test because each step stands on the previous one; a failure names the step, lists
the steps that passed, and appends what a user would look at (runs, pods, operator logs).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import cluster, paths
from tests.cluster.kubectl import Kubectl, KubectlError, poll
from tests.support import images
from tests.support.chart import CHART, REPO, HelmError, helm
from tests.support.operator_image import build_operator_image
from tests.support.port_forward import port_forward

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

RELEASE = "kflow"
RELEASE_NAMESPACE = "kflow-system"
OPERATOR_SELECTOR = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=operator"
EXAMPLE = REPO / "examples" / "deployment.yaml"
EXAMPLE_DEPLOYMENT = "example-workflow"
EXAMPLE_RESULT = {"count": 5, "sum_of_squares": 55.0}  # 1 + 4 + 9 + 16 + 25
EXAMPLE_LOG_LINE = "Hello, kflow!"
EXAMPLE_IMAGE = "docker.io/kflow/example-flows:0.1.0"  # what examples/deployment.yaml names
SLOW_DEPLOYMENT = "sleeper"
DOCKER_DEPLOYMENT = "in-docker"
TEST_FLOWS = REPO / "tests" / "support" / "flows"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def kflow_cli(*args: str, timeout: float = 60) -> str:
    """The `kflow` console script of this environment, as a user runs it."""
    executable = Path(sys.executable).with_name("kflow")
    proc = subprocess.run(
        [str(executable), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kflow {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc.stdout


def docker(docker_host: str, *args: str, timeout: float = 600) -> str:
    proc = subprocess.run(
        ["docker", "--host", docker_host, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {proc.stderr[-3000:]}")
    return proc.stdout


def load_into_nodes(kubeconfig: Path, image: str) -> None:
    """`kind load docker-image`, or the local cluster's equivalent."""
    if kubeconfig == paths.admin_kubeconfig():
        cluster.load_image(image)
        return
    kind_cluster = os.environ.get("KFLOW_KIND_CLUSTER", "kflow")
    if shutil.which("kind") is None:
        raise RuntimeError(
            f"cannot load {image} into the cluster of {kubeconfig}: kind is not on PATH "
            "(load it into your nodes yourself, or use kind: see docs/helm.md)"
        )
    subprocess.run(
        ["kind", "load", "docker-image", image, "--name", kind_cluster],
        check=True,
        capture_output=True,
    )


def example_image(docker_host: str) -> str:
    """examples/Dockerfile over the runtime image, tagged as examples/deployment.yaml names it."""
    built = images.example_image(docker_host)
    docker(docker_host, "tag", built, EXAMPLE_IMAGE)
    return EXAMPLE_IMAGE


@dataclass
class Journey:
    """Runs the steps in order; a failure says which step, after which, with diagnostics."""

    admin: Kubectl
    namespace: str
    passed: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        except Exception as error:
            done = "".join(f"\n  ok   {line}" for line in self.passed) or "\n  (none)"
            raise AssertionError(
                f"journey step {len(self.passed) + 1} FAILED: {title}\n"
                f"cause: {error}\n"
                f"steps that passed:{done}\n\n{self.diagnostics()}"
            ) from error
        self.passed.append(f"{title} ({time.monotonic() - started:.1f}s)")

    def diagnostics(self) -> str:
        sections = []
        for title, args in (
            ("kubectl get kflow,jobs,pods", ("get", "kflow,jobs,pods", "-o", "wide")),
            ("flow runs (status)", ("get", "flowruns", "-o", "yaml")),
            ("events", ("get", "events", "--sort-by=.lastTimestamp")),
        ):
            sections.append(self._section(title, self.admin.in_namespace(self.namespace), args))
        operator = self.admin.in_namespace(RELEASE_NAMESPACE)
        sections.append(self._section("operator pods", operator, ("get", "pods", "-o", "wide")))
        sections.append(
            self._section(
                "operator logs",
                operator,
                ("logs", "-l", OPERATOR_SELECTOR, "--tail=80", "--prefix", "--all-containers"),
            )
        )
        return "\n".join(sections)

    @staticmethod
    def _section(title: str, kubectl: Kubectl, args: tuple[str, ...]) -> str:
        try:
            body = kubectl.run(*args, timeout=20)
        except (KubectlError, subprocess.TimeoutExpired) as error:
            body = f"(unavailable: {error})"
        return f"--- {title} ---\n{body[-6000:]}"

    # What a user reads back, through kubectl.

    def kubectl(self) -> Kubectl:
        return self.admin.in_namespace(self.namespace)

    def flowrun(self, name: str) -> dict[str, Any]:
        return dict(self.kubectl().get_json("flowrun", name))

    def state_of(self, name: str) -> str | None:
        state = (self.flowrun(name).get("status") or {}).get("state") or {}
        return state.get("type")

    def wait_for_state(self, name: str, wanted: str, timeout: float) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            run = self.flowrun(name)
            state = ((run.get("status") or {}).get("state") or {}).get("type")
            if state in TERMINAL and state != wanted:
                raise AssertionError(f"FlowRun {name} ended {state}, not {wanted}: {run['status']}")
            return run if state == wanted else None

        return dict(poll(f"FlowRun {name} to be {wanted}", reached, timeout, interval=1))

    def operator_pods(self) -> list[dict[str, Any]]:
        pods = self.admin.in_namespace(RELEASE_NAMESPACE).get_json("pods", "-l", OPERATOR_SELECTOR)
        return list(pods["items"])

    def ready_operator_pod(self, timeout: float, not_named: str | None = None) -> str:
        def ready() -> str | None:
            for pod in self.operator_pods():
                conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
                name = str(pod["metadata"]["name"])
                terminating = pod["metadata"].get("deletionTimestamp")
                if conditions.get("Ready") == "True" and not terminating and name != not_named:
                    return name
            return None

        return str(poll("an operator pod to be Ready", ready, timeout, interval=1))

    def ready_operator_pods(self, count: int, timeout: float) -> list[str]:
        def ready() -> list[str] | None:
            names = []
            for pod in self.operator_pods():
                conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
                if conditions.get("Ready") == "True" and not pod["metadata"].get(
                    "deletionTimestamp"
                ):
                    names.append(str(pod["metadata"]["name"]))
            return sorted(names) if len(names) == count else None

        return list(poll(f"{count} operator pods to be Ready", ready, timeout, interval=1))

    def acting_operator_pod(self, replicas: list[str]) -> str:
        """The replica with the highest priority in the Kopf peering object: the one acting.
        kflow names a replica `hostname/boot-id/PID@ticks`; in a pod the host name is the pod's."""

        def acting() -> str | None:
            peering = self.kubectl().get_json("kopfpeering", "kflow")
            peers = {
                identity.split("/")[0]: info["priority"]
                for identity, info in (peering.get("status") or {}).items()
                if isinstance(info, dict) and "priority" in info
            }
            if not set(replicas) <= set(peers):
                return None
            return max(replicas, key=lambda name: peers[name])

        return str(poll("both replicas in the peering object", acting, timeout=60, interval=1))

    def operator_log(self, pod: str) -> str:
        return self.admin.in_namespace(RELEASE_NAMESPACE).run("logs", pod, timeout=20)

    def flow_pods(self, run_name: str) -> list[str]:
        pods = self.kubectl().get_json("pods")["items"]
        name = job_name(self.flowrun(run_name))
        return [
            p["metadata"]["name"]
            for p in pods
            if name and p["metadata"].get("labels", {}).get("job-name") == name
        ]


def job_name(flowrun: dict[str, Any]) -> str:
    """The Job's name from the run's infrastructure id, `namespace/name@uid`."""
    identifier = ((flowrun.get("status") or {}).get("infrastructure") or {}).get("id", "")
    return str(identifier).rpartition("/")[2].partition("@")[0]


def helm_as_user(kubeconfig: Path, *args: str) -> str:
    return helm(*args, kubeconfig=kubeconfig, timeout=600)


def helm_upgrade(kubeconfig: Path, *values: str) -> None:
    """`helm upgrade` of the release keeping its values, with `--set` for each of `values`."""
    sets = [arg for value in values for arg in ("--set", value)]
    helm_as_user(
        kubeconfig,
        "upgrade",
        RELEASE,
        str(CHART),
        "--namespace",
        RELEASE_NAMESPACE,
        "--reuse-values",
        *sets,
    )


def remove_leftover_release(kubeconfig: Path) -> None:
    """A release left by an interrupted earlier run (a fresh cluster has none)."""
    with contextlib.suppress(HelmError):
        helm_as_user(kubeconfig, "uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait")


@contextlib.contextmanager
def one_journey_at_a_time() -> Iterator[None]:
    """Sessions sharing this machine's cluster take turns: the release and its cluster-scoped
    objects have fixed names, and a second install would uninstall the first's."""
    lock_path = paths.cache_root() / "journey.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def release_objects(admin: Kubectl) -> list[str]:
    """Everything the release created that still exists, as kind/name."""
    found: list[str] = []
    namespaced = admin.in_namespace(RELEASE_NAMESPACE).run(
        "get",
        "deployments.apps,replicasets,pods,serviceaccounts,roles,rolebindings",
        "-l",
        f"app.kubernetes.io/instance={RELEASE}",
        "-o",
        "name",
    )
    cluster_scoped = admin.run(
        "get",
        "clusterroles,clusterrolebindings,clusterkopfpeerings,kopfpeerings,roles,rolebindings",
        "--all-namespaces",
        "-l",
        f"app.kubernetes.io/instance={RELEASE}",
        "-o",
        "name",
    )
    found += namespaced.split() + cluster_scoped.split()
    return found


@pytest.fixture
def journey_namespace(node_cluster: Path) -> Iterator[str]:
    admin = Kubectl(node_cluster)
    namespace = f"journey-{uuid.uuid4().hex[:8]}"
    admin.run("create", "namespace", namespace)
    yield namespace
    # FlowRuns keep the operator's finalizer once the operator is gone; drop it so the
    # namespace can go (what a user does after `helm uninstall`, see docs/helm.md).
    scoped = admin.in_namespace(namespace)
    with contextlib.suppress(KubectlError):
        for name in scoped.run("get", "flowruns,deployments.kflow.dev", "-o", "name").split():
            scoped.run("patch", name, "--type", "merge", "-p", '{"metadata":{"finalizers":null}}')
    admin.run("delete", "namespace", namespace, "--wait=false")


def test_the_readme_journey(node_cluster: Path, docker_engine: str, journey_namespace: str) -> None:
    admin = Kubectl(node_cluster)
    journey = Journey(admin, journey_namespace)
    user = journey.kubectl()
    with one_journey_at_a_time():
        try:
            _walk(journey, admin, user, node_cluster, docker_engine)
            print("journey steps:" + "".join(f"\n  ok   {line}" for line in journey.passed))
        finally:
            with contextlib.suppress(HelmError):
                helm_as_user(node_cluster, "uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE)


def _walk(
    journey: Journey,
    admin: Kubectl,
    user: Kubectl,
    kubeconfig: Path,
    docker_host: str,
) -> None:
    namespace = journey.namespace
    with journey.step("build the operator and runtime images and load them into the node"):
        remove_leftover_release(kubeconfig)
        test_flows = images.flows_image(docker_host, TEST_FLOWS)
        for image in (build_operator_image(docker_host), example_image(docker_host), test_flows):
            load_into_nodes(kubeconfig, image)

    # Serving only the journey's namespace: other suites' operators in other namespaces of the
    # same cluster stay undisturbed (and the per-namespace Role path is the one exercised).
    with journey.step(f"helm install {RELEASE} charts/kflow --set watchNamespaces={{{namespace}}}"):
        out = helm_as_user(
            kubeconfig,
            "install",
            RELEASE,
            str(CHART),
            "--namespace",
            RELEASE_NAMESPACE,
            "--create-namespace",
            "--set",
            f"watchNamespaces={{{namespace}}}",
        )
        assert "rollout status deployment/kflow" in out, f"NOTES missing the next commands:\n{out}"

    with journey.step("the operator pod becomes Ready"):
        admin.in_namespace(RELEASE_NAMESPACE).run(
            "rollout", "status", "deployment/kflow", "--timeout=180s", timeout=200
        )
        first_operator = journey.ready_operator_pod(timeout=60)

    with journey.step("the chart's default work pool exists, served by the operator"):

        def served_pool() -> dict[str, Any] | None:
            pools = user.get_json("workpools")["items"]
            pool = next((p for p in pools if p["metadata"]["name"] == "default"), None)
            if pool is None:
                return None
            ready = {
                c["type"]: c["status"] for c in (pool.get("status") or {}).get("conditions") or []
            }
            return pool if ready.get("Ready") == "True" else None

        pool = poll("pool default Ready (a worker heartbeating)", served_pool, timeout=90)
        assert pool["spec"]["type"] == "kubernetes-job", pool["spec"]
        assert pool["status"]["workers"], pool["status"]

    with journey.step("kubectl apply -f examples/deployment.yaml"):
        user.run("apply", "-f", str(EXAMPLE))
        assert EXAMPLE_DEPLOYMENT in user.run("get", "kflow")

    with journey.step("kflow deployment run example-workflow starts a run"):
        manual = kflow_cli("deployment", "run", EXAMPLE_DEPLOYMENT, "-n", namespace).strip()
        assert manual, "kflow deployment run printed no FlowRun name"

    with journey.step("the schedule starts a run within its minute"):

        def scheduled_run() -> str | None:
            runs = user.get_json("flowruns")["items"]
            names = [
                r["metadata"]["name"]
                for r in runs
                if r["metadata"]["name"] != manual
                and r["spec"].get("deploymentRef", {}).get("name") == EXAMPLE_DEPLOYMENT
            ]
            return sorted(names)[0] if names else None

        scheduled = str(poll("a FlowRun created by the schedule", scheduled_run, timeout=150))

    with journey.step("both runs reach COMPLETED with the flow's result"):
        for name in (manual, scheduled):
            run = journey.wait_for_state(name, "COMPLETED", timeout=240)
            result = run["status"].get("result")
            assert result is not None, f"{name} has no result: {run['status']}"
            shown = json.dumps(result)
            assert "55" in shown and "sum_of_squares" in shown, f"{name} result: {result}"
        listed = user.run("get", "fr")
        assert manual in listed and scheduled in listed and "COMPLETED" in listed.upper()

    with journey.step("the run's logs show in kubectl logs and kflow flow-run logs"):
        selector = f"kflow.dev/flow-run-name={manual}"
        jobs = user.run("get", "jobs", "-l", selector, "-o", "name").split()
        pods = user.run("get", "pods", "-l", selector, "-o", "name").split()
        assert pods, (
            f"FlowRun {manual} is COMPLETED but no pod of it is left (Jobs: {jobs or 'none'}), "
            "so neither kubectl logs nor kflow flow-run logs can show its output; "
            "examples/deployment.yaml asks to keep finished Jobs an hour (ttlSecondsAfterFinished)"
        )
        assert EXAMPLE_LOG_LINE in user.run("logs", "-l", selector, "--tail=-1")
        assert EXAMPLE_LOG_LINE in kflow_cli("flow-run", "logs", manual, "-n", namespace)

    with journey.step("helm upgrade --set dashboard.enabled=true: the dashboard shows the runs"):
        helm_upgrade(kubeconfig, "dashboard.enabled=true")
        admin.in_namespace(RELEASE_NAMESPACE).run(
            "rollout", "status", f"deployment/{RELEASE}-dashboard", "--timeout=180s", timeout=200
        )
        with port_forward(
            kubeconfig, RELEASE_NAMESPACE, f"deployment/{RELEASE}-dashboard", 4200
        ) as port:
            answered: list[str] = []

            def runs_page() -> str | None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/runs", timeout=5) as r:
                        text = str(r.read().decode())
                except OSError as error:
                    answered[:] = [f"GET /runs: {error}"]
                    return None
                answered[:] = [text[-3000:]]
                return text if manual in text and scheduled in text else None

            try:
                page = str(poll("the dashboard's runs page listing both runs", runs_page, 120))
            except TimeoutError as error:
                raise AssertionError(f"{error}; last answer: {answered}") from error
        assert "Completed" in page or "COMPLETED" in page, page[:2000]

    with journey.step("a long run is cancelled with kubectl patch"):
        user.apply(sleeper_deployment(test_flows, grace_seconds=10))
        long_run = kflow_cli(
            "deployment", "run", SLOW_DEPLOYMENT, "-n", namespace, "-p", "seconds=600"
        ).strip()
        journey.wait_for_state(long_run, "RUNNING", timeout=120)
        user.run("patch", "flowrun", long_run, "--type", "merge", "-p", '{"spec":{"cancel":true}}')
        journey.wait_for_state(long_run, "CANCELLED", timeout=90)

    with journey.step("the cancelled run's pod is gone"):
        poll(
            f"the pods of {long_run} to go",
            lambda: not journey.flow_pods(long_run),
            timeout=60,
        )

    with journey.step("helm upgrade to 2 replicas (verbose) keeps runs and Deployments"):
        before = {
            item["metadata"]["uid"]
            for item in user.get_json("flowruns,deployments.kflow.dev")["items"]
        }
        helm_upgrade(kubeconfig, "logging.verbose=true", "replicaCount=2")
        admin.in_namespace(RELEASE_NAMESPACE).run(
            "rollout", "status", "deployment/kflow", "--timeout=180s", timeout=200
        )
        replicas = journey.ready_operator_pods(2, timeout=120)
        assert first_operator not in replicas, "the upgrade must replace the operator pod"
        for name in replicas:
            pod = admin.in_namespace(RELEASE_NAMESPACE).get_json("pod", name)
            assert "--verbose" in pod["spec"]["containers"][0]["args"]
        after = {
            item["metadata"]["uid"]
            for item in user.get_json("flowruns,deployments.kflow.dev")["items"]
        }
        assert before <= after, f"lost in the upgrade: {before - after}"
        assert journey.state_of(manual) == "COMPLETED"

    with journey.step("the acting operator pod is deleted mid-run; the standby takes over"):
        survivor = kflow_cli(
            "deployment", "run", SLOW_DEPLOYMENT, "-n", namespace, "-p", "seconds=25"
        ).strip()
        journey.wait_for_state(survivor, "RUNNING", timeout=120)
        acting = journey.acting_operator_pod(replicas)
        (standby,) = [name for name in replicas if name != acting]
        admin.in_namespace(RELEASE_NAMESPACE).run("delete", "pod", acting, "--wait=true")
        assert journey.state_of(survivor) == "RUNNING"
        poll(
            f"standby {standby} to resume operations",
            lambda: "Resuming operations" in journey.operator_log(standby),
            timeout=90,
            interval=1,
        )

    with journey.step("the run still completes, and the new acting operator records its end"):
        run = journey.wait_for_state(survivor, "COMPLETED", timeout=180)
        assert run["status"].get("endTime"), f"no endTime recorded: {run['status']}"
        assert "woke up" in json.dumps(run["status"].get("result")), run["status"]

        def finished() -> bool:
            conditions = journey.flowrun(survivor)["status"].get("conditions") or []
            return any(c["type"] == "Finished" and c["status"] == "True" for c in conditions)

        poll(f"the operator to mark {survivor} Finished", finished, timeout=90, interval=1)

    with journey.step(
        "helm upgrade with the Docker launcher: a Docker run completes as the flow's own account"
    ):
        assert docker_host.startswith("unix://"), (
            f"the chart mounts a node's Docker socket; DOCKER_HOST={docker_host} is not one"
        )
        socket_path = docker_host.removeprefix("unix://")
        helm_upgrade(
            kubeconfig,
            "launchers.docker.enabled=true",
            # The node's socket (here under /root, which the non-root operator could not
            # traverse) is mounted at the pod's /var/run/docker.sock.
            "launchers.docker.host=unix:///var/run/docker.sock",
            f"launchers.docker.socketHostPath={socket_path}",
            f"launchers.docker.socketGroup={os.stat(socket_path).st_gid}",
        )
        admin.in_namespace(RELEASE_NAMESPACE).run(
            "rollout", "status", "deployment/kflow", "--timeout=180s", timeout=200
        )
        user.apply(docker_probe_deployment(test_flows))
        in_docker = kflow_cli("deployment", "run", DOCKER_DEPLOYMENT, "-n", namespace).strip()
        run = journey.wait_for_state(in_docker, "COMPLETED", timeout=180)
        assert run["status"]["infrastructure"]["type"] == "docker", run["status"]
        seen = run["status"]["result"]["value"]
        assert seen["user"] == f"system:serviceaccount:{namespace}:kflow-flow-run", seen
        assert seen["read own FlowRun"] == 200 and seen["patch own FlowRun status"] == 200, seen
        assert seen["list pods"] == 403 and seen["list secrets"] == 403, seen
        # Deleted while the operator runs, the run takes its container along.
        user.run("delete", "flowrun", in_docker, "--wait=true", timeout=120)
        poll(
            f"the container of {in_docker} to be removed",
            lambda: (
                not docker(
                    docker_host,
                    "ps",
                    "-aq",
                    "--filter",
                    f"label=kflow.dev/flow-run-name={in_docker}",
                ).strip()
            ),
            timeout=60,
        )

    with journey.step(f"helm uninstall {RELEASE} leaves no operator objects, keeps the CRDs"):
        helm_as_user(kubeconfig, "uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait")
        poll("the release's objects to go", lambda: not release_objects(admin), timeout=120)
        for crd in ("deployments.kflow.dev", "flowruns.kflow.dev"):
            admin.run("get", "crd", crd)
        assert user.get_json("flowruns")["items"], "helm uninstall must not delete users' runs"


def docker_probe_deployment(image: str) -> str:
    """A flow that reports who it is to the API and what it may do (tests/support/flows), run as
    a Docker container by the Helm-installed operator."""
    return json.dumps(
        {
            "apiVersion": "kflow.dev/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": DOCKER_DEPLOYMENT},
            "spec": {
                "entrypoint": "launcher_flows.py:probes_access",
                "infrastructure": {"type": "docker", "image": image},
            },
        }
    )


def sleeper_deployment(image: str, grace_seconds: int) -> str:
    """A flow that sleeps as long as asked (tests/support/flows): to cancel, and to outlive
    an operator pod."""
    return json.dumps(
        {
            "apiVersion": "kflow.dev/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": SLOW_DEPLOYMENT},
            "spec": {
                "entrypoint": "launcher_flows.py:sleeps",
                "cancelGracePeriodSeconds": grace_seconds,
                "infrastructure": {
                    "type": "kubernetes-job",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                },
            },
        }
    )
