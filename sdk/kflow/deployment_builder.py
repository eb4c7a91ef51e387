"""Prefect's `flow.to_deployment(...)`, `flow.deploy(...)` and `kflow.deploy(...)`: Deployment
resources built from Python and applied as `kflow deploy` applies kflow.yaml.

Each call is turned into the kflow.yaml entry it stands for (`name`, `entrypoint`,
`parameters`, `schedules`, `tags`, `description`, `work_pool: {name, job_variables}`) and
goes through `kflow deploy`'s own checks and manifests (kflow.cli.deploy_file: entrypoint,
parameter schema, schedules, job variables mapped onto `infrastructure`) and its server-side
apply. The entrypoint is the flow's source file relative to the current directory (the project
root, as for `kflow deploy`), or its absolute path when it lies elsewhere.

kflow does not build images: `build=True` / `push=True` are refused; build and push the image
yourself and pass `image=...` (it becomes the Deployment's `infrastructure.image`).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kflow.exceptions import KflowException, NotSupportedArgumentError
from kflow.unsupported import message

if TYPE_CHECKING:
    from kflow.flows import Flow

_NOT_BUILT = "kflow does not build images; build and push it, then pass image=..."
_REFUSED_OPTIONS: dict[str, tuple[str, str]] = {
    "rrule": ("Prefect's RRule schedules", "use cron= or interval="),
    "triggers": ("Prefect's event triggers", "start runs with run_deployment or a schedule"),
    "work_queue_name": (
        "Prefect's work queues",
        "use one work pool per queue (docs/work-pools.md)",
    ),
    "webserver": ("Prefect's runner webserver", "leave it out"),
    "limit": (
        "Prefect's per-process run limit",
        "use concurrency_limit= on the deployment, or the work pool's concurrencyLimit",
    ),
    "pause_on_shutdown": ("Prefect's pause of served deployments", "leave it out"),
}


_CONSOLE_OPTIONS = ("print_next_steps", "print_next_steps_message", "ignore_warnings")


class DeploymentBuildError(KflowException, ValueError):
    """The deployment cannot be built or applied as asked; every problem, one line each."""


@dataclass
class RunnerDeployment:
    """A Deployment resource not applied yet: what `flow.to_deployment(...)` returns
    (Prefect's RunnerDeployment); `kflow.deploy(...)` / `kflow.serve(...)` apply it."""

    name: str
    flow_name: str
    entrypoint: str
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    description: str | None = None
    paused: bool | None = None
    concurrency_limit: int | None = None
    work_pool_name: str | None = None
    job_variables: dict[str, Any] = field(default_factory=dict)
    namespace: str | None = None

    def entry(self, work_pool_name: str | None = None, image: str | None = None) -> dict[str, Any]:
        """The kflow.yaml entry this deployment stands for."""
        raw: dict[str, Any] = {
            "name": self.name,
            "entrypoint": self.entrypoint,
            "parameters": dict(self.parameters),
        }
        if self.schedules:
            raw["schedules"] = [dict(s) for s in self.schedules]
        if self.tags:
            raw["tags"] = list(self.tags)
        if self.description:
            raw["description"] = self.description
        if self.paused is not None:
            raw["paused"] = self.paused
        if self.concurrency_limit is not None:
            raw["concurrencyLimit"] = self.concurrency_limit
        if self.namespace:
            raw["namespace"] = self.namespace
        pool = self.work_pool_name or work_pool_name
        variables = dict(self.job_variables)
        if image is not None:
            variables["image"] = image
        if pool:
            raw["work_pool"] = {"name": pool, **({"job_variables": variables} if variables else {})}
        elif variables:
            raise DeploymentBuildError(
                f"deployment {self.name}: job_variables and image= need a work pool; pass "
                "work_pool_name=... (kflow work-pool ls lists them)"
            )
        return raw


def refuse_options(where: str, options: Mapping[str, Any]) -> None:
    """Prefect options kflow has no counterpart for; `build=False` / `push=False` are fine."""
    for name in ("build", "push"):
        if options.get(name):
            raise NotSupportedArgumentError(f"{where}({name}=True): {_NOT_BUILT}")
    for name, value in options.items():
        if name in ("build", "push"):
            continue
        known = _REFUSED_OPTIONS.get(name)
        if known is not None and value is not None:
            raise NotSupportedArgumentError(message(f"{where}({name}=...)", *known))
        if known is None:
            raise TypeError(f"{where} got an unexpected keyword argument {name!r}")


def to_deployment(
    flow: Flow[Any, Any],
    name: str,
    *,
    interval: Any = None,
    cron: str | Sequence[str] | None = None,
    schedules: Iterable[Mapping[str, Any]] | None = None,
    parameters: Mapping[str, Any] | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    paused: bool | None = None,
    concurrency_limit: int | None = None,
    work_pool_name: str | None = None,
    job_variables: Mapping[str, Any] | None = None,
    namespace: str | None = None,
    **prefect_options: Any,
) -> RunnerDeployment:
    refuse_options("Flow.to_deployment", prefect_options)
    return RunnerDeployment(
        name=name,
        flow_name=flow.name,
        entrypoint=flow_entrypoint(flow),
        parameters=dict(parameters or {}),
        schedules=schedule_entries(cron, interval, schedules),
        tags=list(tags or []),
        description=description or flow.description,
        paused=paused,
        concurrency_limit=concurrency_limit,
        work_pool_name=work_pool_name,
        job_variables=dict(job_variables or {}),
        namespace=namespace,
    )


def flow_entrypoint(flow: Flow[Any, Any]) -> str:
    """`path/to/file.py:function` of the flow, as `kflow deploy` would load it."""
    fn = flow.fn
    source = inspect.getsourcefile(fn)
    attribute = getattr(fn, "__name__", "")
    if source is None or not attribute.isidentifier() or "<locals>" in fn.__qualname__:
        raise DeploymentBuildError(
            f"flow {flow.name}: a deployment needs a flow defined at the top level of a .py "
            "file (its entrypoint names that file and function)"
        )
    path = Path(source).resolve()
    try:
        shown = str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = str(path)
    return f"{shown}:{attribute}"


def schedule_entries(
    cron: str | Sequence[str] | None,
    interval: Any,
    schedules: Iterable[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    """Prefect's `cron=` / `interval=` (seconds or a timedelta, one or a list) / `schedules=`
    as kflow.yaml `schedules` items (interval in whole seconds)."""
    entries: list[dict[str, Any]] = []
    crons = [cron] if isinstance(cron, str) else list(cron or [])
    entries += [{"cron": c} for c in crons]
    intervals = interval if isinstance(interval, list | tuple) else [interval]
    for value in intervals:
        if value is None:
            continue
        seconds = value.total_seconds() if isinstance(value, timedelta) else value
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise DeploymentBuildError(
                f"interval={value!r}: expected seconds (a number) or a timedelta"
            )
        entries.append({"interval": int(seconds)})
    for item in schedules or []:
        if not isinstance(item, Mapping):
            raise DeploymentBuildError(
                f"schedules: {item!r} is not a mapping; give dicts such as "
                "{'cron': '0 9 * * *', 'timezone': 'Asia/Tokyo'} or {'interval': 600}"
            )
        entries.append(dict(item))
    return entries


def manifests(
    deployments: Sequence[RunnerDeployment],
    work_pool_name: str | None = None,
    image: str | None = None,
    pools: Sequence[Mapping[str, Any]] = (),
    caller: str = "kflow.deploy()",
) -> list[dict[str, Any]]:
    """The WorkPool (`pools`, kflow.yaml `work_pools` entries) and Deployment resources, checked
    as `kflow deploy` checks kflow.yaml; DeploymentBuildError listing every problem."""
    from kflow.cli.deploy_file import (
        DeployError,
        DeploymentsFile,
        Entry,
        build_manifests,
    )

    where = Path(caller)
    entries = [Entry(i, d.name, d.entry(work_pool_name, image)) for i, d in enumerate(deployments)]
    pool_entries = [Entry(i, str(p["name"]), dict(p)) for i, p in enumerate(pools)]
    names = [d.name for d in deployments]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DeploymentBuildError(f"deployment names must be unique: {', '.join(duplicated)}")
    try:
        return build_manifests(DeploymentsFile(where, entries, [], pool_entries), entries, None)
    except DeployError as error:
        raise DeploymentBuildError(str(error)) from None


def apply(manifest_list: list[dict[str, Any]]) -> list[str]:
    """Apply as `kflow deploy` does (current kube context); `namespace/name` of each."""
    from kflow.cli.deploy import ApplyError, apply_manifests

    try:
        return apply_manifests(manifest_list, None)
    except ApplyError as error:
        raise DeploymentBuildError(str(error)) from None


def deploy(
    *deployments: RunnerDeployment,
    work_pool_name: str | None = None,
    image: str | None = None,
    **prefect_options: Any,
) -> list[str]:
    """Apply the deployments into their work pool; the `namespace/name` of each."""
    refuse_options("deploy", _without_messages(prefect_options))
    if not deployments:
        raise DeploymentBuildError("deploy() needs at least one flow.to_deployment(...)")
    for deployment in deployments:
        if not (deployment.work_pool_name or work_pool_name):
            raise DeploymentBuildError(
                f"deployment {deployment.name}: name the work pool its runs go to: "
                "work_pool_name=... (`kflow work-pool ls` lists them; `kflow work-pool create "
                "NAME --type process|docker|kubernetes-job` makes one); flow.serve(...) runs "
                "them from this machine instead"
            )
    return apply(manifests(deployments, work_pool_name, image))


def _without_messages(options: Mapping[str, Any]) -> dict[str, Any]:
    """Prefect's console-output switches change nothing here."""
    return {k: v for k, v in options.items() if k not in _CONSOLE_OPTIONS}


_DEPLOY_OPTIONS = ("build", "push", *_CONSOLE_OPTIONS)


def flow_deploy(
    flow: Flow[Any, Any],
    name: str,
    work_pool_name: str | None = None,
    image: str | None = None,
    **options: Any,
) -> str:
    """`flow.deploy(...)`: to_deployment's options, then deploy's; `namespace/name`."""
    deploy_options = {k: options.pop(k) for k in _DEPLOY_OPTIONS if k in options}
    refuse_options("Flow.deploy", _without_messages(deploy_options))
    deployment = to_deployment(flow, name, work_pool_name=work_pool_name, **options)
    return deploy(deployment, image=image)[0]
