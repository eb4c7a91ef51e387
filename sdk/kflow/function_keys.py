"""Keys of functions: a task's key (in its run names, its persisted results' keys and
`task_input_hash`) and a flow's default version. Both must be the same in every process that
runs the same code.
"""

from __future__ import annotations

import hashlib
from types import CodeType
from typing import Any


def function_key(fn: object) -> tuple[str, str]:
    """(`<qualname>-<hash8>`, `hash8`): a task's key; the hash changes when its code does.

    Task run names are `<task name>-<hash8>-<dynamic index>`, like Prefect's
    `Print Hello-84f0fe0e-0`.
    """
    code = getattr(fn, "__code__", None)
    qualname = getattr(fn, "__qualname__", repr(fn))
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(qualname.encode())
    if code is not None:
        digest.update(code.co_code)
        digest.update(_stable_consts(code).encode())
    short = digest.hexdigest()[:8]
    return f"{qualname}-{short}", short


def _stable_consts(code: Any) -> str:
    """`repr(code.co_consts)`, but the same in every process: a nested code object (a
    comprehension, a lambda, an inner function) is described by its own bytecode and constants
    instead of its repr, which holds its memory address, and a frozenset constant (`x in {"a",
    "b"}`) lists its items sorted, not in the order of the process's string hashes. A key that
    changed with the process would leave a restarted run without its persisted results and a
    cache entry serving only the process that wrote it."""
    consts = code.co_consts
    if not any(_varies(const) for const in consts):
        return repr(consts)
    return _stable_repr(consts)


def _varies(value: Any) -> bool:
    if isinstance(value, CodeType | frozenset):
        return True
    return isinstance(value, tuple) and any(_varies(item) for item in value)


def _stable_repr(value: Any) -> str:
    if isinstance(value, CodeType):
        return f"<code {value.co_qualname} {value.co_code.hex()} {_stable_consts(value)}>"
    if isinstance(value, frozenset):
        return "frozenset({" + ", ".join(sorted(_stable_repr(item) for item in value)) + "})"
    if isinstance(value, tuple):
        return "(" + ", ".join(_stable_repr(item) for item in value) + ",)"
    return repr(value)


def source_file_hash(fn: object) -> str | None:
    """The flow version default: a hash of the file that defines the function, if readable."""
    code = getattr(fn, "__code__", None)
    path = getattr(code, "co_filename", None)
    if not path:
        return None
    try:
        with open(path, "rb") as src:
            return hashlib.md5(src.read(), usedforsecurity=False).hexdigest()
    except OSError:
        return None
