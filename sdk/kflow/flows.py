"""`@flow`: a function whose calls become observable flow runs with a final state.

The engine, `kflow.parameters` and `kflow.function_keys` are imported when first needed (see
`kflow.tasks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, ParamSpec, TypeVar, overload

from kflow.task_runners import TaskRunner, ThreadPoolTaskRunner
from kflow.tasks import RetryDelay, _is_async, _retry_delays
from kflow.unsupported import check_options, missing_method, module_getattr

if TYPE_CHECKING:
    from kflow.backend import FlowRun
    from kflow.deployment_builder import RunnerDeployment
    from kflow.filesystems import WritableFileSystem
    from kflow.parameters import CallSignature, ParameterValidator
    from kflow.serializers import Serializer
    from kflow.states import State
    from kflow.tasks import ResultSerializer, ResultStorage

P = ParamSpec("P")
R = TypeVar("R")

FlowHook = Callable[["Flow[Any, Any]", "FlowRun", "State[Any]"], Any]
_UNSET: Any = object()


class Flow(Generic[P, R]):
    """A flow. Calling it creates a flow run (a subflow run when called inside another flow)."""

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        version: str | None = None,
        flow_run_name: str | Callable[[], str] | None = None,
        retries: int | None = None,
        retry_delay_seconds: RetryDelay | None = None,
        task_runner: TaskRunner | None = None,
        description: str | None = None,
        timeout_seconds: float | None = None,
        validate_parameters: bool = True,
        persist_result: bool | None = None,
        log_prints: bool | None = None,
        tags: Iterable[str] | None = None,
        on_completion: list[FlowHook] | None = None,
        on_failure: list[FlowHook] | None = None,
        on_cancellation: list[FlowHook] | None = None,
        on_crashed: list[FlowHook] | None = None,
        on_running: list[FlowHook] | None = None,
        result_storage: ResultStorage | None = None,
        result_serializer: ResultSerializer | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@flow needs a function; got {fn!r}.")
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "flow")).replace("_", "-")
        self._version = version if version is not None else _UNSET
        self._description = description
        self.flow_run_name = flow_run_name
        self.retries = int(retries or 0)
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0; got {retries}.")
        self.retry_delay_seconds = retry_delay_seconds
        self.retry_delays = _retry_delays(self.retries, retry_delay_seconds)
        if task_runner is not None and not isinstance(task_runner, TaskRunner):
            raise TypeError(
                "task_runner must be a task runner instance such as ThreadPoolTaskRunner() or "
                f"SequentialTaskRunner(); got {task_runner!r}."
            )
        self.task_runner = task_runner if task_runner is not None else ThreadPoolTaskRunner()
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0; got {timeout_seconds}.")
        self.timeout_seconds = float(timeout_seconds) if timeout_seconds is not None else None
        self.should_validate_parameters = validate_parameters
        self.result_storage: WritableFileSystem | None = None
        self.result_serializer: Serializer | None = None
        if result_storage is not None or result_serializer is not None:
            # Start-up: only flows that choose their storage load these.
            from kflow.filesystems import resolve_storage
            from kflow.serializers import resolve_serializer

            owner = f"flow {self.name!r}"
            self.result_storage = resolve_storage(result_storage, owner)
            self.result_serializer = resolve_serializer(result_serializer, owner)
            if persist_result is None:  # as in Prefect: choosing where implies persisting
                persist_result = True
        self.persist_result = persist_result
        self.log_prints = log_prints
        self.tags = set(tags or ())
        self.on_completion_hooks = list(on_completion or [])
        self.on_failure_hooks = list(on_failure or [])
        self.on_cancellation_hooks = list(on_cancellation or [])
        self.on_crashed_hooks = list(on_crashed or [])
        self.on_running_hooks = list(on_running or [])
        self.isasync = _is_async(fn)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = getattr(fn, "__name__", self.name)
        self.__qualname__ = getattr(fn, "__qualname__", self.name)
        self.__module__ = getattr(fn, "__module__", __name__)
        self.__wrapped__ = fn
        self._key: tuple[str, str] | None = None
        self._signature: CallSignature | None = None
        self._validator: ParameterValidator | None = None

    @property
    def version(self) -> str | None:
        """Default: a hash of the source file defining the flow (None if it cannot be read)."""
        if self._version is _UNSET:
            from kflow.function_keys import source_file_hash

            self._version = source_file_hash(self.fn)
        version: str | None = self._version
        return version

    @property
    def description(self) -> str | None:
        if self._description is None and self.fn.__doc__:
            import inspect

            self._description = inspect.cleandoc(self.fn.__doc__)
        return self._description

    @property
    def flow_key(self) -> str:
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

    def validate_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Validated and coerced parameters; ParameterTypeError naming what was wrong."""
        if self._validator is None:
            from kflow.parameters import ParameterValidator

            self._validator = ParameterValidator(self.fn, self.call_signature())
        return self._validator.validate(parameters)

    def with_options(self, **changes: Any) -> Flow[P, R]:
        """A copy of this flow with some options changed (same keywords as @flow)."""
        options: dict[str, Any] = {
            "name": self.name,
            "version": None if self._version is _UNSET else self._version,
            "flow_run_name": self.flow_run_name,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "task_runner": self.task_runner,
            "description": self._description,
            "timeout_seconds": self.timeout_seconds,
            "validate_parameters": self.should_validate_parameters,
            "persist_result": self.persist_result,
            "log_prints": self.log_prints,
            "tags": self.tags,
            "on_completion": self.on_completion_hooks,
            "on_failure": self.on_failure_hooks,
            "on_cancellation": self.on_cancellation_hooks,
            "on_crashed": self.on_crashed_hooks,
            "on_running": self.on_running_hooks,
            "result_storage": self.result_storage,
            "result_serializer": self.result_serializer,
        }
        check_options("Flow.with_options", changes, options)
        options.update(changes)
        return Flow(self.fn, **options)

    def on_completion(self, hook: FlowHook) -> FlowHook:
        self.on_completion_hooks.append(hook)
        return hook

    def on_failure(self, hook: FlowHook) -> FlowHook:
        self.on_failure_hooks.append(hook)
        return hook

    def on_cancellation(self, hook: FlowHook) -> FlowHook:
        self.on_cancellation_hooks.append(hook)
        return hook

    def on_crashed(self, hook: FlowHook) -> FlowHook:
        self.on_crashed_hooks.append(hook)
        return hook

    def on_running(self, hook: FlowHook) -> FlowHook:
        self.on_running_hooks.append(hook)
        return hook

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    @overload
    def __call__(self, *args: Any, return_state: Literal[True], **kwargs: Any) -> Any: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the flow: its value (a coroutine for async flows), or its State with
        `return_state=True`. A flow that did not complete raises its exception."""
        from kflow.engine.flow_calls import call_flow

        return call_flow(self, args, kwargs)

    def to_deployment(self, name: str, **options: Any) -> RunnerDeployment:
        """Prefect's deployment builder: a Deployment resource for this flow, not applied yet
        (`kflow.deploy(...)` / `kflow.serve(...)` apply it; kflow.deployment_builder)."""
        from kflow.deployment_builder import to_deployment

        return to_deployment(self, name, **options)

    def deploy(self, name: str, **options: Any) -> str:
        """Build and apply this flow's Deployment into a work pool (`work_pool_name=`), as
        `kflow deploy` would; the `namespace/name` of what was applied."""
        from kflow.deployment_builder import flow_deploy

        return flow_deploy(self, name, **options)

    def serve(self, name: str | None = None, **options: Any) -> None:
        """Apply this flow's Deployment into a process pool and serve its runs from this
        machine until Ctrl-C (kflow.serving)."""
        from kflow.serving import flow_serve

        flow_serve(self, name, **options)

    @classmethod
    def from_source(cls, *args: Any, **kwargs: Any) -> NoReturn:
        missing_method("Flow", "from_source")

    if not TYPE_CHECKING:  # type checkers keep flagging attributes a Flow does not have

        def __getattr__(self, name: str) -> NoReturn:
            missing_method("Flow", name, self)

    def __repr__(self) -> str:
        return f"Flow(name={self.name!r})"


@overload
def flow(__fn: Callable[P, R]) -> Flow[P, R]: ...
@overload
def flow(
    __fn: None = None,
    *,
    name: str | None = None,
    version: str | None = None,
    flow_run_name: str | Callable[[], str] | None = None,
    retries: int | None = None,
    retry_delay_seconds: RetryDelay | None = None,
    task_runner: TaskRunner | None = None,
    description: str | None = None,
    timeout_seconds: float | None = None,
    validate_parameters: bool = True,
    persist_result: bool | None = None,
    log_prints: bool | None = None,
    tags: Iterable[str] | None = None,
    on_completion: list[FlowHook] | None = None,
    on_failure: list[FlowHook] | None = None,
    on_cancellation: list[FlowHook] | None = None,
    on_crashed: list[FlowHook] | None = None,
    on_running: list[FlowHook] | None = None,
    result_storage: ResultStorage | None = None,
    result_serializer: ResultSerializer | None = None,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...
def flow(__fn: Any = None, **options: Any) -> Any:
    """Decorate a function as a flow: `@flow` or `@flow(name=..., retries=..., ...)`."""
    check_options("@flow", options, FLOW_OPTIONS)
    if __fn is not None:
        return Flow(__fn, **options)

    def decorate(fn: Callable[P, R]) -> Flow[P, R]:
        return Flow(fn, **options)

    return decorate


# Prefect's `flow.from_source(...)` is called on the decorator itself.
flow.__dict__["from_source"] = Flow.from_source

FLOW_OPTIONS = (
    "name",
    "version",
    "flow_run_name",
    "retries",
    "retry_delay_seconds",
    "task_runner",
    "description",
    "timeout_seconds",
    "validate_parameters",
    "persist_result",
    "log_prints",
    "tags",
    "on_completion",
    "on_failure",
    "on_cancellation",
    "on_crashed",
    "on_running",
    "result_storage",
    "result_serializer",
)


async def aserve(*deployments: Any, **options: Any) -> None:
    """Prefect's `prefect.flows.aserve`: kflow.deployments.aserve (imported here on use: the
    deployments module needs this one)."""
    from kflow.deployments import aserve as serve_deployments

    await serve_deployments(*deployments, **options)


if not TYPE_CHECKING:  # Prefect names kflow lacks: a clear error, not "no attribute"
    __getattr__ = module_getattr(__name__)
