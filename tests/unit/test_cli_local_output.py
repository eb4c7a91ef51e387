"""`kflow flow-run ls|inspect -o json|yaml` print documents that parse back; `inspect` shows the
result and the subflow runs' start times and counts; `--version`; `history reset --local`."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from kflow.history.queries import History

from tests.support.local_runs import environment, kflow

FLOWS = """
from kflow import flow, task


@task
def square(x: int) -> int:
    return x * x


@flow(flow_run_name="child-{n}")
def child(n: int) -> int:
    return square(n)


@flow(flow_run_name="parent")
def parent() -> dict[str, int]:
    return {"total": child(2) + child(3)}


@flow(flow_run_name="big", persist_result=True)
def big() -> list[int]:
    return list(range(10_000))


@flow(flow_run_name="opaque")
def opaque() -> object:
    return object()


parent()
big()
opaque()
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("output-home")
    script = home / "flows.py"
    script.write_text(FLOWS)
    ran = subprocess.run(
        [sys.executable, str(script)],
        env=environment(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    return home


def parse(output: str, text: str) -> dict:  # type: ignore[type-arg]
    return json.loads(text) if output == "json" else yaml.safe_load(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_ls_prints_a_document_of_the_runs(home: Path, output: str) -> None:
    result = kflow(home, "flow-run", "ls", "--local", "-o", output)
    assert result.returncode == 0, result.stderr
    items = parse(output, result.stdout)["items"]
    assert [run["name"] for run in items] == ["opaque", "big", "child-3", "child-2", "parent"]
    assert {run["state"]["type"] for run in items} == {"COMPLETED"}
    newest = History.at(home).flow_runs()[0]
    assert items[0]["id"] == newest.id
    assert items[0]["startTime"].endswith("Z")


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_inspect_prints_a_document_with_states_tasks_subflows_and_result(
    home: Path, output: str
) -> None:
    result = kflow(home, "flow-run", "inspect", "parent", "--local", "-o", output)
    assert result.returncode == 0, result.stderr
    document = parse(output, result.stdout)
    assert document["name"] == "parent"
    assert document["result"]["value"] == {"total": 13}
    assert [s["type"] for s in document["stateHistory"]] == ["PENDING", "RUNNING", "COMPLETED"]
    assert document["taskRuns"]["total"] == 2  # the two subflow mirrors
    assert document["subflowRuns"]["total"] == 2
    assert document["subflowRuns"]["counts"] == {"COMPLETED": 2}
    subflows = document["subflowRuns"]["items"]
    assert [s["name"] for s in subflows] == ["child-2", "child-3"]
    assert all(s["startTime"] for s in subflows)
    assert [s["result"]["value"] for s in subflows] == [4, 9]


def test_inspect_shows_the_result_and_subflow_starts(home: Path) -> None:
    shown = kflow(home, "flow-run", "inspect", "parent", "--local").stdout
    assert 'Result      {"total": 13}' in shown
    assert "Subflow runs (2: 2 COMPLETED)" in shown
    subflow_table = shown.split("Subflow runs (2: 2 COMPLETED)")[1].splitlines()
    assert subflow_table[1].split() == ["ID", "NAME", "FLOW", "STATE", "START", "DURATION"]
    assert len(subflow_table[2].split()) == 7  # id, name, flow, state, date, time, duration

    big = kflow(home, "flow-run", "inspect", "big", "--local").stdout
    big_id = History.at(home).flow_run("big").id
    assert f"(stored at {home / 'results' / big_id / 'flow.pickle'})" in big

    opaque = kflow(home, "flow-run", "inspect", "opaque", "--local").stdout
    assert "Result      <object object at" in opaque
    assert "not kept: not JSON or over 16 KiB; @flow(persist_result=True) stores it" in opaque


def test_an_empty_history_is_an_empty_document(tmp_path: Path) -> None:
    result = kflow(tmp_path / "none", "flow-run", "ls", "--local", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"items": []}


def test_version(tmp_path: Path) -> None:
    result = kflow(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout == f"kflow {version('kflow')}\n"


def test_history_reset_refuses_without_an_answer_and_resets_when_confirmed(
    home: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "home"
    copy.mkdir()
    (copy / "history.db").write_bytes((home / "history.db").read_bytes())

    refused = kflow(copy, "history", "reset", "--local")  # stdin: /dev/null
    assert refused.returncode == 1
    assert "there is no answer to read (stdin is closed or empty)" in refused.stderr
    assert "pass --yes to reset without asking" in refused.stderr
    assert (copy / "history.db").exists()

    declined = kflow(copy, "history", "reset", "--local", stdin="n\n")
    assert declined.returncode == 1
    assert "(5 flow runs)? [y/N]" in declined.stdout and "Not reset." in declined.stdout
    assert len(History.at(copy).flow_runs()) == 5

    confirmed = kflow(copy, "history", "reset", "--local", stdin="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert History.at(copy).flow_runs() == []

    (copy / "history.db").write_bytes((home / "history.db").read_bytes())
    forced = kflow(copy, "history", "reset", "--local", "--yes")
    assert forced.returncode == 0, forced.stderr
    assert f"deleted {copy / 'history.db'} (5 flow runs)" in forced.stdout
    assert not (copy / "history.db").exists()
    assert "No flow runs" in kflow(copy, "flow-run", "ls", "--local").stdout


def test_history_reset_names_the_history_it_resets(tmp_path: Path) -> None:
    result = kflow(tmp_path, "history", "reset", "--yes")
    assert result.returncode == 2
    assert "the following arguments are required: --local" in result.stderr
