"""What a user sees when `kflow deploy` refuses: every problem of kflow.yaml in one report, a
suggestion for a misspelt key, the operator's own schedule messages, and one line (not a
traceback) when no cluster is configured."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kflow.cli import main
from kflow_operator.decisions.schedules import ScheduleError, parse_schedules

KFLOW = Path(sys.executable).parent / "kflow"

FLOW_SOURCE = """
from kflow import flow


@flow
def greet(name: str, times: int = 1) -> None:
    pass
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "flows.py").write_text(FLOW_SOURCE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def deploy(
    project: Path, body: str, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[str]]:
    """`kflow deploy --dry-run` of a kflow.yaml: exit status and stderr lines."""
    (project / "kflow.yaml").write_text(textwrap.dedent(body))
    status = main(["deploy", *(args or ("--all",)), "--dry-run"])
    return status, capsys.readouterr().err.splitlines()


def test_every_mistake_of_the_file_is_reported_in_one_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = deploy(
        project,
        """
        deployments:
          - name: nightly
            entrypoint: flows.py:greet
            schedul: {cron: "0 9 * * *"}
            parameters: {name: x, times: many}
          - name: hourly
            entrypoint: flows.py:greet
            parameters: {name: x}
            schedule: {cron: "0 25 * * *", timezone: Mars/Base}
            concurrencyPolicy: Sometimes
          - entrypoint: flows.py:greet
        """,
        capsys,
    )
    assert status == 2
    assert lines == [
        "kflow.yaml: deployments[2]: name: required (a string)",
        "kflow.yaml: deployment nightly: schedul: unknown key; did you mean `schedule`?",
        "kflow.yaml: deployment nightly: parameters.times: Input should be a valid integer, "
        "unable to parse string as an integer (got 'many')",
        "kflow.yaml: deployment hourly: schedule.cron: '0 25 * * *': hour 25 out of range "
        "(0-23); the fields are minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, "
        "day-of-week 0-6",
        "kflow.yaml: deployment hourly: schedule.timezone: unknown time zone 'Mars/Base': "
        "use an IANA name such as 'Europe/Berlin' or 'UTC'",
        "kflow.yaml: deployment hourly: concurrencyPolicy: Input should be 'Allow', 'Forbid' "
        "or 'Replace' (got 'Sometimes')",
        "kflow deploy: 6 problems in kflow.yaml; nothing was applied",
    ]


@pytest.mark.parametrize(
    ("keys", "field", "suggestion"),
    [
        ('schedul: {cron: "0 9 * * *"}', "schedul", "did you mean `schedule`?"),
        ('schedule: {crn: "0 9 * * *"}', "schedule.crn", "did you mean `cron`?"),
        (
            'schedules: [{interval: 60, anchortime: "2026-01-01T00:00:00Z"}]',
            "schedules[0].anchortime",
            "did you mean `anchorTime`?",
        ),
        ("concurrency_policy: Forbid", "concurrency_policy", "did you mean `concurrencyPolicy`?"),
        ("infrastructure: {type: docker, imagee: x}", "infrastructure.imagee", "`image`?"),
        ("colour: red", "colour", "expected one of: name, namespace, schedule, schedules,"),
    ],
)
def test_a_misspelt_key_gets_the_nearest_known_one(
    project: Path, capsys: pytest.CaptureFixture[str], keys: str, field: str, suggestion: str
) -> None:
    status, lines = deploy(
        project,
        f"""
        deployments:
          - name: typo
            entrypoint: flows.py:greet
            parameters: {{name: x}}
            {keys}
        """,
        capsys,
    )
    assert status == 2
    assert lines[0].startswith(f"kflow.yaml: deployment typo: {field}: unknown key; "), lines
    assert suggestion in lines[0], lines
    assert len(lines) == 2, lines


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4,6 *", "0 25 * * *", "0 9 * *"])
def test_kflow_deploy_refuses_a_schedule_with_the_operators_message(
    project: Path, capsys: pytest.CaptureFixture[str], cron: str
) -> None:
    with pytest.raises(ScheduleError) as operator:
        parse_schedules([{"cron": cron}])
    status, lines = deploy(
        project,
        f"""
        deployments:
          - name: leap
            entrypoint: flows.py:greet
            parameters: {{name: x}}
            schedule: {{cron: "{cron}"}}
        """,
        capsys,
    )
    assert status == 2
    assert lines[0] == f"kflow.yaml: deployment leap: schedule.cron: {operator.value.message}"


def test_30_february_says_why_it_never_fires(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, lines = deploy(
        project,
        """
        deployments:
          - {name: leap, entrypoint: flows.py:greet, parameters: {name: x},
             schedule: {cron: "0 0 30 2 *"}}
        """,
        capsys,
    )
    assert lines[0] == (
        "kflow.yaml: deployment leap: schedule.cron: '0 0 30 2 *' never matches a date: "
        "day-of-month 30 does not occur in February"
    )


def test_a_schedule_item_reports_each_of_its_problems(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, lines = deploy(
        project,
        """
        deployments:
          - name: s
            entrypoint: flows.py:greet
            parameters: {name: x}
            schedules:
              - {interval: 0, timezone: UTC, active: maybe}
              - {cron: "0 9 * * *"}
              - {cron: "0 9 * * *", interval: 60}
        """,
        capsys,
    )
    assert lines[:-1] == [
        "kflow.yaml: deployment s: schedules[0].timezone: applies to `cron` schedules only "
        "(an interval counts elapsed seconds)",
        "kflow.yaml: deployment s: schedules[0].interval: 0 is not a whole number of seconds >= 1",
        "kflow.yaml: deployment s: schedules[0].active: Input should be a valid boolean, "
        "unable to interpret input (got 'maybe')",
        "kflow.yaml: deployment s: schedules[2]: give exactly one of `cron` or `interval`",
    ]


def kflow_subprocess(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (project / "kflow.yaml").write_text(
        "deployments:\n  - {name: hello, entrypoint: 'flows.py:greet', parameters: {name: x}}\n"
    )
    return subprocess.run(
        [str(KFLOW), "deploy", "--all"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def clean_environment(home: Path) -> dict[str, str]:
    """The user's environment without any cluster: no KUBECONFIG, no in-cluster service."""
    env = {
        k: v for k, v in os.environ.items() if k != "KUBECONFIG" and not k.startswith("KUBERNETES_")
    }
    env["HOME"] = str(home)
    return env


def test_no_kube_config_is_one_line_naming_kubeconfig(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    missing = tmp_path / "no-such-kubeconfig"
    result = kflow_subprocess(project, {**clean_environment(home), "KUBECONFIG": str(missing)})
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("kflow deploy: no usable Kubernetes configuration"), line
    assert str(missing) in line and "Set KUBECONFIG" in line, line
    assert result.stdout == ""


def test_no_kube_config_at_all_names_the_default_file(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = kflow_subprocess(project, clean_environment(home))
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert str(home / ".kube" / "config") in line and "Set KUBECONFIG" in line, line
