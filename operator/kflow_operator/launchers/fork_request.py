"""What the fork server is asked to start, and whether a run may skip the interpreter start-up.

A forked child is the server's interpreter: whatever Python read while starting (PYTHON*
variables such as PYTHONPATH or PYTHONHASHSEED, the locale that fixed its encodings, the dynamic
loader's LD_* variables) is the server's. A run whose environment differs from the server's in
any of those, that names another Python (`process.pythonExecutable`) or that has its own
command gets a fresh interpreter: the child execs the command, as the launcher always did. So
does a run whose UID does not fit the slot a forked child names its run in (environ_slot.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kflow_operator.decisions.launch_plan import RUN_UID_ENV
from kflow_operator.launchers import environ_slot

EXECUTE = "execute"
"""Call `kflow execute`'s main in the forked child."""
EXEC = "exec"
"""Exec the run's command in the forked child."""

_STARTUP_PREFIXES = ("PYTHON", "LD_", "LC_")
_STARTUP_NAMES = frozenset({"LANG", "LANGUAGE"})


def read_at_startup(name: str) -> bool:
    """Whether an interpreter reads this variable only when it starts."""
    return name.startswith(_STARTUP_PREFIXES) or name in _STARTUP_NAMES


def startup_differences(env: Mapping[str, str], server_env: Mapping[str, str]) -> list[str]:
    """The start-up variables a run would set differently from the server's interpreter."""
    names = {n for n in (*env, *server_env) if read_at_startup(n)}
    return sorted(n for n in names if env.get(n) != server_env.get(n))


@dataclass(frozen=True)
class ForkRequest:
    mode: str
    command: tuple[str, ...]
    """The command exec would run; the orphaned gate runs it too."""
    env: Mapping[str, str]
    cwd: str | None
    argv: tuple[str, ...] = ()
    """sys.argv of `kflow execute` in the forked child (as the command would have set it)."""
    path0: str = ""
    """sys.path[0] as the command would have set it: the script's folder, '' for `-c`."""

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "command": list(self.command),
            "env": dict(self.env),
            "cwd": self.cwd,
            "argv": list(self.argv),
            "path0": self.path0,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ForkRequest:
        return cls(
            mode=str(data["mode"]),
            command=tuple(data["command"]),
            env=dict(data["env"]),
            cwd=data["cwd"],
            argv=tuple(data["argv"]),
            path0=str(data["path0"]),
        )


def plan(
    command: Sequence[str],
    execute_command: Sequence[str] | None,
    env: Mapping[str, str],
    cwd: str | None,
    server_env: Mapping[str, str],
) -> ForkRequest:
    """How the server starts `command`. `execute_command`: the operator's own `kflow execute`
    command, which the server may run in-process; None when the run names another Python."""
    if execute_command is None or list(command) != list(execute_command):
        return ForkRequest(EXEC, tuple(command), env, cwd)
    if startup_differences(env, server_env) or not environ_slot.fits(env.get(RUN_UID_ENV, "")):
        return ForkRequest(EXEC, tuple(command), env, cwd)
    if len(command) >= 2 and command[1] == "-c":
        return ForkRequest(EXECUTE, tuple(command), env, cwd, argv=("-c", *command[3:]))
    return ForkRequest(
        EXECUTE, tuple(command), env, cwd, argv=tuple(command), path0=os.path.dirname(command[0])
    )
