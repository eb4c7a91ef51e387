"""What the Docker launcher calls things: containers, their labels, its scope.

Containers are labelled with the FlowRun's namespace, name and UID and with the cluster's
identity (UID of kube-system), so an operator re-adopts its runs after a restart and the
sweeper can tell which FlowRun a container belongs to.

Scope = `<Docker API URL>#<daemon ID>`: the URL alone (`unix:///var/run/docker.sock`) is the
same string on every host; the daemon ID tells engines apart. Readers that need the URL (the
CLI's log reader) take the part before the last `#` (`docker_api_url`).
"""

from __future__ import annotations

from kflow_operator.infrastructure import LaunchRequest
from kflow_operator.launchers.ownership import RUN_UID_LABEL

LABEL_PREFIX = "kflow.dev/"
LABEL_NAMESPACE = f"{LABEL_PREFIX}flow-run-namespace"
LABEL_NAME = f"{LABEL_PREFIX}flow-run-name"
LABEL_UID = RUN_UID_LABEL
"""The run's UID: what tells whose a container is (launchers/ownership.py)."""
LABEL_ATTEMPT = f"{LABEL_PREFIX}attempt"
LABEL_CLUSTER = f"{LABEL_PREFIX}cluster"

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def docker_scope(api_url: str, daemon_id: str) -> str:
    return f"{api_url}#{daemon_id}"


def docker_api_url(scope: str) -> str:
    """The API URL of a docker scope (everything before the last `#`)."""
    url, sep, _ = scope.rpartition("#")
    return url if sep else scope


def container_name(request: LaunchRequest) -> str:
    """`kflow-<run name>-<launch key>`, deterministic per attempt, within Docker's name rules."""
    run = "".join(c if c in _NAME_CHARS else "-" for c in request.name)[:100]
    return f"kflow-{run}-{request.launch_key}"


def container_labels(request: LaunchRequest, cluster: str) -> dict[str, str]:
    return {
        LABEL_NAMESPACE: request.namespace,
        LABEL_NAME: request.name,
        LABEL_UID: request.uid,
        LABEL_ATTEMPT: str(request.attempt),
        LABEL_CLUSTER: cluster,
    }
