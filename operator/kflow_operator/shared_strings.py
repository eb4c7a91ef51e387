"""One string object for each value that many kept objects repeat.

The JSON decoder makes a new string for every value it reads, so thousands of FlowRuns kept by
the index each hold their own copy of the same namespace, kind, Deployment name, state names,
condition reasons and messages. Interned, a FlowRun that settled FAILED takes 3.7 KiB in the
index instead of 4.9 KiB (measured over 10,000 decoded runs, unique names, UIDs and
timestamps), ~60 MiB less at 50,000 runs, for ~3 µs per body put. Interned strings are freed
like any other once nothing refers to them.
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
    if isinstance(value, dict):
        for key, item in value.items():
            if type(item) is str:
                if len(item) <= LONGEST:
                    value[key] = sys.intern(item)
            elif isinstance(item, dict | list):
                share_strings(item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if type(item) is str:
                if len(item) <= LONGEST:
                    value[index] = sys.intern(item)
            elif isinstance(item, dict | list):
                share_strings(item)
