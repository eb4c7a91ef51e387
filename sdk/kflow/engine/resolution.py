"""Futures and states inside run inputs and flow return values, however deeply nested.

As in Prefect, a task call, `.submit()`, `.map()` or subflow call receives the *values* of the
futures and states in its arguments wherever they sit: in lists, tuples (named ones too), sets
and dict values — the list `.map()` returns included. A flow that returns futures keeps their
final *states* instead, in the same structure, so its final state holds them.

Both walks run for every task run, so data holding no future or state costs one type check per
item and comes back as the very same object: nothing is copied unless something was replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from kflow.futures import TaskRunFuture, UpstreamFailed, allow_failure
from kflow.run_collections import BUILTIN_COLLECTIONS as _BUILTIN_COLLECTIONS
from kflow.run_collections import rebuild
from kflow.states import State, StateType

SCALARS = frozenset({str, int, float, bool, bytes, type(None)})


def resolve_inputs(value: Any, allow_failed: bool = False) -> Any:
    """`value` with each future and state in it replaced by its result, waiting as needed.

    Raises UpstreamFailed, naming the upstream run, when one did not complete — unless it sits
    inside `allow_failure(...)`, where it is replaced by its exception instead.
    """
    cls = type(value)
    if cls in SCALARS:
        return value
    if cls is TaskRunFuture:
        state = value.wait()
        if state.type is StateType.COMPLETED:
            return state.result()
        if allow_failed:
            return state.result(raise_on_failure=False)
        raise UpstreamFailed(value.task_run.name)
    if cls is allow_failure:
        return resolve_inputs(value.value, True)
    if isinstance(value, State):
        if value.type is StateType.COMPLETED:
            return value.result()
        if allow_failed:
            return value.result(raise_on_failure=False)
        details = value.state_details
        if details.task_run_id is not None:
            raise UpstreamFailed(details.task_run_id)
        if details.flow_run_id is not None:
            raise UpstreamFailed(details.flow_run_id, kind="flow run")
        raise UpstreamFailed(str(value), kind="state")
    return _map_items(value, _resolve_allowing_failure if allow_failed else resolve_inputs)


def _resolve_allowing_failure(value: Any) -> Any:
    return resolve_inputs(value, True)


def futures_to_states(value: Any) -> Any:
    """`value` with each future in it replaced by its final state (waiting for it)."""
    cls = type(value)
    if cls in SCALARS or isinstance(value, State):
        return value
    if cls is TaskRunFuture:
        return value.wait()
    return _map_items(value, futures_to_states)


def has_unfinished(value: Any) -> bool:
    """Whether `value` holds a future whose run has not ended (resolving it would block)."""
    cls = type(value)
    if cls in SCALARS:
        return False
    if cls is TaskRunFuture:
        return not value.done()
    if cls is allow_failure:
        return has_unfinished(value.value)
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, _BUILTIN_COLLECTIONS):
        return False
    return any(type(item) not in SCALARS and has_unfinished(item) for item in value)


def _map_items(value: Any, visit: Callable[[Any], Any]) -> Any:
    """`value` rebuilt with `visit` applied to its items (a dict: its values); `value` itself
    when it is no collection or when every item came back unchanged."""
    if isinstance(value, dict):
        values = _changed(value.values(), visit)
        if values is None:
            return value
        return rebuild(value, zip(value.keys(), values, strict=True))
    if not isinstance(value, _BUILTIN_COLLECTIONS):
        return value
    items = _changed(value, visit)
    return value if items is None else rebuild(value, items)


def _changed(items: Iterable[Any], visit: Callable[[Any], Any]) -> list[Any] | None:
    """`visit` of each item, or None when each came back as itself (the common, cheap case)."""
    iterator = iter(items)
    for index, item in enumerate(iterator):
        if type(item) in SCALARS:
            continue
        new = visit(item)
        if new is not item:
            result = list(islice(items, index))
            result.append(new)
            result.extend(visit(rest) for rest in iterator)
            return result
    return None


def wait_for_all(items: Iterable[Any]) -> None:
    """Wait for the futures and states of `wait_for=`; UpstreamFailed if one did not complete."""
    for item in items:
        resolve_inputs(item)
