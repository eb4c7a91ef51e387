"""One string object for each value that many kept objects repeat.

The JSON decoder makes a new string for every value it reads, so thousands of FlowRuns kept by
the index each hold their own copy of the same namespace, kind, Deployment name, state names,
condition reasons and messages. Interned, a FlowRun that settled FAILED takes 3.7 KiB in the
index instead of 4.9 KiB (measured over 10,000 decoded runs, unique names, UIDs and
timestamps), ~60 MiB less at 50,000 runs, for ~3 µs per body put. Interned strings are freed
like any other once nothing refers to them.

Keys need it too: the decoder shares a key only within one document, so an object decoded on
its own (a watch event, an item of a list read as it arrives) holds its own "metadata",
"status", "type"... Keys cannot be swapped in place, only by rebuilding the dict, which a
reader on another thread could catch half done: `share_fresh` is for objects just decoded,
that no one else holds yet.
"""

from __future__ import annotations

import sys
from typing import Any

LONGEST = 256
"""Longer values (a parameter blob, a traceback) are rarely repeated; not worth hashing."""


def share_strings(value: Any) -> None:
    """Replace, in place, every string value of `value`'s dicts and lists (at any depth) with
    the interned equal string. Readers see equal values, so bodies already handed out may be
    shared this way."""
    _share(value, keys=False)


def share_fresh(value: Any) -> None:
    """`share_strings`, keys included, for an object only the caller holds: its dicts are
    rebuilt in place."""
    _share(value, keys=True)


def _share(value: Any, keys: bool) -> None:
    if isinstance(value, dict):
        rebuilt: dict[Any, Any] | None = {} if keys else None
        for key, item in value.items():
            if type(item) is str:
                if len(item) <= LONGEST:
                    item = sys.intern(item)
                    if rebuilt is None:
                        value[key] = item
            elif isinstance(item, dict | list):
                _share(item, keys)
            if rebuilt is not None:
                rebuilt[sys.intern(key) if type(key) is str else key] = item
        if rebuilt is not None:
            value.clear()
            value.update(rebuilt)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if type(item) is str:
                if len(item) <= LONGEST:
                    value[index] = sys.intern(item)
            elif isinstance(item, dict | list):
                _share(item, keys)
