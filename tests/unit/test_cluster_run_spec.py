"""Resolving what a FlowRun runs, and loading its entrypoint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kflow.cluster.entrypoint import EntrypointError, load_entrypoint, split_entrypoint
from kflow.cluster.run_spec import RunSpecError, merge_parameters, resolve_run_spec


def test_flow_run_parameters_override_the_deployments_key_by_key() -> None:
    assert merge_parameters({"a": 1, "b": {"x": 1}}, {"b": {"y": 2}, "c": 3}) == {
        "a": 1,
        "b": {"y": 2},
        "c": 3,
    }


def test_run_spec_from_a_deployment() -> None:
    flow_run = {"spec": {"deploymentRef": {"name": "etl"}, "parameters": {"n": 2}}}
    deployment = {"spec": {"entrypoint": "flows/etl.py:etl", "parameters": {"n": 1, "m": 5}}}
    spec = resolve_run_spec(flow_run, deployment)
    assert spec.entrypoint == "flows/etl.py:etl"
    assert spec.parameters == {"n": 2, "m": 5}
    assert spec.deployment_name == "etl"


def test_missing_deployment_is_named() -> None:
    with pytest.raises(RunSpecError, match="Deployment 'etl' does not exist"):
        resolve_run_spec({"spec": {"deploymentRef": {"name": "etl"}}}, None)


def test_inline_entrypoint_without_deployment() -> None:
    spec = resolve_run_spec({"spec": {"entrypoint": "m:f", "parameters": {"x": 1}}}, None)
    assert (spec.entrypoint, spec.parameters, spec.deployment_name) == ("m:f", {"x": 1}, None)


def test_neither_deployment_nor_entrypoint() -> None:
    with pytest.raises(RunSpecError, match=re.escape("spec.deploymentRef.name")):
        resolve_run_spec({"spec": {}}, None)


@pytest.mark.parametrize("bad", ["", "noattr", "file.py:", ":f", "m:1f"])
def test_malformed_entrypoints_are_refused_with_the_expected_form(bad: str) -> None:
    with pytest.raises(EntrypointError, match=re.escape("path/to/file.py:function")):
        split_entrypoint(bad)


def test_loads_a_file_relative_to_the_working_directory_without_running_main(
    tmp_path: Path,
) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "helper.py").write_text("VALUE = 41\n")
    (tmp_path / "flows" / "job.py").write_text(
        "from helper import VALUE\n"
        "def answer():\n    return VALUE + 1\n"
        "if __name__ == '__main__':\n    raise SystemExit('main block ran')\n"
    )
    target = load_entrypoint("flows/job.py:answer", tmp_path)
    assert callable(target)
    assert target() == 42


def test_loads_a_module_path(tmp_path: Path) -> None:
    package = tmp_path / "pkg_for_entrypoint_test"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("def f():\n    return 'ok'\n")
    target = load_entrypoint("pkg_for_entrypoint_test.mod:f", tmp_path)
    assert callable(target)
    assert target() == "ok"


def test_errors_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(EntrypointError, match="does not exist"):
        load_entrypoint("nope.py:f", tmp_path)
    (tmp_path / "present.py").write_text("x = 1\n")
    with pytest.raises(EntrypointError, match="has no attribute 'f'"):
        load_entrypoint("present.py:f", tmp_path)
    with pytest.raises(EntrypointError, match="cannot import module"):
        load_entrypoint("no_such_module_xyz:f", tmp_path)
