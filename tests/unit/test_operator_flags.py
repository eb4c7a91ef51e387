"""The operator's command line: which launchers run, and the defaults runs fall back on."""

from __future__ import annotations

import pytest
from kflow.resources import InfrastructureType
from kflow_operator.main import parse_args, settings_from

PROCESS = InfrastructureType.PROCESS
DOCKER = InfrastructureType.DOCKER
JOB = InfrastructureType.KUBERNETES_JOB


@pytest.mark.parametrize(
    ("argv", "enabled"),
    [
        ([], {PROCESS, JOB}),
        (["--docker"], {PROCESS, JOB, DOCKER}),
        (["--docker-host", "tcp://127.0.0.1:2375"], {PROCESS, JOB, DOCKER}),
        (["--no-kubernetes-jobs"], {PROCESS}),
        (["--launchers", "kubernetes-job"], {JOB}),
        (["--launchers", "docker, process"], {PROCESS, DOCKER}),
        (["--launchers", "docker", "--docker-host", "unix:///run/d.sock"], {DOCKER}),
        (["--launchers=process,docker,kubernetes-job"], {PROCESS, DOCKER, JOB}),
    ],
)
def test_the_launchers_an_operator_builds(
    argv: list[str], enabled: set[InfrastructureType]
) -> None:
    args = parse_args(argv)
    assert args.launchers == enabled
    assert args.docker is (DOCKER in enabled), "the Docker launcher is built exactly when chosen"
    assert args.no_kubernetes_jobs is (JOB not in enabled)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--launchers", "lambda"], "expected a comma-separated list of kubernetes-job, docker"),
        (["--launchers", ""], "expected a comma-separated list"),
        (["--launchers", "process", "--docker"], "drop --docker/--no-kubernetes-jobs"),
        (["--launchers", "docker", "--no-kubernetes-jobs"], "drop --docker/--no-kubernetes-jobs"),
        (
            ["--launchers", "process", "--docker-host", "tcp://127.0.0.1:2375"],
            "--launchers leaves docker out",
        ),
        (["--default-grace-period", "-1"], "expected whole seconds from 0 to 86400"),
        (["--default-grace-period", "soon"], "expected whole seconds from 0 to 86400"),
        (["--default-grace-period", "86401"], "expected whole seconds from 0 to 86400"),
        (["--default-image", ""], "--default-image: must not be empty"),
        (["--start-deadline-seconds", "0"], "expected seconds from 1 to 86400"),
        (["--start-deadline-seconds", "soon"], "expected seconds from 1 to 86400"),
        (["--worker-heartbeat-seconds", "0"], "expected seconds above 0, at most 3600"),
        (["--worker-timeout-seconds", "soon"], "expected seconds above 0, at most 3600"),
        (
            ["--worker-heartbeat-seconds", "30", "--worker-timeout-seconds", "30"],
            "--worker-timeout-seconds (30) must exceed --worker-heartbeat-seconds (30)",
        ),
    ],
)
def test_a_wrong_flag_stops_the_operator_saying_what_to_change(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_run_defaults_come_from_the_command_line() -> None:
    args = parse_args(
        ["--default-image", "registry.example/flows:1", "--default-grace-period", "5"]
    )
    assert args.default_image == "registry.example/flows:1"
    assert args.default_grace_period == 5
    unset = parse_args([])
    assert unset.default_image is None and unset.default_grace_period == 30


def test_the_run_defaults_reach_the_operators_settings() -> None:
    settings = settings_from(
        parse_args(["--default-image", "registry.example/flows:1", "--default-grace-period", "5"])
    )
    assert settings.default_image == "registry.example/flows:1"
    assert settings.default_grace_period_seconds == 5
    assert settings_from(parse_args([])).default_grace_period_seconds == 30


def test_notification_flags() -> None:
    settings = settings_from(
        parse_args(["--notification-retry", "120", "--dashboard-url", "http://127.0.0.1:4200/"])
    )
    assert settings.notifications
    assert settings.notification_retry_seconds == 120
    assert settings.dashboard_url == "http://127.0.0.1:4200"
    assert not settings_from(parse_args(["--no-notifications"])).notifications


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--notification-retry", "-5"], "expected whole seconds from 0 to 604800"),
        (["--notification-retry", "1h"], "expected whole seconds from 0 to 604800"),
        (["--dashboard-url", "kflow.example.com"], "expected the dashboard's address"),
    ],
)
def test_a_wrong_notification_flag_says_what_is_expected(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err


def test_the_start_deadline_reaches_the_operators_settings() -> None:
    assert settings_from(parse_args([])).start_deadline_seconds == 300
    deadline = settings_from(parse_args(["--start-deadline-seconds", "45"]))
    assert deadline.start_deadline_seconds == 45


def test_worker_heartbeat_and_timeout_reach_the_operators_settings() -> None:
    default = settings_from(parse_args([]))
    assert (default.worker_heartbeat_seconds, default.worker_timeout_seconds) == (10, 30)
    set_ = settings_from(
        parse_args(["--worker-heartbeat-seconds", "0.5", "--worker-timeout-seconds", "2"])
    )
    assert (set_.worker_heartbeat_seconds, set_.worker_timeout_seconds) == (0.5, 2)
