"""Cache policies: how a task run's cache key is computed (`@task(cache_policy=...)`).

As in Prefect (`from prefect.cache_policies import INPUTS` ports by changing the import):

* `INPUTS` — the task's inputs (`INPUTS - "client"` leaves one out);
* `TASK_SOURCE` — the task function's source code;
* `FLOW_PARAMETERS` — the parameters of the flow run the task runs in;
* `RUN_ID` — the flow run's id (so a cache lives as long as one run);
* `NONE` (also `NO_CACHE`) — no caching;
* `DEFAULT` — `INPUTS + TASK_SOURCE + RUN_ID`; combine any with `+`.

A key computed for a run whose result is in the cache ends the run `Cached` without running
its body. Keys are global: two tasks whose policies give the same key share one cache entry
(add `TASK_SOURCE` to keep them apart). The entries live with persisted results, under
`$KFLOW_HOME/results/cache/`, so they serve other processes and later runs too.
"""

from __future__ import annotations

import inspect
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kflow.exceptions import HashError, NotSupportedArgumentError
from kflow.hashing import hash_objects

if TYPE_CHECKING:
    from kflow.context import TaskRunContext

CacheKeyFn = Callable[["TaskRunContext", dict[str, Any]], "str | None"]


class CachePolicy:
    """A recipe for a task run's cache key; None means "do not cache this run"."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        raise NotImplementedError

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        if isinstance(other, _NoCache):
            return self
        return CompoundCachePolicy([self, other])

    def __sub__(self, name: str) -> CachePolicy:
        """This policy and the inputs except `name` (as Prefect: `TASK_SOURCE - "x"`)."""
        return self + Inputs(exclude=[_input_name(name)])

    def configure(self, **options: Any) -> CachePolicy:
        raise NotSupportedArgumentError(
            f"kflow does not support 'CachePolicy.configure({', '.join(options)})' (Prefect's "
            "separate key storage, lock manager and isolation level); cache entries live with "
            "persisted results under $KFLOW_HOME/results/cache, shared by every run that "
            "sees that directory. Leave configure() out."
        )

    def __repr__(self) -> str:
        return type(self).__name__ + "()"


class _NoCache(CachePolicy):
    """`NONE`: never a key, so never a cache hit and no cache entry."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        return None

    def __add__(self, other: CachePolicy) -> CachePolicy:
        return other

    def __sub__(self, name: str) -> CachePolicy:
        return self

    def __repr__(self) -> str:
        return "NONE"


class Inputs(CachePolicy):
    """The task run's inputs (after futures are resolved), but those named in `exclude`."""

    def __init__(self, exclude: list[str] | tuple[str, ...] = ()) -> None:
        self.exclude = tuple(exclude)

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        hashed = {name: value for name, value in inputs.items() if name not in self.exclude}
        try:
            return hash_objects(hashed)
        except HashError:
            for name, value in hashed.items():
                try:
                    hash_objects(value)
                except HashError as exc:
                    raise HashError(
                        f"task input {name!r} cannot be part of the cache key: {exc}. Leave it "
                        f"out with `cache_policy=INPUTS - {name!r}` (or `... + INPUTS - "
                        f"{name!r}`), compute the key with cache_key_fn, or set "
                        "cache_policy=NONE."
                    ) from None
            raise

    def __sub__(self, name: str) -> CachePolicy:
        return Inputs(exclude=(*self.exclude, _input_name(name)))

    def __repr__(self) -> str:
        return f"Inputs(exclude={list(self.exclude)!r})" if self.exclude else "INPUTS"


_source_hashes: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


class TaskSource(CachePolicy):
    """The task function's source code (its bytecode when the source cannot be read)."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        fn = task_ctx.task.fn
        key = _source_hashes.get(fn)
        if key is None:
            try:
                source: Any = inspect.getsource(fn)
            except (OSError, TypeError):
                code = getattr(fn, "__code__", None)
                source = code.co_code.hex() if code is not None else repr(fn)
            key = _source_hashes[fn] = hash_objects(source)
        return key

    def __repr__(self) -> str:
        return "TASK_SOURCE"


class FlowParameters(CachePolicy):
    """The parameters of the flow run the task runs in (no key when it has none)."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        return hash_objects(flow_parameters) if flow_parameters else None

    def __repr__(self) -> str:
        return "FLOW_PARAMETERS"


class RunId(CachePolicy):
    """The id of the flow run the task runs in."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        return task_ctx.task_run.flow_run_id or task_ctx.task_run.id

    def __repr__(self) -> str:
        return "RUN_ID"


class CacheKeyFnPolicy(CachePolicy):
    """`@task(cache_key_fn=f)`: `f(context, parameters)` returns the key (or None)."""

    def __init__(self, cache_key_fn: CacheKeyFn) -> None:
        self.cache_key_fn = cache_key_fn

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        key = self.cache_key_fn(task_ctx, inputs)
        if key is not None and not isinstance(key, str):
            raise TypeError(
                f"cache_key_fn {getattr(self.cache_key_fn, '__name__', self.cache_key_fn)!r} "
                f"returned {key!r}; it must return a string, or None for no caching."
            )
        return key

    def __repr__(self) -> str:
        return f"CacheKeyFnPolicy({getattr(self.cache_key_fn, '__name__', self.cache_key_fn)})"


class CompoundCachePolicy(CachePolicy):
    """Several policies: the key hashes each one's key (no key when none gives one)."""

    def __init__(self, policies: list[CachePolicy]) -> None:
        flat: list[CachePolicy] = []
        for policy in policies:
            if isinstance(policy, CompoundCachePolicy):
                flat.extend(policy.policies)
            else:
                flat.append(policy)
        self.policies: list[CachePolicy] = flat

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        keys = [
            key
            for policy in self.policies
            if (key := policy.compute_key(task_ctx, inputs, flow_parameters, **kwargs)) is not None
        ]
        return hash_objects(*keys) if keys else None

    def __sub__(self, name: str) -> CachePolicy:
        name = _input_name(name)
        if not any(isinstance(policy, Inputs) for policy in self.policies):
            return CompoundCachePolicy([*self.policies, Inputs(exclude=[name])])
        return CompoundCachePolicy(
            [policy - name if isinstance(policy, Inputs) else policy for policy in self.policies]
        )

    def __repr__(self) -> str:
        return " + ".join(repr(policy) for policy in self.policies)


def input_hash(context: TaskRunContext, arguments: dict[str, Any]) -> str | None:
    """`kflow.tasks.task_input_hash`: the task's key and all its inputs; None when an input
    cannot be hashed (the run is then not cached), as in Prefect."""
    try:
        return hash_objects(context.task.task_key, arguments)
    except HashError:
        return None


def task_cache_policy(
    task_name: str,
    cache_policy: Any,
    cache_key_fn: Any,
    persist_result: bool | None,
) -> CachePolicy | None:
    """The policy a task caches by (None: it does not), from its @task options, as Prefect
    decides it: cache_key_fn wins over cache_policy, persist_result=False turns caching off."""
    if cache_key_fn is not None:
        if not callable(cache_key_fn):
            raise TypeError(
                f"cache_key_fn of task {task_name!r} must be a function (context, parameters) "
                f"-> str | None; got {cache_key_fn!r}."
            )
        if cache_policy is not None:
            warnings.warn(
                f"Task {task_name!r} sets both cache_policy and cache_key_fn; cache_key_fn is "
                "used.",
                stacklevel=4,
            )
        policy: CachePolicy = CacheKeyFnPolicy(cache_key_fn)
    elif isinstance(cache_policy, CachePolicy):
        policy = cache_policy
    else:
        raise TypeError(
            f"cache_policy of task {task_name!r} must come from kflow.cache_policies: INPUTS, "
            "TASK_SOURCE, FLOW_PARAMETERS, RUN_ID, DEFAULT, NONE, or a sum of them such as "
            f"INPUTS + TASK_SOURCE; got {cache_policy!r}."
        )
    if isinstance(policy, _NoCache):
        return None
    if persist_result is False:
        warnings.warn(
            f"Task {task_name!r} does not cache: persist_result=False turns its "
            f"{'cache_key_fn' if cache_key_fn is not None else 'cache_policy'} off.",
            stacklevel=4,
        )
        return None
    return policy


def _input_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(
            f"only an input's name (a string) can be subtracted from a cache policy; got {name!r}."
        )
    return name


NONE = _NoCache()
NO_CACHE = NONE
INPUTS = Inputs()
TASK_SOURCE = TaskSource()
FLOW_PARAMETERS = FlowParameters()
RUN_ID = RunId()
DEFAULT = INPUTS + TASK_SOURCE + RUN_ID

__all__ = [
    "DEFAULT",
    "FLOW_PARAMETERS",
    "INPUTS",
    "NONE",
    "NO_CACHE",
    "RUN_ID",
    "TASK_SOURCE",
    "CacheKeyFnPolicy",
    "CachePolicy",
    "CompoundCachePolicy",
    "FlowParameters",
    "Inputs",
    "RunId",
    "TaskSource",
]
