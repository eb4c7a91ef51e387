"""A task run's persisted result: which store and key, and reading it back.

The store is the task's own `result_storage` / `result_serializer` where it sets them, else
its flow run's (which is its flow's, else its parent flow run's, else the backend's default).
The key is `<flow_run_id>/<task_key>-<dynamic_key>`, or the task's `result_storage_key`
formatted with the run's values as Prefect does: a later run whose key names a stored result
ends `Cached` with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kflow.exceptions import ResultStorageError

if TYPE_CHECKING:
    from kflow.context import FlowRunContext
    from kflow.logging import RunLogger
    from kflow.results import ResultStore
    from kflow.tasks import Task


class StorageKeyError(ResultStorageError):
    """A `result_storage_key` template that the run's values cannot fill."""


def result_store(task: Task[Any, Any], flow_ctx: FlowRunContext) -> ResultStore:
    store = flow_ctx.result_store
    if task.result_storage is None and task.result_serializer is None:
        return store
    return store.updated(task.result_storage, task.result_serializer)


def format_storage_key(task: Task[Any, Any], parameters: dict[str, Any]) -> str:
    """The task's `result_storage_key` for this run (call it in the run's task context)."""
    from kflow.runtime import deployment, flow_run, task_run

    template = task.result_storage_key
    assert template is not None
    try:
        return template.format(
            parameters=parameters, flow_run=flow_run, task_run=task_run, deployment=deployment
        )
    except (KeyError, AttributeError, IndexError, ValueError) as exc:
        raise StorageKeyError(
            f"result_storage_key {template!r} of task {task.name!r} cannot be filled in: "
            f"{type(exc).__name__}: {exc}. It may use {{parameters[name]}} (this run has "
            f"{', '.join(map(repr, parameters)) or 'no parameters'}), {{flow_run.id}}, "
            "{flow_run.name}, {task_run.id}, {task_run.name} and the other fields of "
            "kflow.runtime."
        ) from None


def read_persisted(
    store: ResultStore, key: str, exact: bool, logger: RunLogger
) -> tuple[bool, Any]:
    """(True, value) when the run's result is stored; one that cannot be decoded (written by
    another version, a broken file) is a warning and a miss, a storage failure raises."""
    try:
        return store.read(key, exact=exact)
    except ResultStorageError:
        raise
    except Exception as exc:
        logger.warning("Could not read the persisted result; running the task: %s", exc)
        return False, None
