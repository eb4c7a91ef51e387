"""Which process runs may skip the interpreter's start-up in the fork server, and what the
forked child is told to look like."""

from __future__ import annotations

from kflow_operator.launchers.fork_request import (
    EXEC,
    EXECUTE,
    ForkRequest,
    plan,
    startup_differences,
)

SCRIPT = ["/venv/bin/kflow", "execute"]
SERVER_ENV = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}


def run_env(**changes: str) -> dict[str, str]:
    return {**SERVER_ENV, "KFLOW_FLOW_RUN_NAME": "r", **changes}


def test_the_operators_own_kflow_execute_runs_in_the_forked_interpreter() -> None:
    planned = plan(SCRIPT, SCRIPT, run_env(), "/work", SERVER_ENV)
    assert planned.mode == EXECUTE
    assert planned.argv == ("/venv/bin/kflow", "execute")
    assert planned.path0 == "/venv/bin", "sys.path[0] as the console script would set it"
    assert planned.cwd == "/work" and planned.env["KFLOW_FLOW_RUN_NAME"] == "r"


def test_a_dash_c_command_gets_the_argv_and_path_python_gives_it() -> None:
    command = ["/usr/bin/python3", "-c", "from kflow.cli import main; main()", "execute"]
    planned = plan(command, command, run_env(), None, SERVER_ENV)
    assert planned.mode == EXECUTE
    assert planned.argv == ("-c", "execute") and planned.path0 == ""


def test_a_runs_own_command_is_execd() -> None:
    command = ["/bin/sh", "-c", "exit 3"]
    planned = plan(command, SCRIPT, run_env(), None, SERVER_ENV)
    assert planned.mode == EXEC and planned.command == tuple(command)


def test_another_python_is_execd() -> None:
    command = ["/opt/py/bin/python", "-c", "from kflow.cli import main; main()", "execute"]
    assert plan(command, None, run_env(), None, SERVER_ENV).mode == EXEC


def test_an_environment_the_interpreter_reads_at_startup_means_exec() -> None:
    for changed in ({"PYTHONPATH": "/extra"}, {"LANG": "de_DE.UTF-8"}, {"LD_PRELOAD": "x.so"}):
        planned = plan(SCRIPT, SCRIPT, run_env(**changed), None, SERVER_ENV)
        assert planned.mode == EXEC, changed
    unset = {k: v for k, v in run_env().items() if k != "PYTHONUNBUFFERED"}
    assert plan(SCRIPT, SCRIPT, unset, None, SERVER_ENV).mode == EXEC
    assert plan(SCRIPT, SCRIPT, run_env(GREETING="hi"), None, SERVER_ENV).mode == EXECUTE


def test_startup_differences_name_the_variables() -> None:
    env = run_env(PYTHONPATH="/x", LC_ALL="C", OTHER="y")
    assert startup_differences(env, SERVER_ENV) == ["LC_ALL", "PYTHONPATH"]


def test_a_request_survives_its_trip_through_the_socket() -> None:
    planned = plan(SCRIPT, SCRIPT, run_env(), "/work", SERVER_ENV)
    assert ForkRequest.from_json(planned.to_json()) == planned
