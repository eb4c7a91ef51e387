"""Which process started a flow process: the operator itself, or its fork server (a child of
the operator that forks process runs, kflow_operator.launchers.fork_server)."""

from __future__ import annotations

from pathlib import Path

FORK_SERVER_MODULE = "kflow_operator.launchers.fork_server"


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def is_fork_server(pid: int) -> bool:
    return FORK_SERVER_MODULE in cmdline(pid)


def operator_of(parent: int) -> int:
    """The operator a flow process whose parent is `parent` belongs to: `parent` itself, or the
    fork server's parent (read while that fork server lives)."""
    return parent_of(parent) if is_fork_server(parent) else parent
