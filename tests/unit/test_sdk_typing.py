"""Decorated flows and tasks keep their signatures for mypy (ParamSpec), and the Prefect
keywords (`return_state=`, `wait_for=`) still type-check."""

from __future__ import annotations

from pathlib import Path

from mypy import api

SNIPPET = """
from kflow import flow, task
from kflow.states import State

@task
def add(x: int, y: int = 1) -> int:
    return x + y

@task
async def fetch(url: str) -> bytes:
    return b""

@flow
def pipeline(n: int) -> int:
    a: int = add(n)
    future = add.submit(1, y=2)
    r: int = future.result()
    b: bytes = fetch.submit("u").result()
    s: State[object] = add(1, return_state=True)
    add.submit(1, wait_for=[future])
    return a + r + len(b)

add("x")  # BAD-1
pipeline(n="3")  # BAD-2
add.submit(1, z=2)  # BAD-3
"""


def test_signatures_survive_the_decorators(tmp_path: Path) -> None:
    source = tmp_path / "typed_flow.py"
    source.write_text(SNIPPET)
    report, _, _ = api.run(["--strict", "--no-error-summary", "--show-error-codes", str(source)])
    errors = [line for line in report.splitlines() if ": error:" in line]
    bad_lines = {
        str(number) for number, line in enumerate(SNIPPET.splitlines(), start=1) if "# BAD-" in line
    }
    flagged = {line.split(":")[1] for line in errors}
    assert flagged == bad_lines, report
