"""The dashboard's copy of the FlowRuns and Deployments it may see, kept current by one
list+watch per kind (kflow.dashboard.watcher) and shared by every page and every open
browser: a page request reads this copy and never LISTs the namespace itself.

Only the event loop's thread touches a Store; the watcher threads hand their results over
with `loop.call_soon_threadsafe`. Each open page subscribes and is told which objects
changed; changes pile up per subscriber while it is busy, so a burst (a relist of thousands of
runs) reaches a slow browser as one batch rather than as a queue that grows without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kflow.resources import DEPLOYMENT_PLURAL as DEPLOYMENTS
from kflow.resources import FLOWRUN_PLURAL as FLOWRUNS

KINDS = (FLOWRUNS, DEPLOYMENTS)
WORKPOOLS = "workpools"
"""Watched too when the cluster serves the WorkPool kind (kflow.dashboard.api.served_kinds)."""
Key = tuple[str, str]
"""(namespace, name) of an object."""


@dataclass(frozen=True)
class Change:
    """One object of `kind` was added, changed or deleted; name "" means every object of the
    kind may have changed (the watch started over)."""

    kind: str
    namespace: str
    name: str

    def as_event(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}


@dataclass(eq=False)
class Subscription:
    """What one open page has not been told yet."""

    pending: dict[tuple[str, str, str], Change] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, change: Change) -> None:
        self.pending[(change.kind, change.namespace, change.name)] = change
        self.ready.set()

    async def next_batch(self) -> list[Change]:
        await self.ready.wait()
        batch = list(self.pending.values())
        self.pending.clear()
        self.ready.clear()
        return batch


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def slimmed(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object without the server's field-ownership bookkeeping, which no page shows and
    which is often the largest part of a FlowRun."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


class Store:
    def __init__(self, kinds: tuple[str, ...] = KINDS) -> None:
        self._objects: dict[str, dict[Key, dict[str, Any]]] = {kind: {} for kind in kinds}
        self._subscriptions: set[Subscription] = set()
        self.synced: dict[str, bool] = dict.fromkeys(kinds, False)
        """Whether the kind's first list has arrived (pages say "loading" until then)."""
        self.errors: dict[str, str | None] = dict.fromkeys(kinds, None)
        """Why the kind cannot be listed or watched right now, as the API server said it."""

    def has(self, kind: str) -> bool:
        return kind in self._objects

    def objects(self, kind: str) -> list[dict[str, Any]]:
        return list(self._objects.get(kind, {}).values())

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects[kind].get((namespace, name))

    def replace(self, kind: str, items: Iterable[Mapping[str, Any]]) -> None:
        """A fresh list: the whole kind is what the API server returned."""
        self._objects[kind] = {key_of(o): slimmed(o) for o in items}
        self.synced[kind] = True
        self.errors[kind] = None
        self._publish(Change(kind, "", ""))

    def apply(self, kind: str, event: str, obj: Mapping[str, Any]) -> None:
        """One watch event: ADDED, MODIFIED or DELETED."""
        key = key_of(obj)
        if event == "DELETED":
            self._objects[kind].pop(key, None)
        else:
            self._objects[kind][key] = slimmed(obj)
        self._publish(Change(kind, *key))

    def created(self, kind: str, obj: Mapping[str, Any]) -> None:
        """An object this dashboard just created, known before its watch event arrives (the
        page it redirects to must find it); a version the watch already brought is kept."""
        if key_of(obj) not in self._objects[kind]:
            self.apply(kind, "ADDED", obj)

    def fail(self, kind: str, message: str) -> None:
        if self.errors[kind] != message:
            self.errors[kind] = message
            self._publish(Change(kind, "", ""))

    def subscribe(self) -> Subscription:
        subscription = Subscription()
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def _publish(self, change: Change) -> None:
        for subscription in self._subscriptions:
            subscription.add(change)
