"""A FlowRun's output, wherever its infrastructure keeps it.

The flow process logs to stdout, so the output lives with the infrastructure: the file the
process launcher records in `status.infrastructure.logPath`, the container's logs (docker), or
the pod's logs (kubernetes-job, `id` = `namespace/job-name`). `follow` first waits for the run
to start (log_follow.py), then keeps printing until the run is over.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from kubernetes import client

from kflow.cluster.flowrun_api import FlowRunApi
from kflow.cluster.log_follow import (
    STATE_CHECK_SECONDS,
    FlowRunReader,
    Notes,
    run_is_over,
    wait_for_launch,
    wait_for_start,
)

POLL_SECONDS = 0.2


class LogsUnavailable(RuntimeError):
    """The run's output cannot be found; the message says why and what to try."""


def write_flow_run_logs(
    api_client: client.ApiClient,
    api: FlowRunApi,
    follow: bool,
    out: TextIO,
    notes_out: TextIO = sys.stderr,
) -> None:
    """Print the run's output; with `follow`, wait for it to start (saying on `notes_out` what
    it waits for) and keep printing until it is over."""
    notes = Notes(api.name, notes_out) if follow else None
    if notes is not None:
        started = wait_for_launch(api.get, notes)
        if started is None:
            return
        obj = started
    else:
        obj = api.get()
    infrastructure = (obj.get("status") or {}).get("infrastructure") or {}
    kind = infrastructure.get("type")
    state = ((obj.get("status") or {}).get("state") or {}).get("type", "not started")
    if kind == "process":
        log_path = infrastructure.get("logPath")
        if not log_path:
            raise LogsUnavailable(
                f"FlowRun {api.name} records no log file yet (state {state}); "
                "the process launcher sets status.infrastructure.logPath when it starts the run"
            )
        _copy_file(Path(log_path), out, api.get if follow else None)
    elif kind == "docker":
        api_url = docker_api_url(str(infrastructure.get("scope") or ""))
        _docker_logs(api_url, str(infrastructure.get("id")), out, _following(api, notes))
    elif kind == "kubernetes-job":
        _job_logs(api_client, str(infrastructure.get("id")), out, _following(api, notes))
    else:
        raise LogsUnavailable(
            f"FlowRun {api.name} has no infrastructure yet (state {state}); "
            "its logs exist once the operator has started it"
        )


def _copy_file(
    path: Path, out: TextIO, read_flow_run: Callable[[], Mapping[str, Any]] | None
) -> None:
    """Print the file; with `read_flow_run`, keep printing until the run is over."""
    if not path.is_file() and read_flow_run is None:
        raise LogsUnavailable(
            f"log file {path} does not exist on this machine; process runs keep their output "
            "on the host of the operator that started them"
        )
    deadline_to_appear = time.monotonic() + 30
    while not path.is_file():
        if time.monotonic() > deadline_to_appear:
            raise LogsUnavailable(f"log file {path} did not appear within 30 s")
        time.sleep(POLL_SECONDS)
    with path.open("r", encoding="utf-8", errors="replace") as src:
        last_check = 0.0
        over = False
        while True:
            chunk = src.read(65536)
            if chunk:
                out.write(chunk)
                out.flush()
                continue
            if read_flow_run is None or over:
                return
            if time.monotonic() - last_check >= STATE_CHECK_SECONDS:
                last_check = time.monotonic()
                # Read once more after seeing the end: the last lines may land just before.
                over = run_is_over(read_flow_run())
                continue
            time.sleep(POLL_SECONDS)


Following = tuple[FlowRunReader, Notes] | None
"""With `-f`: how to re-read the run, and where to say what it waits for."""


def _following(api: FlowRunApi, notes: Notes | None) -> Following:
    return None if notes is None else (api.get, notes)


def _docker_logs(api_url: str, container_id: str, out: TextIO, following: Following) -> None:
    import docker
    from docker.errors import DockerException, NotFound

    try:
        engine = docker.DockerClient(base_url=api_url)
        container = engine.containers.get(container_id)
    except NotFound:
        raise LogsUnavailable(f"container {container_id} no longer exists on {api_url}") from None
    except DockerException as error:
        raise LogsUnavailable(f"cannot reach the Docker engine at {api_url}: {error}") from None
    if following is not None:

        def started() -> str | None:
            """The container once the engine started it (a created one has no output to
            follow: `docker logs -f` of it returns at once)."""
            try:
                container.reload()
            except NotFound:
                return container_id  # removed meanwhile: the read below says what is left
            return None if container.status == "created" else container_id

        if wait_for_start(started, *following) is None:
            return
    try:
        if following is not None:
            for chunk in container.logs(stream=True, follow=True):
                out.write(chunk.decode("utf-8", errors="replace"))
                out.flush()
        else:
            out.write(container.logs().decode("utf-8", errors="replace"))
    except NotFound:
        raise LogsUnavailable(f"container {container_id} no longer exists on {api_url}") from None


def docker_api_url(scope: str) -> str:
    """A docker scope is `API-URL#daemon-id`; the logs come from the URL."""
    url, sep, _ = scope.rpartition("#")
    return url if sep else scope


def job_pod_selector(job_id: str) -> tuple[str, str]:
    """(namespace, label selector) of the pods of Job `namespace/job-name[@job-uid]`."""
    path, _, uid = job_id.partition("@")
    namespace, _, job_name = path.partition("/")
    if uid:
        return namespace, f"batch.kubernetes.io/controller-uid={uid}"
    return namespace, f"job-name={job_name}"


def _job_logs(api_client: client.ApiClient, job_id: str, out: TextIO, following: Following) -> None:
    namespace, selector = job_pod_selector(job_id)
    core = client.CoreV1Api(api_client)

    def newest_pod(started_only: bool) -> str | None:
        listed = core.list_namespaced_pod(namespace, label_selector=selector)
        pods: list[Any] = list(listed.items or [])
        if not pods:
            return None
        newest = max(pods, key=lambda p: p.metadata.creation_timestamp)
        if started_only and not _pod_started(newest):
            return None
        return str(newest.metadata.name)

    if following is not None:
        pod = wait_for_start(lambda: newest_pod(started_only=True), *following)
        if pod is None:
            return
    else:
        found = newest_pod(started_only=False)
        if found is None:
            raise LogsUnavailable(f"Job {job_id} has no pods (yet, or any more)")
        pod = found
    try:
        for text in _pod_log_chunks(core, namespace, pod, following is not None):
            out.write(text)
            out.flush()
    except client.ApiException as error:
        if error.status != 400:
            raise
        raise LogsUnavailable(
            f"pod {namespace}/{pod} has no logs yet: {_api_words(error)}; "
            "`kflow flow-run inspect` says what the run waits for, `logs -f` waits for it"
        ) from None


def _pod_started(pod: Any) -> bool:
    """A container of the pod runs or ran: the pod log API has something to show."""
    statuses = list((pod.status.container_statuses if pod.status else None) or [])
    return any(s.state and (s.state.running or s.state.terminated) for s in statuses)


def _api_words(error: client.ApiException) -> str:
    import json

    try:
        return str(json.loads(error.body or "").get("message"))
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)


def _pod_log_chunks(
    core: client.CoreV1Api, namespace: str, pod: str, follow: bool
) -> Iterator[str]:
    response: Any = core.read_namespaced_pod_log(
        pod, namespace, follow=follow, _preload_content=False
    )
    try:
        for chunk in response.stream(65536):
            yield chunk.decode("utf-8", errors="replace")
    finally:
        response.release_conn()
