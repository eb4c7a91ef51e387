"""Futures passed where a task or flow takes values, as Prefect code does.

The SDK resolves them when the call starts, but the callee's signature (a ParamSpec, like
Prefect's) only admits the values: a test that passes futures on purpose says so with
`resolved_on_entry`, which changes nothing at run time, instead of silencing the type checker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar, overload

from kflow.futures import TaskRunFuture

T = TypeVar("T")


@overload
def resolved_on_entry(futures: TaskRunFuture[T]) -> T: ...
@overload
def resolved_on_entry(futures: Iterable[TaskRunFuture[T]]) -> list[T]: ...
def resolved_on_entry(futures: object) -> object:
    """`futures` itself, typed as what the task or flow it is passed to receives."""
    return futures
