"""The list `.map()` returns, and rebuilding a collection of the same kind with new items.

A leaf (nothing of kflow is imported at run time): `State.result()` rebuilds the collections of
states a flow returned, and the engine rebuilds the collections of futures it resolves, both
with `rebuild` — so neither `kflow.states` nor `kflow.futures` has to import the other's layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from kflow.futures import TaskRunFuture
    from kflow.states import State

T = TypeVar("T")

BUILTIN_COLLECTIONS = (list, tuple, set, frozenset, dict)


class TaskRunFutureList(list["TaskRunFuture[T]"]):
    """What `Task.map()` returns: a list of futures that can be waited on together."""

    def wait(self, timeout: float | None = None) -> list[State[T]]:
        return [future.wait(timeout) for future in self]

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[T]:
        return [future.result(timeout, raise_on_failure) for future in self]


def rebuild(like: Any, items: Iterable[Any]) -> Any:
    """A collection of the same kind as `like` holding `items` (key/value pairs for a dict).

    The list `.map()` returns becomes a plain list: it holds values now, not futures. A named
    tuple keeps its class; another subclass that cannot be built from an iterable becomes its
    builtin base.
    """
    cls = type(like)
    if cls in BUILTIN_COLLECTIONS or cls is TaskRunFutureList:
        base: Any = list if cls is TaskRunFutureList else cls
        return base(items)
    if isinstance(like, tuple) and hasattr(cls, "_fields"):
        return cls(*items)
    materialised = list(items)
    try:
        return cls(materialised)
    except TypeError:
        base = next(b for b in BUILTIN_COLLECTIONS if isinstance(like, b))
        return base(materialised)
