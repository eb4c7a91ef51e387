"""Runs `kflow execute` in a Docker container, one container per attempt of a FlowRun.

Exactly-once launching (launchers/base.py) needs no gate here: `launch` only *creates* the
container, named after the attempt's launch key, so a second `launch` finds the first
container instead of making another; `release` starts it once the operator has recorded its
ID. A container whose operator died between the two stays `created` and never runs the flow
unrecorded: `adopt` (called only for identifiers the FlowRun status names) starts it, and the
sweeper removes created containers that no FlowRun names.

How the container reaches the Kubernetes API, with least privilege: the flow process uses
KUBECONFIG when no in-cluster config exists. Each run gets files of its own, copied into the
container at /var/run/kflow (put_archive: no host path is shared, so an operator in a pod and
a remote engine work alike), holding a kubeconfig with a short-lived token of its namespace's
flow ServiceAccount — the identity a Job's pod runs as, never the operator's — refreshed by the
operator while the run lasts (launchers/flow_credentials.py). The API server's address and CA
come from a kubeconfig the operator is given (`kubeconfig`, default its own) or, for an operator
in a pod, from its in-cluster config. That address must be reachable from the container: for a
cluster on this machine (kind, tests/cluster) set `default_network="host"`, so the container
shares the host's network and `https://127.0.0.1:…`/`192.0.2.2:6443` work as they do for the
operator. A Deployment's own `docker.network` always wins.

Containers are labelled with the FlowRun's namespace, name and UID and with the cluster's
identity (UID of kube-system), so an operator re-adopts its runs after a restart and the
sweeper can tell which FlowRun a container belongs to: containers whose FlowRun is gone are
removed. Finished containers stay (so `kflow flow-run logs` and `docker logs` work after the
run, as `kubectl logs` does for a Job's pod) until their FlowRun is deleted, or are removed as
soon as the run is finished with `removal=RemovalPolicy.ON_FINISH`.

Scope = `<Docker API URL>#<daemon ID>`: the URL alone (`unix:///var/run/docker.sock`) is the
same string on every host; the daemon ID tells engines apart. Readers that need the URL (the
CLI's log reader) take the part before the last `#` (`docker_api_url`).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import enum
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import yaml
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from kflow.cluster.kube import in_cluster, kubeconfig_paths, new_api_client
from kflow.resources import ImagePullPolicy, InfrastructureType

from kflow_operator.identifiers import InfrastructureId
from kflow_operator.launchers.background import PerThread, Wakes, Workers
from kflow_operator.launchers.base import (
    DEFAULT_COMMAND,
    RUNNING,
    UNRECORDED_GRACE_SECONDS,
    FlowRunReader,
    Launched,
    Launcher,
    LaunchError,
    LaunchRequest,
    Observation,
    ObservedPhase,
    Wake,
    signal_of_exit_code,
)
from kflow_operator.launchers.flow_account import FlowAccounts
from kflow_operator.launchers.flow_credentials import (
    CONTAINER_DIR,
    DEFAULT_LIFETIME,
    KUBECONFIG_FILE,
    FlowCredentials,
    cluster_entry,
    credentials_archive,
    in_cluster_entry,
)

logger = logging.getLogger(__name__)

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
CONTAINER_KUBECONFIG = f"{CONTAINER_DIR}/{KUBECONFIG_FILE}"

LABEL_PREFIX = "kflow.dev/"
LABEL_NAMESPACE = f"{LABEL_PREFIX}flow-run-namespace"
LABEL_NAME = f"{LABEL_PREFIX}flow-run-name"
LABEL_UID = f"{LABEL_PREFIX}flow-run-uid"
LABEL_ATTEMPT = f"{LABEL_PREFIX}attempt"
LABEL_CLUSTER = f"{LABEL_PREFIX}cluster"

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class RemovalPolicy(enum.StrEnum):
    WITH_FLOW_RUN = "with-flow-run"
    """Keep a finished container (its logs) until its FlowRun is deleted."""
    ON_FINISH = "on-finish"
    """Remove it as soon as the run is finished with."""


# --- pure parts ------------------------------------------------------------------------------


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


def observation_of_state(state: Mapping[str, Any]) -> Observation:
    """From a container's `State` (docker inspect): running, or how it ended.

    A container that never started but carries an `Error` (the command does not exist, a mount
    fails) has ended too: the daemon's error is the reason.
    """
    status = str(state.get("Status") or "")
    error = str(state.get("Error") or "")
    if status in ("running", "paused", "restarting") or (status == "created" and not error):
        return RUNNING
    if status == "removing":
        return Observation(ObservedPhase.MISSING, reason="container is being removed")
    code = state.get("ExitCode")
    exit_code = int(code) if isinstance(code, int) else None
    reasons = []
    if state.get("OOMKilled"):
        reasons.append("OOMKilled")
    if error:
        reasons.append(f"Docker: {error}")
    if status == "dead":
        reasons.append("container is dead")
    return Observation(
        ObservedPhase.EXITED,
        exit_code=exit_code,
        signal=signal_of_exit_code(exit_code) if exit_code is not None else None,
        reason="; ".join(reasons),
    )


def parse_volume(spec: str) -> tuple[str, str, str]:
    """`source:/target[:ro|rw]` (as the CRD validates it) → (source, target, mode)."""
    parts = spec.split(":")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) > 2 else "rw"
    return source, target, mode


def flatten_kubeconfig(path: Path) -> dict[str, Any]:
    """The kubeconfig with every referenced file (certificates, keys, tokens) inlined, so the
    single file mounted into a container is complete."""
    config: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    base = path.parent

    def inline(section: dict[str, Any], key: str, data_key: str) -> None:
        ref = section.get(key)
        if isinstance(ref, str) and ref:
            target = Path(ref) if Path(ref).is_absolute() else base / ref
            section[data_key] = base64.b64encode(target.read_bytes()).decode()
            del section[key]

    for cluster in config.get("clusters") or []:
        inline(cluster.get("cluster") or {}, "certificate-authority", "certificate-authority-data")
    for user in config.get("users") or []:
        details = user.get("user") or {}
        inline(details, "client-certificate", "client-certificate-data")
        inline(details, "client-key", "client-key-data")
        token_file = details.pop("tokenFile", None)
        if isinstance(token_file, str) and token_file:
            target = Path(token_file) if Path(token_file).is_absolute() else base / token_file
            details["token"] = target.read_text().strip()
    return config


def should_sweep(
    labels: Mapping[str, str],
    status: str,
    age_seconds: float,
    container_id: str,
    flow_run: Mapping[str, Any] | None,
    removal: RemovalPolicy,
) -> str | None:
    """Why a kflow container should be removed now, or None to keep it.

    `flow_run` is the FlowRun the labels name as read from the API (None: it does not exist).
    """
    if flow_run is None:
        return "its FlowRun no longer exists"
    if (flow_run.get("metadata") or {}).get("uid") != labels.get(LABEL_UID):
        return "its FlowRun was deleted (a new one has the same name)"
    status_body = flow_run.get("status") or {}
    infrastructure = status_body.get("infrastructure") or {}
    recorded = infrastructure.get("id") == container_id
    if status == "created" and not recorded and age_seconds > UNRECORDED_GRACE_SECONDS:
        return "it was launched but never recorded in its FlowRun"
    finished = any(
        c.get("type") == "Finished" and c.get("status") == "True"
        for c in status_body.get("conditions") or []
    )
    if removal is RemovalPolicy.ON_FINISH and finished and status in ("exited", "dead", "created"):
        return "its run is finished"
    if not recorded and status in ("exited", "dead") and (finished or infrastructure.get("id")):
        return "it ran an earlier attempt of its FlowRun"
    return None


# --- the launcher -------------------------------------------------------------------------


@dataclass(frozen=True)
class DockerLauncherOptions:
    base_url: str | None = None
    """The Docker API URL; default DOCKER_HOST, else the system socket."""
    kubeconfig: Path | None = None
    """Where containers' API server address and CA come from (its current context); None: the
    operator's in-cluster config if it has one, else containers get no Kubernetes access."""
    state_dir: Path | None = None
    """Where the runs' credential directories are written (the operator's state directory)."""
    token_lifetime: timedelta = DEFAULT_LIFETIME
    """How long each flow token is valid; refreshed at half of it while the run lasts."""
    manage_service_accounts: bool = True
    """Create the flow ServiceAccount/Role/RoleBinding per namespace on demand."""
    default_network: str | None = None
    """Network for runs whose infrastructure names none (`host` for a cluster on this host)."""
    removal: RemovalPolicy = RemovalPolicy.WITH_FLOW_RUN
    sweep_seconds: float = 15.0
    namespaces: tuple[str, ...] = ()
    """The namespaces the sweeper looks after; empty means all."""
    extra_env: Mapping[str, str] = field(default_factory=dict)


class DockerLauncher(Launcher):
    type = InfrastructureType.DOCKER

    def __init__(
        self,
        options: DockerLauncherOptions,
        cluster_identity: str,
        read_flow_run: FlowRunReader | None = None,
    ) -> None:
        """`cluster_identity` (the kube-system namespace's UID) labels every container, so
        operators of two clusters sharing one engine never sweep each other's containers;
        `read_flow_run` enables the sweeper."""
        self._options = options
        self._cluster = cluster_identity
        self._read_flow_run = read_flow_run
        env = docker.utils.kwargs_from_env()
        self._api_url = options.base_url or env.get("base_url") or DEFAULT_DOCKER_HOST
        self._client_kwargs = {**env, "base_url": self._api_url}
        self._clients = PerThread(lambda: docker.DockerClient(**self._client_kwargs))
        try:
            daemon_id = str(self._client().info()["ID"])
        except DockerException as error:
            raise RuntimeError(
                f"cannot reach the Docker engine at {self._api_url}: {error}; start it or point "
                "DOCKER_HOST (or the operator's --docker-host) at a running one"
            ) from error
        self._scope = docker_scope(self._api_url, daemon_id)
        self._credentials = self._flow_credentials()
        if self._credentials is not None:
            self._credentials.delivered = self._deliver_by_name
        self._run_names: dict[str, str] = {}
        """Container ID → its name, which names its credential directory."""
        self._wakes = Wakes()
        self._events_stream: Any = None
        self._workers = Workers("kflow-docker")
        self._workers.run("events", self._watch_events)
        if read_flow_run is not None:
            self._workers.every(
                "sweeper", options.sweep_seconds, self.sweep, "sweeping kflow containers"
            )
        if self._credentials is not None:
            self._workers.every("tokens", 60.0, self._credentials.refresh, "refreshing flow tokens")

    @property
    def scope(self) -> str:
        return self._scope

    def _client(self) -> docker.DockerClient:
        return self._clients.get()

    def _flow_credentials(self) -> FlowCredentials | None:
        source = self._options.kubeconfig
        if source is not None:
            cluster = cluster_entry(flatten_kubeconfig(source))
        elif in_cluster():
            cluster = in_cluster_entry()
        else:
            logger.warning(
                "no kubeconfig for flow containers and not in a cluster: Docker runs get no "
                "Kubernetes credentials (pass --docker-kubeconfig)"
            )
            return None
        state_dir = self._options.state_dir or (source.parent if source else Path.cwd())
        api = PerThread(new_api_client)
        return FlowCredentials(
            api.get,
            FlowAccounts(api.get, manage=self._options.manage_service_accounts),
            cluster,
            state_dir / "docker" / "runs",
            self._options.token_lifetime,
        )

    # --- launching ----------------------------------------------------------------------------

    def launch(self, request: LaunchRequest) -> Launched:
        infrastructure = request.infrastructure
        image = infrastructure.image
        if not image:
            raise LaunchError("spec.infrastructure.image is required for type docker")
        self._ensure_image(image, infrastructure.image_pull_policy)
        name = container_name(request)
        env = {**self._options.extra_env, **request.env}
        volumes = [f"{s}:{t}:{m}" for s, t, m in map(parse_volume, self._docker_volumes(request))]
        directory = None
        if self._credentials is not None:
            directory = self._credentials.issue(name, request.namespace)
            env.setdefault("KUBECONFIG", CONTAINER_KUBECONFIG)
        options = infrastructure.docker
        network = (options.network if options else None) or self._options.default_network
        try:
            container = self._client().containers.create(
                image,
                entrypoint=list(request.command or DEFAULT_COMMAND),
                command=[],
                name=name,
                environment=env,
                labels=container_labels(request, self._cluster),
                volumes=volumes,
                network_mode=network,
                detach=True,
                stdin_open=False,
                tty=False,
            )
        except APIError as error:
            if error.status_code == 409:
                container = self._client().containers.get(name)
            elif error.status_code == 404 and "network" in str(error.explanation or "").lower():
                raise LaunchError(
                    f"spec.infrastructure.docker.network {network!r} does not exist on "
                    f"{self._api_url}: {error.explanation}"
                ) from error
            elif error.status_code == 400:
                raise LaunchError(
                    f"Docker refused the container for image {image!r}: {error.explanation}"
                ) from error
            else:
                raise
        if directory is not None:
            self._deliver(container, directory)
        self._run_names[str(container.id)] = name
        return Launched(InfrastructureId(self.type.value, self._scope, str(container.id)))

    def _deliver(self, container: Any, directory: Path) -> None:
        """Copy a run's credential files into its container (created or running)."""
        try:
            container.put_archive(
                str(PurePosixPath(CONTAINER_DIR).parent), credentials_archive(directory)
            )
        except APIError as error:
            raise LaunchError(
                f"cannot copy the flow's Kubernetes credentials into the container at "
                f"{CONTAINER_DIR}: {error.explanation or error}; the image needs a writable "
                f"{PurePosixPath(CONTAINER_DIR).parent}"
            ) from error

    def _deliver_by_name(self, run: str, directory: Path) -> None:
        """After a refresh or an adoption: into the run's container, if it exists yet (at
        launch it does not; `launch` delivers once it has created it)."""
        try:
            container = self._client().containers.get(run)
        except NotFound:
            return
        try:
            self._deliver(container, directory)
        except LaunchError as error:
            logger.warning("refreshed token of %s not delivered: %s", run, error)

    def _docker_volumes(self, request: LaunchRequest) -> Sequence[str]:
        options = request.infrastructure.docker
        return options.volumes or [] if options else []

    def _ensure_image(self, image: str, policy: ImagePullPolicy | None) -> None:
        client = self._client()
        present = True
        try:
            client.images.get(image)
        except ImageNotFound:
            present = False
        if policy is ImagePullPolicy.NEVER:
            if not present:
                raise LaunchError(
                    f"image {image!r} is not on the Docker engine at {self._api_url} and "
                    "spec.infrastructure.imagePullPolicy is Never; build or load it there first"
                )
            return
        if present and policy is not ImagePullPolicy.ALWAYS:
            return
        repository, tag = docker.utils.parse_repository_tag(image)
        try:
            client.images.pull(repository, tag=tag or "latest")
        except (NotFound, ImageNotFound) as error:
            raise LaunchError(f"image {image!r} cannot be pulled: {error}") from error
        except APIError as error:
            if present:
                logger.warning("pulling %s failed (%s); using the local image", image, error)
                return
            raise LaunchError(
                f"image {image!r} is not on the Docker engine at {self._api_url} and pulling "
                f"it failed: {error.explanation or error}"
            ) from error

    def release(self, launched: Launched) -> None:
        self._start(launched.identifier.id)

    def _start(self, container_id: str) -> None:
        try:
            self._client().api.start(container_id)
        except NotFound:
            pass  # removed meanwhile; observe() says so
        except APIError as error:
            # e.g. the command does not exist: the container keeps the daemon's error in its
            # State, and observe() reports the run CRASHED with it.
            logger.warning("starting container %s failed: %s", container_id[:12], error)

    def discard(self, launched: Launched) -> None:
        self._remove(launched.identifier.id, force=True)
        self._drop_credentials(launched.identifier.id)

    def _drop_credentials(self, container_id: str, name: str | None = None) -> None:
        name = self._run_names.pop(container_id, None) or name
        if self._credentials is not None and name:
            self._credentials.remove(name)

    def _remove(self, container_id: str, force: bool) -> None:
        with contextlib.suppress(NotFound):
            try:
                self._client().api.remove_container(container_id, force=force)
            except APIError as error:
                if error.status_code != 409:  # removal already in progress
                    raise

    # --- watching -----------------------------------------------------------------------------

    def observe(self, identifier: InfrastructureId) -> Observation:
        try:
            attrs = self._client().api.inspect_container(identifier.id)
        except NotFound:
            return Observation(
                ObservedPhase.MISSING,
                reason=f"container {identifier.id[:12]} no longer exists",
            )
        return observation_of_state(attrs.get("State") or {})

    def adopt(self, identifier: InfrastructureId, wake: Wake) -> None:
        self._wakes.add(identifier.id, wake)
        try:
            attrs = self._client().api.inspect_container(identifier.id)
        except NotFound:
            wake()
            return
        state = attrs.get("State") or {}
        name = str(attrs.get("Name") or "").lstrip("/")
        self._run_names[identifier.id] = name
        gone = observation_of_state(state).gone
        if not gone and self._credentials is not None:
            namespace = ((attrs.get("Config") or {}).get("Labels") or {}).get(LABEL_NAMESPACE)
            try:
                self._credentials.adopt(name, str(namespace))
            except Exception as error:
                logger.warning("renewing the token of container %s failed: %s", name, error)
        if state.get("Status") == "created" and not state.get("Error"):
            # Recorded (the status names it) but never released: its operator died in between.
            self._start(identifier.id)
        elif gone:
            wake()

    def forget(self, identifier: InfrastructureId) -> None:
        self._wakes.discard(identifier.id)
        self._drop_credentials(identifier.id)
        if self._options.removal is RemovalPolicy.ON_FINISH:
            try:
                self._remove(identifier.id, force=False)
            except APIError as error:
                logger.warning("removing container %s failed: %s", identifier.id[:12], error)

    def _watch_events(self) -> None:
        """Wake the supervisors of containers that die, at once (polling is the safety net)."""
        filters = {"type": "container", "label": [LABEL_UID], "event": ["die", "destroy", "oom"]}
        closed = self._workers.closed
        while not closed.is_set():
            try:
                client = docker.DockerClient(**self._client_kwargs)
                stream = client.events(decode=True, filters=filters)
                self._events_stream = stream
                self._wakes.wake_all()  # anything may have ended while we were not listening
                for event in _events(stream):
                    self._wakes.wake(
                        str(event.get("id") or (event.get("Actor") or {}).get("ID") or "")
                    )
            except Exception as error:
                if closed.is_set():
                    return
                logger.warning("Docker event stream failed (%s); reconnecting", error)
            closed.wait(1.0)

    # --- stopping -----------------------------------------------------------------------------

    def stop(self, identifier: InfrastructureId, grace_seconds: int) -> None:
        """`docker stop -t GRACE` on a thread of its own: the engine sends the stop signal and
        kills at the end of the grace period by itself, even if this operator dies meanwhile."""

        def stop_container() -> None:
            try:
                self._client().api.stop(identifier.id, timeout=grace_seconds)
            except NotFound:
                pass
            except Exception as error:
                logger.warning("docker stop %s failed: %s", identifier.id[:12], error)

        threading.Thread(target=stop_container, name="kflow-docker-stop", daemon=True).start()

    def kill(self, identifier: InfrastructureId) -> None:
        try:
            self._client().api.kill(identifier.id)
        except NotFound:
            pass
        except APIError as error:
            if error.status_code != 409:  # 409: not running any more
                raise

    # --- sweeping -----------------------------------------------------------------------------

    def sweep(self) -> list[str]:
        """Remove kflow containers of this cluster that nothing needs any more; their IDs."""
        assert self._read_flow_run is not None
        client = self._client()
        listed = client.api.containers(
            all=True, filters={"label": [LABEL_UID, f"{LABEL_CLUSTER}={self._cluster}"]}
        )
        removed = []
        for summary in listed:
            labels: dict[str, str] = summary.get("Labels") or {}
            namespace, name = labels.get(LABEL_NAMESPACE, ""), labels.get(LABEL_NAME, "")
            if self._options.namespaces and namespace not in self._options.namespaces:
                continue
            container_id = str(summary["Id"])
            age = time.time() - float(summary.get("Created") or 0)
            flow_run = self._read_flow_run(namespace, name)
            why = should_sweep(
                labels,
                str(summary.get("State")),
                age,
                container_id,
                flow_run,
                self._options.removal,
            )
            if why is None:
                continue
            logger.info(
                "removing container %s of FlowRun %s/%s: %s",
                container_id[:12],
                namespace,
                name,
                why,
            )
            try:
                self._remove(container_id, force=True)
                removed.append(container_id)
                self._drop_credentials(container_id, _name_of(summary))
            except APIError as error:
                logger.warning("removing container %s failed: %s", container_id[:12], error)
        if self._credentials is not None:
            kept = {_name_of(s) for s in listed if str(s["Id"]) not in removed}
            self._credentials.sweep(kept, UNRECORDED_GRACE_SECONDS)
        return removed

    def close(self) -> None:
        self._workers.closed.set()
        stream = self._events_stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        self._workers.close()


def _name_of(summary: Mapping[str, Any]) -> str:
    """A container's name from its list summary (`Names: ["/kflow-…"]`)."""
    names = summary.get("Names") or [""]
    return str(names[0]).lstrip("/")


def _events(stream: Any) -> Iterator[dict[str, Any]]:
    for event in stream:
        if isinstance(event, dict):
            yield event


# --- operator command line ------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("docker launcher (infrastructure type docker)")
    group.add_argument(
        "--docker",
        action="store_true",
        help="run `type: docker` infrastructure on a Docker engine (DOCKER_HOST or the system's)",
    )
    group.add_argument("--docker-host", metavar="URL", help="Docker API URL (implies --docker)")
    group.add_argument(
        "--docker-kubeconfig",
        metavar="PATH",
        type=Path,
        help="kubeconfig whose API server address and CA flow containers use (default: the "
        "operator's own; in a pod, its in-cluster config); their credentials are per-run tokens "
        "of the namespace's kflow-flow-run ServiceAccount",
    )
    group.add_argument(
        "--docker-token-seconds",
        metavar="SECONDS",
        type=int,
        default=int(DEFAULT_LIFETIME.total_seconds()),
        help="lifetime of each flow container's token, renewed at half of it while the run "
        "lasts (default %(default)s, at least 600)",
    )
    group.add_argument(
        "--docker-network",
        metavar="NAME",
        default="host",
        help="network for runs that name none (default: host, so the API server address in "
        "the kubeconfig works as on the operator's host)",
    )
    group.add_argument(
        "--docker-remove",
        choices=[p.value for p in RemovalPolicy],
        default=RemovalPolicy.WITH_FLOW_RUN.value,
        help="remove finished containers when their FlowRun is deleted (default; logs stay "
        "readable) or as soon as the run is finished",
    )
    group.add_argument(
        "--docker-sweep-seconds",
        metavar="SECONDS",
        type=float,
        default=DockerLauncherOptions.sweep_seconds,
        help="how often containers whose FlowRun is gone are looked for (default %(default)s)",
    )


def from_arguments(
    args: argparse.Namespace,
    state_dir: Path,
    namespaces: tuple[str, ...],
    read_flow_run: FlowRunReader,
) -> DockerLauncher | None:
    """The launcher the command line asks for, or None when Docker is not enabled."""
    if not (args.docker or args.docker_host):
        return None
    from kflow_operator.launchers.kubernetes_job import cluster_identity

    kubeconfig: Path | None = args.docker_kubeconfig
    if kubeconfig is None and not in_cluster():
        kubeconfig = next((p for p in kubeconfig_paths() if p.is_file()), None)
        if kubeconfig is not None:
            logger.info(
                "flow containers reach the API server of %s, with tokens of kflow-flow-run",
                kubeconfig,
            )
    options = DockerLauncherOptions(
        base_url=args.docker_host,
        kubeconfig=kubeconfig,
        state_dir=state_dir,
        token_lifetime=timedelta(seconds=args.docker_token_seconds),
        manage_service_accounts=not getattr(args, "no_flow_service_accounts", False),
        default_network=args.docker_network or None,
        removal=RemovalPolicy(args.docker_remove),
        sweep_seconds=args.docker_sweep_seconds,
        namespaces=namespaces,
    )
    return DockerLauncher(options, cluster_identity(new_api_client()), read_flow_run)
