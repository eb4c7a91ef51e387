"""Prefect names kflow does not have, and what a port uses instead.

A port changes `from prefect import ...` to `from kflow import ...`; where it meets something
kflow lacks it gets, at that line, `kflow does not support 'X' (Prefect's ...); use Y` as a
NotSupportedError that is also the ImportError, AttributeError or TypeError Python would
otherwise raise. docs/porting.md has the same table for reading.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from types import FrameType
from typing import Any, NoReturn

from kflow.exceptions import (
    NotSupportedArgumentError,
    NotSupportedAttributeError,
    NotSupportedImportError,
)

_DEPLOY = (
    "use flow.to_deployment(...) with kflow.deploy(...), flow.deploy(...), or `kflow deploy -f "
    "kflow.yaml` (README, 'Run it on Kubernetes')"
)
_ENV = (
    "read an environment variable (a Deployment's infrastructure `env`, which can come from a "
    "Kubernetes ConfigMap or Secret)"
)
_ARTIFACT = (
    "log it with get_run_logger().info(...), or return it as the flow's result (`kflow "
    "flow-run inspect` shows it)"
)
_CLIENT = (
    "kflow has no API server of its own: read and change FlowRun and Deployment resources "
    "with `kflow flow-run ...`, `kubectl`, or a Kubernetes client"
)
_CONCURRENCY = (
    "limit a flow's parallel task runs with task_runner=ThreadPoolTaskRunner(max_workers=N), "
    "or runs of a Deployment with its concurrency policy"
)

#: (What it is in Prefect, what to use instead), by name, for each kflow module that is the
#: counterpart of a Prefect module.
NAMES: dict[str, dict[str, tuple[str, str]]] = {
    "kflow": {
        "get_client": ("Prefect's API client", _CLIENT),
        "tags": (
            "Prefect's tags context manager",
            "pass tags=[...] to @task or @flow (a flow run's tags apply to its task runs)",
        ),
        "Transaction": ("Prefect's transactions", "use persist_result or a cache_policy"),
        "Manifest": ("Prefect's deployment manifests", _DEPLOY),
        "suspend_flow_run": (
            "Prefect's suspension of a flow run",
            "use pause_flow_run(reschedule=True, timeout=...) in a run of a Deployment",
        ),
        "Variable": ("Prefect's server-side variables", _ENV),
    },
    "kflow.flows": {},
    "kflow.deployments": {
        "Deployment": ("Prefect's 2.x deployment objects", _DEPLOY),
    },
    "kflow.variables": {"Variable": ("Prefect's server-side variables", _ENV)},
    "kflow.blocks": {"Block": ("Prefect's blocks", _ENV)},
    "kflow.blocks.core": {"Block": ("Prefect's blocks", _ENV)},
    "kflow.blocks.system": {
        name: ("Prefect's blocks", _ENV) for name in ("Secret", "JSON", "String", "DateTime")
    },
    "kflow.artifacts": {
        name: ("Prefect's UI artifacts", _ARTIFACT)
        for name in (
            "Artifact",
            "create_markdown_artifact",
            "create_table_artifact",
            "create_link_artifact",
            "create_progress_artifact",
            "update_progress_artifact",
            "create_image_artifact",
        )
    },
    "kflow.client": {"get_client": ("Prefect's API client", _CLIENT)},
    "kflow.client.orchestration": {
        name: ("Prefect's API client", _CLIENT)
        for name in ("get_client", "PrefectClient", "SyncPrefectClient")
    },
    **{
        module: {
            name: ("Prefect's global concurrency limits", _CONCURRENCY)
            for name in ("concurrency", "rate_limit", "ConcurrencyLimit")
        }
        for module in ("kflow.concurrency", "kflow.concurrency.sync", "kflow.concurrency.asyncio")
    },
    "kflow.events": {
        name: ("Prefect's events", "log it with get_run_logger() or use a state hook")
        for name in ("emit_event", "Event")
    },
    "kflow.automations": {
        "Automation": (
            "Prefect's automations",
            "react to a run's end with state hooks: on_completion, on_failure, on_crashed",
        )
    },
    "kflow.transactions": {
        name: ("Prefect's transactions", "use persist_result or a cache_policy")
        for name in ("transaction", "Transaction")
    },
    "kflow.futures": {
        name: (
            "Prefect's helpers over several futures",
            "call .wait() or .result() on each future, or on the list .map() returns",
        )
        for name in ("wait", "as_completed", "PrefectFutureList")
    },
    "kflow.task_runners": {
        name: (
            "Prefect's other task runners",
            "use ThreadPoolTaskRunner (the default) or SequentialTaskRunner",
        )
        for name in ("ProcessPoolTaskRunner", "PrefectTaskRunner", "DaskTaskRunner")
    },
    "kflow.context": {
        "tags": (
            "Prefect's tags context manager",
            "pass tags=[...] to @task or @flow (a flow run's tags apply to its task runs)",
        )
    },
}

_PREFECT_TASK_OPTIONS: dict[str, tuple[str, str]] = {
    "cache_result_in_memory": ("Prefect's in-memory result cache", "leave it out"),
    "on_commit": ("Prefect's transaction hooks", "use on_completion"),
    "on_rollback": ("Prefect's transaction hooks", "use on_failure"),
    "viz_return_value": ("Prefect's flow visualisation", "leave it out"),
    "asset_deps": ("Prefect's assets", "leave it out"),
}
_PREFECT_FLOW_OPTIONS: dict[str, tuple[str, str]] = {
    "cache_result_in_memory": _PREFECT_TASK_OPTIONS["cache_result_in_memory"]
}
_PREFECT_TASK_METHODS: dict[str, tuple[str, str]] = {
    "delay": ("Prefect's background task workers", "call .submit() inside a flow"),
    "apply_async": ("Prefect's background task workers", "call .submit() inside a flow"),
    "serve": ("Prefect's background task workers", "call .submit() inside a flow"),
    "on_commit": ("Prefect's transaction hooks", "use on_completion"),
    "on_rollback": ("Prefect's transaction hooks", "use on_failure"),
}
_PREFECT_FLOW_METHODS: dict[str, tuple[str, str]] = {
    "from_source": (
        "Prefect's loading of a flow from remote source code",
        "build an image holding the flow and name its entrypoint in a Deployment",
    ),
    "visualize": ("Prefect's flow visualisation", "leave it out"),
}


def message(name: str, what: str, instead: str) -> str:
    return f"kflow does not support {name!r} ({what}); {instead}. See docs/porting.md."


def module_getattr(module: str) -> Callable[[str], NoReturn]:
    """A module `__getattr__` that names the Prefect feature a missing name stands for.

    `from kflow import serve` must fail with the message, so there it raises an ImportError:
    the import machinery swallows an AttributeError and says only "cannot import name". Any
    other look-up (`kflow.serve`, `hasattr`, `getattr(..., default)`) gets an AttributeError,
    which is what those expect: `hasattr(kflow, "serve")` is False.
    """
    names = NAMES[module]

    def __getattr__(name: str) -> NoReturn:
        known = names.get(name)
        if known is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        text = message(name, *known)
        if _looked_up_by_import(sys._getframe(1)):
            raise NotSupportedImportError(text, name=name, path=None)
        raise NotSupportedAttributeError(text, name=name, obj=sys.modules.get(module))

    return __getattr__


def _looked_up_by_import(caller: FrameType) -> bool:
    """Whether the frame that looked a name up is an import statement taking it: the
    statement's own IMPORT_FROM, or the import machinery's check of a package's names."""
    import opcode  # only a missing name pays for it, not `import kflow`

    code = caller.f_code
    if code.co_name == "_handle_fromlist" and "importlib" in code.co_filename:
        return True
    return (
        0 <= caller.f_lasti < len(code.co_code)
        and code.co_code[caller.f_lasti] == opcode.opmap["IMPORT_FROM"]
    )


def missing_method(kind: str, name: str, owner: Any = None) -> NoReturn:
    """What `Flow.__getattr__` / `Task.__getattr__` raise for an attribute they lack."""
    methods = _PREFECT_FLOW_METHODS if kind == "Flow" else _PREFECT_TASK_METHODS
    known = methods.get(name)
    if known is None:
        raise AttributeError(f"{kind!r} object has no attribute {name!r}")
    raise NotSupportedAttributeError(message(f"{kind}.{name}", *known), name=name, obj=owner)


def check_options(where: str, options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Reject keyword arguments of `@task`/`@flow`/`with_options` kflow does not take."""
    allowed = set(allowed)
    unknown = [name for name in options if name not in allowed]
    if not unknown:
        return
    flow = where.startswith(("@flow", "Flow"))
    prefect = _PREFECT_FLOW_OPTIONS if flow else _PREFECT_TASK_OPTIONS
    for name in unknown:
        known = prefect.get(name)
        if known is not None:
            raise NotSupportedArgumentError(message(f"{where}({name}=...)", *known))
    raise TypeError(
        f"{where} got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
        f"allowed: {', '.join(sorted(allowed))}."
    )
