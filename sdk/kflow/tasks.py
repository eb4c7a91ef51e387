"""`@task`: a function whose calls inside a flow become observable, retryable task runs.

The engine (about 15 ms to import), `kflow.parameters` (about 1.5 ms), `kflow.function_keys`
(hashlib, about 2 ms) and `kflow.cache_policies` are imported when first needed, not here:
`import kflow` and defining tasks must not pay for them. That, not an import cycle, is why
those imports sit in functions.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, ParamSpec, TypeVar, overload

from kflow.unsupported import check_options, missing_method

if TYPE_CHECKING:
    import os
    from datetime import timedelta
    from types import ModuleType

    from kflow.backend import TaskRun
    from kflow.cache_policies import CacheKeyFn, CachePolicy
    from kflow.context import TaskRunContext
    from kflow.filesystems import WritableFileSystem
    from kflow.futures import TaskRunFuture, TaskRunFutureList
    from kflow.parameters import CallSignature
    from kflow.serializers import Serializer
    from kflow.states import State

    #: `result_storage=`: a directory path, an "s3://bucket/prefix" URL or a storage object.
    ResultStorage = str | os.PathLike[str] | WritableFileSystem
    #: `result_serializer=`: "pickle", "json", "compressed/pickle", "compressed/json" or an
    #: object with dumps() and loads().
    ResultSerializer = str | Serializer

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

TaskHook = Callable[["Task[Any, Any]", "TaskRun", "State[Any]"], Any]
RetryConditionFn = Callable[["Task[Any, Any]", "TaskRun", "State[Any]"], Any]
RetryDelay = float | int | list[float] | list[int] | Callable[[int], Any]


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """A `retry_delay_seconds` callable: backoff_factor * 2**n seconds before retry n+1."""

    def delays(retries: int) -> list[float]:
        return [backoff_factor * 2**attempt for attempt in range(retries)]

    return delays


def _retry_delays(retries: int, retry_delay_seconds: RetryDelay | None) -> list[float]:
    if retry_delay_seconds is None:
        return [0.0]
    if callable(retry_delay_seconds):
        produced = retry_delay_seconds(retries)
        values = produced if isinstance(produced, list | tuple) else [produced]
    elif isinstance(retry_delay_seconds, list | tuple):
        values = list(retry_delay_seconds)
    else:
        values = [retry_delay_seconds]
    delays = []
    for value in values:
        if not isinstance(value, int | float) or value < 0:
            raise ValueError(
                f"retry_delay_seconds must be a number >= 0, a list of them, or a callable "
                f"returning them; got {value!r}."
            )
        delays.append(float(value))
    return delays or [0.0]


def _is_async(fn: Callable[..., Any]) -> bool:
    code = getattr(fn, "__code__", None)
    return code is not None and bool(code.co_flags & 0x180)  # CO_COROUTINE | CO_ITERABLE_COROUTINE


_engine_task_calls: ModuleType | None = None


def _task_calls() -> ModuleType:
    """kflow.engine.task_calls, imported on the first task call (not with kflow: start-up
    time) and kept: an import statement in every call cost half a microsecond."""
    global _engine_task_calls
    if _engine_task_calls is None:
        from kflow.engine import task_calls

        _engine_task_calls = task_calls
    return _engine_task_calls


class Task(Generic[P, R]):
    """A task. Call it in a flow to run it now, `.submit()` it to run it on the task runner."""

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        version: str | None = None,
        retries: int | None = None,
        retry_delay_seconds: RetryDelay | None = None,
        retry_jitter_factor: float | None = None,
        timeout_seconds: float | None = None,
        persist_result: bool | None = None,
        log_prints: bool | None = None,
        task_run_name: str | Callable[[], str] | None = None,
        on_completion: list[TaskHook] | None = None,
        on_failure: list[TaskHook] | None = None,
        cache_policy: CachePolicy | None = None,
        cache_key_fn: CacheKeyFn | None = None,
        cache_expiration: timedelta | None = None,
        refresh_cache: bool | None = None,
        retry_condition_fn: RetryConditionFn | None = None,
        result_storage: ResultStorage | None = None,
        result_serializer: ResultSerializer | None = None,
        result_storage_key: str | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function; got {fn!r}.")
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "task"))
        self._description = description
        self.tags = set(tags or ())
        self.version = version
        self.retries = int(retries or 0)
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0; got {retries}.")
        self.retry_delay_seconds = retry_delay_seconds
        self.retry_delays = _retry_delays(self.retries, retry_delay_seconds)
        if retry_jitter_factor is not None and retry_jitter_factor < 0:
            raise ValueError(f"retry_jitter_factor must be >= 0; got {retry_jitter_factor}.")
        self.retry_jitter_factor = retry_jitter_factor
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0; got {timeout_seconds}.")
        self.timeout_seconds = float(timeout_seconds) if timeout_seconds is not None else None
        self.result_storage: WritableFileSystem | None = None
        self.result_serializer: Serializer | None = None
        if result_storage is not None or result_serializer is not None:
            # Start-up: only tasks that choose their storage load these.
            from kflow.filesystems import resolve_storage
            from kflow.serializers import resolve_serializer

            self.result_storage = resolve_storage(result_storage, f"task {self.name!r}")
            self.result_serializer = resolve_serializer(result_serializer, f"task {self.name!r}")
        if result_storage_key is not None and not isinstance(result_storage_key, str):
            raise TypeError(
                f"result_storage_key of task {self.name!r} must be a string such as "
                f"'{{parameters[x]}}-{{flow_run.id}}.json'; got {result_storage_key!r}."
            )
        self.result_storage_key = result_storage_key
        if persist_result is None and (
            result_storage is not None
            or result_serializer is not None
            or result_storage_key is not None
        ):
            persist_result = True  # as in Prefect: choosing where or how implies persisting
        self.persist_result = persist_result
        self.log_prints = log_prints
        self.task_run_name = task_run_name
        self.on_completion_hooks = list(on_completion or [])
        self.on_failure_hooks = list(on_failure or [])
        if retry_condition_fn is not None and not callable(retry_condition_fn):
            raise TypeError(
                "retry_condition_fn must be a function (task, task_run, state) -> bool; got "
                f"{retry_condition_fn!r}."
            )
        self.retry_condition_fn = retry_condition_fn
        self._cache_options = (cache_policy, cache_key_fn)
        self.cache_key_fn = cache_key_fn
        self.cache_policy: CachePolicy | None = None
        if cache_policy is not None or cache_key_fn is not None:
            # Start-up: kflow.cache_policies (hashlib, json, pickle, inspect) is for tasks
            # that cache, not for every `import kflow`.
            from kflow.cache_policies import task_cache_policy

            self.cache_policy = task_cache_policy(
                self.name, cache_policy, cache_key_fn, persist_result
            )
        self.cache_expiration = _expiration(self.name, cache_expiration)
        self.refresh_cache = refresh_cache
        self.isasync = _is_async(fn)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = getattr(fn, "__name__", self.name)
        self.__qualname__ = getattr(fn, "__qualname__", self.name)
        self.__module__ = getattr(fn, "__module__", __name__)
        self.__wrapped__ = fn
        self._key: tuple[str, str] | None = None
        self._signature: CallSignature | None = None

    @property
    def description(self) -> str | None:
        if self._description is None and self.fn.__doc__:
            import inspect

            self._description = inspect.cleandoc(self.fn.__doc__)
        return self._description

    @property
    def task_key(self) -> str:
        return self._keys()[0]

    @property
    def key_hash(self) -> str:
        return self._keys()[1]

    def _keys(self) -> tuple[str, str]:
        if self._key is None:
            from kflow.function_keys import function_key

            self._key = function_key(self.fn)
        return self._key

    def call_signature(self) -> CallSignature:
        if self._signature is None:
            from kflow.parameters import CallSignature

            self._signature = CallSignature(self.fn)
        return self._signature

    def with_options(self, **changes: Any) -> Task[P, R]:
        """A copy of this task with some options changed (same keywords as @task)."""
        options: dict[str, Any] = {
            "name": self.name,
            "description": self._description,
            "tags": self.tags,
            "version": self.version,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "retry_jitter_factor": self.retry_jitter_factor,
            "timeout_seconds": self.timeout_seconds,
            "persist_result": self.persist_result,
            "log_prints": self.log_prints,
            "task_run_name": self.task_run_name,
            "on_completion": self.on_completion_hooks,
            "on_failure": self.on_failure_hooks,
            "cache_policy": self._cache_options[0],
            "cache_key_fn": self._cache_options[1],
            "cache_expiration": self.cache_expiration,
            "refresh_cache": self.refresh_cache,
            "retry_condition_fn": self.retry_condition_fn,
            "result_storage": self.result_storage,
            "result_serializer": self.result_serializer,
            "result_storage_key": self.result_storage_key,
        }
        check_options("Task.with_options", changes, options)
        options.update(changes)
        return Task(self.fn, **options)

    def on_completion(self, hook: TaskHook) -> TaskHook:
        self.on_completion_hooks.append(hook)
        return hook

    def on_failure(self, hook: TaskHook) -> TaskHook:
        self.on_failure_hooks.append(hook)
        return hook

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    @overload
    def __call__(
        self,
        *args: Any,
        return_state: Literal[True],
        wait_for: Iterable[Any] | None = None,
        **kwargs: Any,
    ) -> State[Any]: ...
    @overload
    def __call__(self, *args: Any, wait_for: Iterable[Any], **kwargs: Any) -> R: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task now, in this thread, and return its value (or a coroutine for async
        tasks in an async flow). Only allowed inside a flow run, and not inside a task."""
        return _task_calls().call_task(self, args, kwargs)

    @overload
    def submit(
        self: Task[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> TaskRunFuture[T]: ...
    @overload
    def submit(self: Task[P, T], *args: P.args, **kwargs: P.kwargs) -> TaskRunFuture[T]: ...
    @overload
    def submit(
        self: Task[..., Coroutine[Any, Any, T]],
        *args: Any,
        wait_for: Iterable[Any],
        **kwargs: Any,
    ) -> TaskRunFuture[T]: ...
    @overload
    def submit(
        self: Task[..., T], *args: Any, wait_for: Iterable[Any], **kwargs: Any
    ) -> TaskRunFuture[T]: ...
    def submit(self, *args: Any, **kwargs: Any) -> Any:
        """Hand the task run to the flow's task runner and return its future at once."""
        return _task_calls().submit_task(self, args, kwargs)

    def map(self, *args: Any, **kwargs: Any) -> TaskRunFutureList[Any]:
        """Submit one task run per element of the iterable arguments (`unmapped(x)` stays whole).

        All iterable arguments must have the same length.
        """
        futures: TaskRunFutureList[Any] = _task_calls().map_task(self, args, kwargs)
        return futures

    if not TYPE_CHECKING:  # type checkers keep flagging attributes a Task does not have

        def __getattr__(self, name: str) -> NoReturn:
            missing_method("Task", name, self)

    def __repr__(self) -> str:
        return f"Task(name={self.name!r})"


@overload
def task(__fn: Callable[P, R]) -> Task[P, R]: ...
@overload
def task(
    __fn: None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    version: str | None = None,
    retries: int | None = None,
    retry_delay_seconds: RetryDelay | None = None,
    retry_jitter_factor: float | None = None,
    timeout_seconds: float | None = None,
    persist_result: bool | None = None,
    log_prints: bool | None = None,
    task_run_name: str | Callable[[], str] | None = None,
    on_completion: list[TaskHook] | None = None,
    on_failure: list[TaskHook] | None = None,
    cache_policy: CachePolicy | None = None,
    cache_key_fn: CacheKeyFn | None = None,
    cache_expiration: timedelta | None = None,
    refresh_cache: bool | None = None,
    retry_condition_fn: RetryConditionFn | None = None,
    result_storage: ResultStorage | None = None,
    result_serializer: ResultSerializer | None = None,
    result_storage_key: str | None = None,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...
def task(__fn: Any = None, **options: Any) -> Any:
    """Decorate a function as a task: `@task` or `@task(name=..., retries=..., ...)`."""
    check_options("@task", options, TASK_OPTIONS)
    if __fn is not None:
        return Task(__fn, **options)

    def decorate(fn: Callable[P, R]) -> Task[P, R]:
        return Task(fn, **options)

    return decorate


TASK_OPTIONS = (
    "name",
    "description",
    "tags",
    "version",
    "retries",
    "retry_delay_seconds",
    "retry_jitter_factor",
    "timeout_seconds",
    "persist_result",
    "log_prints",
    "task_run_name",
    "on_completion",
    "on_failure",
    "cache_policy",
    "cache_key_fn",
    "cache_expiration",
    "refresh_cache",
    "retry_condition_fn",
    "result_storage",
    "result_serializer",
    "result_storage_key",
)


def _expiration(task_name: str, cache_expiration: Any) -> timedelta | None:
    if cache_expiration is None:
        return None
    seconds = getattr(cache_expiration, "total_seconds", None)
    if not callable(seconds) or isinstance(cache_expiration, type):
        raise TypeError(
            f"cache_expiration of task {task_name!r} must be a datetime.timedelta such as "
            f"timedelta(hours=1); got {cache_expiration!r}."
        )
    if seconds() <= 0:
        raise ValueError(
            f"cache_expiration of task {task_name!r} must be longer than zero; got "
            f"{cache_expiration!r}."
        )
    expiration: timedelta = cache_expiration
    return expiration


def task_input_hash(context: TaskRunContext, arguments: dict[str, Any]) -> str | None:
    """A cache_key_fn hashing the task and all its inputs (None when one cannot be hashed)."""
    # Start-up: hashing is for tasks that cache (see Task.__init__).
    from kflow.cache_policies import input_hash

    return input_hash(context, arguments)
