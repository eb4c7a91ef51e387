"""How a forked run's process ends (launchers/forked_exit.py), in real child processes: the
exit status and output `sys.exit` and an uncaught exception give, and what the exit does."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from kflow_operator.launchers.forked_exit import exit_status


def ends(body: str) -> subprocess.CompletedProcess[str]:
    """A Python child whose `run()` (indented `body`) is ended by run_and_exit."""
    script = "import sys, atexit, threading, time\n"
    script += "from kflow_operator.launchers.forked_exit import run_and_exit\n"
    script += "def run():\n" + textwrap.indent(textwrap.dedent(body), "    ")
    script += "\nrun_and_exit(run)\nprint('not reached')\n"
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3), (256 + 7, 7), (True, 1)])
def test_exit_status_is_what_sys_exit_gives(code: object, status: int) -> None:
    assert exit_status(code) == status


def test_a_non_integer_exit_code_is_printed_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status("cannot go on") == 1
    assert capsys.readouterr().err == "cannot go on\n"


def test_the_returned_code_is_the_exit_status() -> None:
    assert ends("return 4").returncode == 4


def test_sys_exit_with_a_message_prints_it_and_fails() -> None:
    ended = ends("sys.exit('no flow here')")
    assert (ended.returncode, ended.stderr) == (1, "no flow here\n")


def test_an_uncaught_exception_prints_its_traceback_and_fails() -> None:
    ended = ends("raise ValueError('broke')")
    assert ended.returncode == 1
    assert "Traceback" in ended.stderr and "ValueError: broke" in ended.stderr


def test_keyboard_interrupt_ends_by_sigint_as_python_does() -> None:
    ended = ends("atexit.register(print, 'cleaned up')\nraise KeyboardInterrupt")
    assert ended.returncode == -2
    assert ended.stdout == "cleaned up\n"


def test_threads_atexit_and_buffered_output_are_finished_first() -> None:
    ended = ends(
        """
        def late():
            time.sleep(0.3)
            print('thread done', flush=True)
        threading.Thread(target=late).start()
        atexit.register(print, 'unterminated', end='')
        sys.stdout.write('buffered ')
        return 0
        """
    )
    assert ended.returncode == 0
    assert ended.stdout == "buffered thread done\nunterminated"
