"""The Docker launcher: creates, starts, watches, stops and sweeps one container per attempt.

Exactly-once launching (launchers/base.py) needs no gate here: `launch` only *creates* the
container, named after the attempt's launch key, so a second `launch` finds the first
container instead of making another; `release` starts it once the operator has recorded its
ID. A container whose operator died between the two stays `created` and never runs the flow
unrecorded: `adopt` (called only for identifiers the FlowRun status names) starts it, and the
sweeper removes created containers that no FlowRun names.

The cluster's identity labels every container (names.py), so an operator re-adopts its runs
after a restart, and operators of two clusters sharing one engine never sweep each other's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound
from kflow.resources import InfrastructureType

from kflow_operator.identifiers import InfrastructureId
from kflow_operator.infrastructure import Launched, LaunchRequest, Observation, ObservedPhase
from kflow_operator.kubeapi.clients import ClientFactory, ThreadClients
from kflow_operator.launchers.background import PerThread, Wakes, Workers
from kflow_operator.launchers.base import (
    UNRECORDED_GRACE_SECONDS,
    FlowRunReader,
    Launcher,
    LaunchError,
    Wake,
)
from kflow_operator.launchers.docker.container_spec import container_spec
from kflow_operator.launchers.docker.deaths import DeathWatch
from kflow_operator.launchers.docker.images import ensure_image
from kflow_operator.launchers.docker.kube_access import deliver, flow_credentials
from kflow_operator.launchers.docker.names import (
    LABEL_CLUSTER,
    LABEL_NAME,
    LABEL_NAMESPACE,
    LABEL_UID,
    docker_scope,
)
from kflow_operator.launchers.docker.observe import observation_of_state, should_sweep
from kflow_operator.launchers.docker.options import (
    DEFAULT_DOCKER_HOST,
    DockerLauncherOptions,
    RemovalPolicy,
)
from kflow_operator.launchers.storage_secrets import StorageSecrets, secret_values

logger = logging.getLogger(__name__)


class DockerLauncher(Launcher):
    type = InfrastructureType.DOCKER

    def __init__(
        self,
        options: DockerLauncherOptions,
        cluster_identity: str,
        read_flow_run: FlowRunReader | None = None,
        clients: ClientFactory | None = None,
    ) -> None:
        """`cluster_identity` (the kube-system namespace's UID) labels every container, so
        operators of two clusters sharing one engine never sweep each other's containers;
        `read_flow_run` enables the sweeper; `clients` gives the Kubernetes API client that
        issues the containers' tokens and reads their resultStorage credentials."""
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
        self._read_secret_env = StorageSecrets(clients or ThreadClients())
        self._credentials = flow_credentials(options, clients or ThreadClients())
        if self._credentials is not None:
            self._credentials.delivered = self._deliver_by_name
        self._run_names: dict[str, str] = {}
        """Container ID → its name, which names its credential directory."""
        self._wakes = Wakes()
        self._workers = Workers("kflow-docker")
        self._deaths = DeathWatch(self._client_kwargs, self._wakes, self._workers.closed)
        self._workers.run("events", self._deaths.run)
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

    # --- launching ----------------------------------------------------------------------------

    def launch(self, request: LaunchRequest) -> Launched:
        infrastructure = request.infrastructure
        image = infrastructure.image
        if not image:
            raise LaunchError("spec.infrastructure.image is required for type docker")
        ensure_image(self._client(), image, infrastructure.image_pull_policy, self._api_url)
        spec = container_spec(
            request,
            self._cluster,
            extra_env=self._options.extra_env,
            default_network=self._options.default_network,
            kubeconfig=self._credentials is not None,
            secrets=secret_values(request, self._read_secret_env),
        )
        name = spec["name"]
        directory = None
        if self._credentials is not None:
            directory = self._credentials.issue(name, request.namespace)
        try:
            container = self._client().containers.create(**spec)
        except APIError as error:
            if error.status_code == 409:
                container = self._client().containers.get(name)
            elif error.status_code == 404 and "network" in str(error.explanation or "").lower():
                raise LaunchError(
                    f"spec.infrastructure.docker.network {spec['network_mode']!r} does not "
                    f"exist on {self._api_url}: {error.explanation}"
                ) from error
            elif error.status_code == 400:
                raise LaunchError(
                    f"Docker refused the container for image {image!r}: {error.explanation}"
                ) from error
            else:
                raise
        if directory is not None:
            deliver(container, directory)
        self._run_names[str(container.id)] = name
        return Launched(InfrastructureId(self.type.value, self._scope, str(container.id)))

    def _deliver_by_name(self, run: str, directory: Path) -> None:
        """After a refresh or an adoption: into the run's container, if it exists yet (at
        launch it does not; `launch` delivers once it has created it)."""
        try:
            container = self._client().containers.get(run)
        except NotFound:
            return
        try:
            deliver(container, directory)
        except LaunchError as error:
            logger.warning("refreshed token of %s not delivered: %s", run, error)

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
        self._deaths.close()
        self._workers.close()


def _name_of(summary: Mapping[str, Any]) -> str:
    """A container's name from its list summary (`Names: ["/kflow-…"]`)."""
    names = summary.get("Names") or [""]
    return str(names[0]).lstrip("/")
