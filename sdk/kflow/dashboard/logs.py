"""The last lines of a run's output for the run page, wherever its infrastructure keeps them
(as `kflow flow-run logs` finds them, kflow.cluster.logs): the process launcher's log file,
the container's logs, or the newest pod of the run's Job. Reading never blocks the event
loop, and a place that cannot be read is said, not raised: for a person who may not read the
pod's logs, with the right to ask for (kflow.dashboard.refusals)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kflow.cluster.logs import docker_api_url, job_pod_selector
from kflow.cluster.rest import TRANSPORT_ERRORS, ApiError, KubeRestClient
from kflow.dashboard.refusals import is_refused, pod_logs_refusal

TAIL_LINES = 200
TAIL_BYTES = 256 * 1024
"""At most this much of the end of a log file is read for its last lines."""


@dataclass(frozen=True)
class LogTail:
    lines: tuple[str, ...]
    source: str
    """Where the lines come from (a file, a container, a pod), for the page to say."""
    problem: str | None = None


def read_tail(rest: KubeRestClient, run: Mapping[str, Any]) -> LogTail:
    infrastructure = (run.get("status") or {}).get("infrastructure") or {}
    kind = infrastructure.get("type")
    ident = str(infrastructure.get("id") or "")
    if kind == "process" and infrastructure.get("logPath"):
        return file_tail(Path(str(infrastructure["logPath"])))
    if kind == "kubernetes-job" and ident:
        return pod_tail(rest, ident)
    if kind == "docker" and ident:
        return container_tail(docker_api_url(str(infrastructure.get("scope") or "")), ident)
    return LogTail((), "", "No output yet: the run has not been started.")


def last_lines(text: str, cut: bool) -> tuple[str, ...]:
    """The last TAIL_LINES lines; the first line is dropped when the text was cut."""
    lines = text.splitlines()
    if cut and lines:
        lines = lines[1:]
    return tuple(lines[-TAIL_LINES:])


def file_tail(path: Path) -> LogTail:
    source = f"file {path}"
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            log.seek(max(0, size - TAIL_BYTES))
            data = log.read()
    except FileNotFoundError:
        return LogTail(
            (),
            source,
            "The log file is not on this machine: process runs keep their "
            "output on the host of the operator that started them.",
        )
    except OSError as error:
        return LogTail((), source, f"The log file cannot be read: {error}")
    return LogTail(last_lines(data.decode("utf-8", errors="replace"), size > TAIL_BYTES), source)


def pod_tail(rest: KubeRestClient, job_id: str) -> LogTail:
    namespace, selector = job_pod_selector(job_id)
    pod = ""
    try:
        pods = rest.get(f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": selector})
        items = pods.get("items") or []
        if not items:
            return LogTail((), f"Job {job_id}", "The Job has no pods (yet, or any more).")
        newest = max(items, key=lambda p: str(p["metadata"].get("creationTimestamp") or ""))
        pod = str(newest["metadata"]["name"])
        text = rest.get_text(
            f"/api/v1/namespaces/{namespace}/pods/{pod}/log", {"tailLines": str(TAIL_LINES)}
        )
    except ApiError as error:
        source = f"pod {namespace}/{pod}" if pod else f"Job {job_id}"
        if is_refused(error):
            return LogTail((), source, pod_logs_refusal(namespace, finding_pod=not pod))
        return LogTail((), source, f"{error.status} {error.reason}: {error.message}")
    except TRANSPORT_ERRORS as error:
        return LogTail((), f"Job {job_id}", f"The API server cannot be reached ({error}).")
    return LogTail(last_lines(text, False), f"pod {namespace}/{pod}")


def container_tail(api_url: str, container_id: str) -> LogTail:
    import docker
    from docker.errors import DockerException, NotFound

    source = f"container {container_id[:12]} on {api_url}"
    try:
        container = docker.DockerClient(base_url=api_url).containers.get(container_id)
        data = container.logs(tail=TAIL_LINES)
    except NotFound:
        return LogTail((), source, "The container no longer exists.")
    except DockerException as error:
        return LogTail((), source, f"The Docker engine cannot be reached: {error}")
    return LogTail(last_lines(data.decode("utf-8", errors="replace"), False), source)
