"""`kflow deploy` without a cluster: kflow.yaml, flow and parameter checks, --dry-run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from kflow.cli import main
from kflow.cli.deploy_file import DeployError, build_manifests, load_file, select
from kflow.cli.flow_signature import parameter_schema

ROOT = Path(__file__).resolve().parents[2]

FLOW_SOURCE = """
from kflow import flow


@flow
def greet(name: str, times: int = 1, tags: list[str] | None = None) -> None:
    pass


def plain(name: str) -> None:
    pass
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "flows.py").write_text(FLOW_SOURCE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(project: Path, body: str) -> Path:
    path = project / "kflow.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def manifests(path: Path, *names: str) -> list[dict[str, object]]:
    file = load_file(path)
    return build_manifests(file, select(file, names, not names), None)


def test_the_example_dry_run_prints_an_applicable_deployment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["deploy", "-f", "examples/kflow.yaml", "--all", "--dry-run"]) == 0
    (document,) = list(yaml.safe_load_all(capsys.readouterr().out))
    assert document["apiVersion"] == "kflow.dev/v1alpha1"
    assert document["kind"] == "Deployment"
    assert document["metadata"] == {"name": "example-deployment"}
    spec = document["spec"]
    assert spec["entrypoint"] == "examples/example_flow.py:example_workflow"
    assert spec["schedules"] == [{"cron": "0 9 * * *", "timezone": "UTC"}]
    assert set(spec["parameterSchema"]["properties"]) == {"name", "numbers"}


def test_schema_comes_from_the_signature(project: Path) -> None:
    path = write(
        project,
        """
        deployments:
          - name: hello
            entrypoint: flows.py:greet
            schedule: {interval: 60}
            parameters: {name: world}
            namespace: team-a
            concurrencyPolicy: Forbid
        """,
    )
    (manifest,) = manifests(path)
    assert manifest["metadata"] == {"name": "hello", "namespace": "team-a"}
    spec = manifest["spec"]
    assert isinstance(spec, dict)
    schema = spec["parameterSchema"]
    assert schema["required"] == ["name"]
    assert schema["properties"]["name"]["type"] == "string"
    assert schema["properties"]["times"] == {"default": 1, "title": "Times", "type": "integer"}
    assert spec["schedules"] == [{"interval": 60}]
    assert spec["infrastructure"] == {"type": "process"}
    assert spec["concurrencyPolicy"] == "Forbid"


def test_schema_of_a_flow_without_parameters() -> None:
    def nothing() -> None:
        pass

    assert parameter_schema(nothing)["properties"] == {}


def test_names_select_and_unknown_names_are_refused(project: Path) -> None:
    path = write(
        project,
        """
        deployments:
          - {name: a, entrypoint: "flows.py:greet", parameters: {name: x}}
          - {name: b, entrypoint: "flows.py:greet", parameters: {name: y}}
        """,
    )
    assert [m["metadata"]["name"] for m in manifests(path, "b")] == ["b"]  # type: ignore[index]
    with pytest.raises(DeployError, match=r"no deployment named c \(have: a, b\)"):
        manifests(path, "c")
    with pytest.raises(DeployError, match="or pass --all"):
        select(load_file(path), [], False)
    with pytest.raises(DeployError, match="not both"):
        select(load_file(path), ["a"], True)


@pytest.mark.parametrize(
    ("entry", "field", "hint"),
    [
        (
            "{entrypoint: 'flows.py:greet', parameters: {name: x}, schedule: {cron: '0 25 * * *'}}",
            "schedule.cron",
            "'0 25 * * *': hour 25 out of range (0-23)",
        ),
        (
            "{entrypoint: 'flows.py:greet', parameters: {name: x}, "
            "schedules: [{interval: 5}, {cron: '0 9 * * *', timezone: Mars/Base}]}",
            "schedules[1].timezone",
            "IANA",
        ),
        (
            "{entrypoint: 'flows.py:greet', parameters: {name: x}, schedule: {}}",
            "schedule",
            "exactly one of `cron` or `interval`",
        ),
        ("{entrypoint: 'flows.py:plain'}", "entrypoint", "not a kflow flow"),
        ("{entrypoint: 'flows.py:missing'}", "entrypoint", "has no attribute"),
        ("{entrypoint: 'nowhere.py:greet'}", "entrypoint", "does not exist"),
        ("{}", "entrypoint", "required"),
        (
            "{entrypoint: 'flows.py:greet', parameters: {name: x, colour: red}}",
            "parameters.colour",
            "no parameter 'colour'",
        ),
        (
            "{entrypoint: 'flows.py:greet', parameters: {name: x, times: many}}",
            "parameters.times",
            "valid integer",
        ),
        (
            "{entrypoint: 'flows.py:greet', schedule: {interval: 60}}",
            "parameters.name",
            "scheduled runs get only these parameters",
        ),
        (
            "{entrypoint: 'flows.py:greet', parameters: {name: x}, concurrencyPolicy: Sometimes}",
            "concurrencyPolicy",
            "Allow",
        ),
        (
            "{entrypoint: 'flows.py:greet', parameters: {name: x}, workQueue: default}",
            "workQueue",
            "unknown key",
        ),
    ],
)
def test_errors_name_the_file_the_deployment_and_the_field(
    project: Path, entry: str, field: str, hint: str
) -> None:
    path = write(project, f"deployments:\n  - {{name: broken, {entry[1:-1]}}}\n")
    with pytest.raises(DeployError) as caught:
        manifests(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: deployment broken: {field}: "), message
    assert hint in message, message


def test_a_flow_without_schedules_may_leave_required_parameters_to_each_run(
    project: Path,
) -> None:
    path = write(project, "deployments:\n  - {name: adhoc, entrypoint: 'flows.py:greet'}\n")
    (manifest,) = manifests(path)
    assert manifest["spec"]["parameters"] == {}  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        ("deployments: {}", "top-level `deployments:` list"),
        ("[1, 2", "not valid YAML"),
        ("deployments:\n  - {entrypoint: 'flows.py:greet'}", "deployments[0]: name: required"),
        ("deployments:\n  - {name: Bad_Name, entrypoint: 'flows.py:greet'}", "Kubernetes name"),
        (
            "deployments:\n  - {name: a, entrypoint: 'flows.py:greet'}\n"
            "  - {name: a, entrypoint: 'flows.py:greet'}",
            "deployments[1]: name: 'a' is used by deployments[0] too",
        ),
    ],
)
def test_file_level_errors(project: Path, body: str, hint: str) -> None:
    path = write(project, body)
    with pytest.raises(DeployError) as caught:
        manifests(path)
    assert hint in str(caught.value)


def test_missing_file_and_exit_status(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "--all", "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert "kflow.yaml: no such file" in error
