"""Infrastructure identifiers: where a run lives, as `scope:id` (design.md §5).

The scope says which operator may act on a run (its own host, Docker engine or cluster); the id
names the thing inside that scope. For processes the scope is the host name plus the boot id
(a reboot makes every PID meaningless) and the id is the PID plus the process start time in
clock ticks since boot, so a PID reused by another program never matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The process identity rule is the SDK's (the local run history uses it too): one rule.
from kflow.processes import (
    PROC,
    ProcessId,
    ProcStat,
    host_scope,
    is_alive,
    own_process_id,
    process_id_of,
    read_proc_stat,
    signal_process,
)

__all__ = [
    "PROC",
    "InfrastructureId",
    "ProcStat",
    "ProcessId",
    "format_pid",
    "host_scope",
    "is_alive",
    "own_process_id",
    "parse_pid",
    "process_id_of",
    "read_proc_stat",
    "signal_process",
]


@dataclass(frozen=True)
class InfrastructureId:
    """One run's infrastructure: its type (`process`, `docker`, `kubernetes-job`), scope, id."""

    type: str
    scope: str
    id: str
    owner: str | None = field(default=None, compare=False)
    """The UID of the FlowRun that records this identifier, when it was read from one: the
    status is writable by users, so a launcher confirms the thing it signals is that run's
    before it signals it (None: the launcher's own launch, nothing to confirm)."""

    @property
    def pid(self) -> str:
        return format_pid(self.scope, self.id)


def format_pid(scope: str, ident: str) -> str:
    """`scope:id`. Scopes may contain colons (`unix:///…`, `host:port`); ids never do."""
    if not scope or not ident:
        raise ValueError("an infrastructure identifier needs a non-empty scope and id")
    if ":" in ident:
        raise ValueError(f"an infrastructure id cannot contain ':' (got {ident!r})")
    return f"{scope}:{ident}"


def parse_pid(pid: str) -> tuple[str, str]:
    """Split `scope:id` at its last colon."""
    scope, sep, ident = pid.rpartition(":")
    if not sep or not scope or not ident:
        raise ValueError(
            f"infrastructure pid {pid!r} is not `scope:id` (e.g. `host/boot-id:1234@5678`)"
        )
    return scope, ident
