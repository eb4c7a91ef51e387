"""The operator's in-memory picture of the objects it serves, newest version wins.

Scheduling passes and the launch gate used to LIST a Deployment's FlowRuns from the API server
for every decision. The API server cannot filter a label selector in etcd: each such LIST read
every FlowRun of the namespace, so 200 Deployments firing at once cost seconds of API server
CPU per minute and every run started late. Now one list-and-watch per kind (and our own writes,
the moment they return) keep this index current, and decisions read memory.

Staleness stays safe because every write the operator makes carries the resourceVersion it was
decided on (a stale picture yields a 409 and a fresh decision), and scheduled runs are created
under deterministic names (a second create is a 409 too). A version never replaces a newer one:
watch streams and write results arrive in any order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from kflow_operator.kubeapi import Body
from kflow_operator.shared_strings import share_strings

Grouping = Callable[[Mapping[str, Any]], str | None]
Summary = Callable[[Mapping[str, Any]], Hashable]

BY_POOL = "pool"
"""The second grouping: by work pool (FlowRuns by their own spec.workPool, Deployments by
theirs), so that a pool's runs are found without looking at every object."""

TOMBSTONE_SECONDS = 600.0
"""How long a deleted object's last version is remembered, so that a late event about it
(from a watch that lags behind our own delete) does not bring it back."""


FLOWRUN_STATUS_NOT_KEPT = ("taskRuns", "result")
"""What no decision of the operator reads of a FlowRun, and the largest parts of one (the
flow's task-run tally and its result): the index and the supervisors do not keep them."""


def version_of(body: Mapping[str, Any]) -> str | None:
    meta = body.get("metadata") or {}
    version = meta.get("resourceVersion")
    return str(version) if version is not None else None


def is_newer(candidate: str | None, known: str | None) -> bool:
    """Whether `candidate` may replace `known`.

    resourceVersions are opaque by contract but are etcd revisions in practice; when both are
    numbers the larger wins (equal: same version, harmless to take), otherwise the arrival wins.
    """
    if candidate is None or known is None:
        return True
    if candidate.isdigit() and known.isdigit():
        return int(candidate) >= int(known)
    return True


def slim(body: Mapping[str, Any], drop_status: tuple[str, ...] = ()) -> Body:
    """The parts decisions read: no managedFields, and none of the named status fields."""
    result = dict(body)
    meta = result.get("metadata")
    if isinstance(meta, Mapping) and "managedFields" in meta:
        result["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    status = result.get("status")
    if drop_status and isinstance(status, Mapping) and any(k in status for k in drop_status):
        result["status"] = {k: v for k, v in status.items() if k not in drop_status}
    return result


class ObjectIndex:
    """Thread-safe latest bodies by (namespace, name), optionally grouped by a key.

    Bodies handed out are shared, never copied: callers treat them as read-only.
    """

    def __init__(
        self,
        group_of: Grouping | None = None,
        drop_status: tuple[str, ...] = (),
        summary_of: Summary | None = None,
        *,
        pool_of: Grouping | None = None,
    ) -> None:
        self._groupings: dict[str, Grouping] = {}
        if group_of is not None:
            self._groupings[""] = group_of
        if pool_of is not None:
            self._groupings[BY_POOL] = pool_of
        self._drop_status = drop_status
        self._summary_of = summary_of
        self._summaries: dict[tuple[str, str], Hashable] = {}
        """`summary_of` of every object, made as it is put: what metrics count on a scrape
        (a few values per object, counted at C speed) instead of reading every body again."""
        self._lock = threading.Lock()
        self._bodies: dict[tuple[str, str], Body] = {}
        self._groups: dict[tuple[str, str, str], dict[str, Body]] = {}
        self._tombstones: dict[tuple[str, str], tuple[str | None, float]] = {}
        self._ready = threading.Event()

    # --- readiness ----------------------------------------------------------------------------

    def kept(self, body: Mapping[str, Any]) -> Body:
        """What the index keeps of `body`."""
        return slim(body, self._drop_status)

    def mark_ready(self) -> None:
        """Every object that existed when watching began has been seen."""
        self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    # --- writing ------------------------------------------------------------------------------

    def put(self, body: Mapping[str, Any]) -> None:
        """Take a version of an object unless a newer one (or its deletion) is known."""
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name")))
        version = version_of(body)
        with self._lock:
            tombstone = self._tombstones.get(key)
            if tombstone is not None:
                if not is_newer(version, tombstone[0]) or version == tombstone[0]:
                    return
                del self._tombstones[key]
            known = self._bodies.get(key)
            if known is not None and not is_newer(version, version_of(known)):
                return
            stored = slim(body, self._drop_status)
            share_strings(stored)
            if known is not None:
                self._ungroup(key, known)
            self._bodies[key] = stored
            if self._summary_of is not None:
                self._summaries[key] = self._summary_of(stored)
            for by, group_of in self._groupings.items():
                group = group_of(stored)
                if group is not None:
                    self._groups.setdefault((key[0], by, group), {})[key[1]] = stored

    def drop(self, namespace: str, name: str, version: str | None) -> None:
        """The object is gone (as of `version`, its last version, when known)."""
        key = (namespace, name)
        now = time.monotonic()
        with self._lock:
            known = self._bodies.pop(key, None)
            self._summaries.pop(key, None)
            if known is not None:
                self._ungroup(key, known)
            last = version if version is not None else (version_of(known) if known else None)
            self._tombstones[key] = (last, now)
            expired = [k for k, (_, t) in self._tombstones.items() if now - t > TOMBSTONE_SECONDS]
            for stale in expired:
                del self._tombstones[stale]

    # --- reading ------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> Body | None:
        with self._lock:
            return self._bodies.get((namespace, name))

    def group(self, namespace: str, group: str, by: str = "") -> list[Body]:
        """The members of `group` in `namespace`, by `group_of` (or by BY_POOL: `pool_of`)."""
        with self._lock:
            return list(self._groups.get((namespace, by, group), {}).values())

    def _ungroup(self, key: tuple[str, str], body: Body) -> None:
        """Take the old version out of its groups (a group key may change: a pool may)."""
        for by, group_of in self._groupings.items():
            group = group_of(body)
            members = self._groups.get((key[0], by, group)) if group is not None else None
            if members is not None:
                members.pop(key[1], None)
                if not members:
                    del self._groups[(key[0], by, group)]  # type: ignore[arg-type]

    def summaries(self) -> list[Hashable]:
        """The summary of every object, as of now (none without a `summary_of`)."""
        with self._lock:
            return list(self._summaries.values())

    def bodies(self) -> list[Body]:
        """Every object, as of now (a copy of the list, not of the bodies)."""
        with self._lock:
            return list(self._bodies.values())

    def in_namespace(self, namespace: str) -> list[Body]:
        with self._lock:
            return [body for (ns, _), body in self._bodies.items() if ns == namespace]

    def __len__(self) -> int:
        with self._lock:
            return len(self._bodies)
