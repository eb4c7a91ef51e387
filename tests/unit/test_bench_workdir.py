"""`python -m bench` runs five benchmarks in one process: the installed packages' bytecode is
compiled by the first only (a pass takes seconds even when there is nothing left to compile)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from bench._workdir import bench_workdir, compiled_bytecode


@pytest.fixture
def compile_dir() -> Iterator[mock.MagicMock]:
    compiled_bytecode.cache_clear()
    try:
        with mock.patch("compileall.compile_dir") as compile_dir:
            yield compile_dir
    finally:
        compiled_bytecode.cache_clear()


def test_benchmarks_of_one_process_compile_the_installed_packages_once(
    compile_dir: mock.MagicMock,
) -> None:
    used: list[Path] = []
    for name in ("sdk_overhead", "operator_latency", "scale"):
        with bench_workdir(name) as workdir:
            assert workdir.is_dir() and workdir.name.startswith(f"kflow-bench-{name}-")
            used.append(workdir)
    assert compile_dir.call_count == 2, "purelib and platlib, once"
    assert not any(workdir.exists() for workdir in used)
