"""Flows the launcher e2e tests run inside containers and Job pods (image: tests.support.images).

Each prints a marker line, so a test can tell from the run's logs what happened inside.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from kflow import flow


@flow
def adds(a: int, b: int) -> int:
    print(f"adding {a} and {b}", flush=True)
    return a + b


@flow
def fails() -> None:
    raise ValueError("the flow failed on purpose")


@flow
def sleeps(seconds: float) -> str:
    print(f"sleeping {seconds}s", flush=True)
    time.sleep(seconds)
    return "woke up"


def note_cancellation(flow: Any, flow_run: Any, state: Any) -> None:
    print(f"on_cancellation hook ran: {state.type.value}", flush=True)


@flow(on_cancellation=[note_cancellation])
def waits_for_cancel() -> None:
    print("waiting to be cancelled", flush=True)
    for _ in range(6000):
        time.sleep(0.1)


@flow
def ignores_sigterm() -> None:
    """Unresponsive: SIGTERM ignored, the main thread stuck in one long C-level sleep."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ignoring SIGTERM", flush=True)
    time.sleep(600)


@flow
def hogs_memory(megabytes: int) -> None:
    print(f"allocating {megabytes} MiB", flush=True)
    chunks = [b"x" * (1 << 20) for _ in range(megabytes)]
    print(f"allocated {len(chunks)} MiB", flush=True)


@flow
def probes_access() -> dict[str, Any]:
    """Who the flow is to the Kubernetes API and what it may do there: the HTTP status of each
    attempt (200 allowed, 403 refused), as the flow's own credentials see it."""
    import os

    from kflow.cluster.kubernetes_client import new_api_client
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = new_api_client()
    core: Any = client.CoreV1Api(api)
    objects: Any = client.CustomObjectsApi(api)
    namespace = os.environ["KFLOW_FLOW_RUN_NAMESPACE"]
    name = os.environ["KFLOW_FLOW_RUN_NAME"]
    flowruns = ("kflow.dev", "v1alpha1")

    def status(call: Any) -> int:
        try:
            call()
        except ApiException as error:
            return int(error.status)
        return 200

    review = client.V1SelfSubjectReview(
        api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"
    )
    user = client.AuthenticationV1Api(api).create_self_subject_review(review)
    assert user.status is not None and user.status.user_info is not None, user
    return {
        "user": user.status.user_info.username,
        "read own FlowRun": status(
            lambda: objects.get_namespaced_custom_object(*flowruns, namespace, "flowruns", name)
        ),
        "patch own FlowRun status": status(
            lambda: objects.patch_namespaced_custom_object_status(
                *flowruns, namespace, "flowruns", name, {"status": {}}
            )
        ),
        "read a FlowRun of another namespace": status(
            lambda: objects.get_namespaced_custom_object(*flowruns, "default", "flowruns", name)
        ),
        "list pods": status(lambda: core.list_namespaced_pod(namespace)),
        "list secrets": status(lambda: core.list_namespaced_secret(namespace)),
        "create FlowRun": status(
            lambda: objects.create_namespaced_custom_object(
                *flowruns,
                namespace,
                "flowruns",
                {
                    "apiVersion": "kflow.dev/v1alpha1",
                    "kind": "FlowRun",
                    "metadata": {"name": f"{name}-copy"},
                    "spec": {"deploymentRef": {"name": "d"}},
                },
            )
        ),
    }
