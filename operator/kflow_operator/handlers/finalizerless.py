"""Kopf daemons registered without Kopf's finalizer.

`@kopf.daemon` always marks its handler as needing the operator's finalizer on every object it
serves, and has no option against it. Neither of our daemons needs one: a Deployment's
scheduling daemon and a WorkPool's status daemon have nothing to clean up when their object
goes (Kopf stops them when the watch says it is gone). The finalizer cost twice over:

- deleting a Deployment or WorkPool hung while no operator ran, and `helm uninstall --wait`
  deletes the chart's pools together with the operator and its RBAC;
- Kopf added it with one PATCH per object, all at once on start-up or when many objects
  appeared, each on its own TLS connection (Kopf's connection pool is unbounded): measured with
  400 new Deployments, 220 connections open for 30 s, and the operator's RSS 166 MiB against
  99 MiB without it (each connection's TLS read buffer alone is 256 KiB, and the freed buffers
  leave the heap fragmented).

Objects that carry the finalizer from an earlier version lose it on the operator's first look
(Kopf removes its finalizer when no handler needs it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from kopf._core.intents import registries  # the registry @kopf.daemon fills


def register_without_finalizer(daemon: Callable[..., Any]) -> None:
    """Replace `daemon`'s registration with one that does not need the finalizer (Kopf
    internals, kept in this one place and covered by tests/unit/test_daemon_registrations.py)."""
    spawning = registries.get_default_registry()._spawning
    spawning._handlers = [
        dataclasses.replace(handler, requires_finalizer=False) if handler.fn is daemon else handler
        for handler in spawning._handlers
    ]
