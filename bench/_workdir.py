"""A benchmark's temporary directory, the installed packages' bytecode compiled first: the
figures are of what users run (see tests/support/bytecode.py). A pass over the installed
packages takes seconds even when everything is compiled already, so it is made once a process:
`python -m bench` runs five benchmarks.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.bytecode import compile_installed_packages


@functools.cache
def compiled_bytecode() -> None:
    compile_installed_packages()


@contextlib.contextmanager
def bench_workdir(name: str) -> Iterator[Path]:
    """A fresh directory for benchmark `name`, removed afterwards."""
    compiled_bytecode()
    with tempfile.TemporaryDirectory(prefix=f"kflow-bench-{name}-") as tmp:
        yield Path(tmp)
