"""How a forked child comes to name its FlowRun in /proc/PID/environ, as an exec'd one does.

The owner check (process_owner.py) trusts `KFLOW_FLOW_RUN_UID` in /proc/PID/environ: the kernel
shows there the memory a process was executed with, which only that process (or the one that
executed it) can change. A child of the fork server was never executed: /proc shows the
server's start-up environment. So the server is started with `KFLOW_FLOW_RUN_UID` set to a
placeholder as long as any run's UID, and each child, before the server answers with its PID,
overwrites the placeholder in its own copy of that memory with its run's UID. Every child
then names its own run only, and nothing outside it can make it name another; the server
itself names none (no FlowRun has the placeholder as UID).
"""

from __future__ import annotations

import ctypes

from kflow.processes import PROC

from kflow_operator.decisions.launch_plan import RUN_UID_ENV

SLOT_LENGTH = 64
"""Bytes kept for the UID (Kubernetes gives a 36-character UUID); a longer one means exec."""
PLACEHOLDER = "-" * SLOT_LENGTH
_ENTRY = f"{RUN_UID_ENV}={PLACEHOLDER}".encode()
_ENV_START_FIELD = 50
"""/proc/PID/stat's field with the address of the environment memory (proc(5), Linux ≥ 3.5)."""


class NoSlot(Exception):
    """This process cannot rewrite its environment memory; forked runs would name no run."""


def fits(run_uid: str) -> bool:
    return len(run_uid.encode()) <= SLOT_LENGTH


def slot_offset(environ: bytes) -> int | None:
    """Where the placeholder's value starts in a /proc/PID/environ image; None when absent."""
    at = 0
    for entry in environ.split(b"\0"):
        if entry == _ENTRY:
            return at + len(RUN_UID_ENV) + 1
        at += len(entry) + 1
    return None


def filling(run_uid: str | None) -> bytes:
    """What replaces the placeholder: the UID, then NULs (empty entries) to the slot's end."""
    value = (run_uid or "").encode()
    if len(value) > SLOT_LENGTH or b"\0" in value:
        raise ValueError(f"a run UID of at most {SLOT_LENGTH} bytes, without NUL: {run_uid!r}")
    return value + b"\0" * (SLOT_LENGTH - len(value))


def env_start(stat: str) -> int:
    """The address of the environment memory, from the text of /proc/PID/stat."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[_ENV_START_FIELD - 3])


def own_slot() -> int:
    """The address of this process's placeholder value; NoSlot says why there is none."""
    try:
        stat = (PROC / "self" / "stat").read_text()
        environ = (PROC / "self" / "environ").read_bytes()
        start = env_start(stat)
    except (OSError, ValueError, IndexError) as error:
        raise NoSlot(f"cannot read its environment memory from {PROC}: {error}") from error
    offset = slot_offset(environ)
    if offset is None:
        raise NoSlot(f"it was started without {RUN_UID_ENV}={PLACEHOLDER[:8]}…")
    return start + offset


def claim(slot: int, run_uid: str | None) -> None:
    """Make this process's /proc/PID/environ name `run_uid` (none: name no run)."""
    value = filling(run_uid)
    ctypes.memmove(slot, value, len(value))
    if _ENTRY[: len(RUN_UID_ENV) + 1] + value not in (PROC / "self" / "environ").read_bytes():
        raise NoSlot("its environment memory did not take the run's UID")
