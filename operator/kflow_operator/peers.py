"""Peering identities that let a restarted operator take over at once from a dead predecessor.

Kopf keeps each replica's identity, priority and last-seen time in the peering object, and a
replica pauses while a live peer with a higher (or equal) priority is listed. A replica killed
with SIGKILL stays listed until its lifetime runs out, which would stall its own replacement.
kflow names each replica `host/boot-id/PID@START_TICKS`, so a new replica on the same host can
prove a listed one dead (its process is gone) and remove it before starting; peers on other
hosts age out by their lifetime as usual.
"""

from __future__ import annotations

from collections.abc import Callable

from kflow_operator.identifiers import ProcessId, host_scope, own_process_id


def own_identity() -> str:
    return f"{host_scope()}/{own_process_id().format()}"


def dead_local_peers(
    identities: list[str], scope: str, alive: Callable[[ProcessId], bool]
) -> list[str]:
    """The listed identities that name a process of this host (scope) that no longer runs."""
    dead = []
    for identity in identities:
        peer_scope, sep, process = identity.rpartition("/")
        if not sep or peer_scope != scope:
            continue
        try:
            target = ProcessId.parse(process)
        except ValueError:
            continue
        if not alive(target):
            dead.append(identity)
    return dead
