"""List-and-watch of every FlowRun, Deployment and WorkPool the operator serves, into
ObjectIndexes.

Kopf's own watch drives the handlers but offers no picture of the objects, nor any sign that
its initial listing is complete; and while a replica waits for peering, Kopf does not watch at
all. These watches run on their own threads whatever Kopf does, re-list whenever a watch cannot
continue (so a deletion is never missed), and say when the first listing is in.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from kflow.resources import DEPLOYMENT_PLURAL, FLOWRUN_PLURAL, WORKPOOL_PLURAL
from kflow.resources.pools import run_pool

from kflow_operator.kubeapi.kflow_objects import KflowObjects
from kflow_operator.kubeapi.list_watch import Change, Lister, ListWatch
from kflow_operator.metrics.run_facts import run_summary
from kflow_operator.object_index import FLOWRUN_STATUS_NOT_KEPT, ObjectIndex

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 60.0
"""How long a decision that needs the whole picture waits for the first listing."""


def deployment_ref(body: Mapping[str, Any]) -> str | None:
    """The Deployment a FlowRun belongs to (immutable: the CRD refuses a change)."""
    ref = (body.get("spec") or {}).get("deploymentRef") or {}
    name = ref.get("name")
    return str(name) if name else None


def own_pool(body: Mapping[str, Any]) -> str | None:
    """The pool a FlowRun or Deployment names itself (a run of no pool of its own may still
    belong to its Deployment's: kflow.resources.pools.run_pool)."""
    return run_pool(body.get("spec") or {}, None)


def state_type(body: Mapping[str, Any] | None) -> str | None:
    return (((body or {}).get("status") or {}).get("state") or {}).get("type")


def apply_change(index: ObjectIndex, change: Change) -> None:
    if change.type == "DELETED":
        meta = change.object.get("metadata") or {}
        version = meta.get("resourceVersion")
        index.drop(
            str(meta.get("namespace") or ""),
            str(meta.get("name")),
            str(version) if version is not None else None,
        )
    else:
        index.put(change.object)


class _Countdown:
    """Calls `done` once `count` listings are in."""

    def __init__(self, count: int, done: Callable[[], None]) -> None:
        self._count = count
        self._done = done
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self._count -= 1
            finished = self._count == 0
        if finished:
            self._done()


class _Listing:
    """The list call of one ListWatch; its first watch request means the list was applied."""

    def __init__(self, lister: Lister, on_listed: _Countdown) -> None:
        self._lister = lister
        self._on_listed = on_listed
        self._listed = False

    def __call__(self, **kwargs: Any) -> Any:
        if kwargs.get("watch") and not self._listed:
            self._listed = True
            self._on_listed.tick()
        return self._lister(**kwargs)


class Informers:
    """FlowRuns (grouped by Deployment and by their own pool), Deployments (by pool) and
    WorkPools of the served namespaces: every pool, whichever ones this operator serves (a
    Deployment's runs are decided with their pool's limit and pause in view)."""

    def __init__(
        self,
        namespaces: tuple[str, ...],
        api: KflowObjects,
        on_pool_change: Callable[[str, str], None] | None = None,
        on_run_state_change: Callable[[Mapping[str, Any]], None] | None = None,
        on_run_change: Callable[[Change], None] | None = None,
    ) -> None:
        """`on_pool_change(namespace, name)`: a pool's spec changed; `on_run_state_change(run)`:
        a FlowRun's state type changed in the index, or it left the index (deleted);
        `on_run_change(change)`: every FlowRun change, once the index has it. All are called on
        the watch's thread."""
        self._api = api
        self._on_pool_change = on_pool_change
        self._on_run_state_change = on_run_state_change
        self._on_run_change = on_run_change
        self._pool_generations: dict[tuple[str, str], object] = {}
        self.flowruns = ObjectIndex(
            group_of=deployment_ref,
            drop_status=FLOWRUN_STATUS_NOT_KEPT,
            summary_of=run_summary,
            pool_of=own_pool,
        )
        self.deployments = ObjectIndex(pool_of=own_pool)
        self.workpools = ObjectIndex()
        self._namespaces: tuple[str | None, ...] = namespaces or (None,)
        self._closed = threading.Event()
        self._watches: list[ListWatch] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for plural, index in (
            (FLOWRUN_PLURAL, self.flowruns),
            (DEPLOYMENT_PLURAL, self.deployments),
            (WORKPOOL_PLURAL, self.workpools),
        ):
            listed = _Countdown(len(self._namespaces), index.mark_ready)
            for namespace in self._namespaces:
                watch = ListWatch(
                    f"{plural} in {namespace or 'all namespaces'}",
                    _Listing(self._api.lister(plural, namespace), listed),
                    "",
                    functools.partial(self._apply, index),
                    self._closed,
                    resource=plural,
                    remember=index.kept,
                )
                thread = threading.Thread(
                    target=watch.run, name=f"kflow-index-{plural}-{namespace or 'all'}", daemon=True
                )
                self._watches.append(watch)
                self._threads.append(thread)
                thread.start()

    def _apply(self, index: ObjectIndex, change: Change) -> None:
        if index is self.flowruns:
            self._apply_run(change)
            if self._on_run_change is not None:
                self._on_run_change(change)
            return
        apply_change(index, change)
        if index is self.workpools and self._on_pool_change is not None:
            self._pool_changed(change)

    def _apply_run(self, change: Change) -> None:
        """Apply a FlowRun change; tell when the index's state type of the run moved. This
        watch is what scheduling passes read, and it keeps up in a burst where Kopf's event
        queue (the other source of wakes) lags by tens of seconds: a pass that woke on the
        index's news sees what woke it."""
        meta = change.object.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name")))
        before = state_type(self.flowruns.get(*key))
        apply_change(self.flowruns, change)
        now = self.flowruns.get(*key)
        if state_type(now) == before or self._on_run_state_change is None:
            return
        try:
            self._on_run_state_change(now if now is not None else change.object)
        except Exception:
            logger.exception("Waking the Deployment of FlowRun %s/%s failed", *key)

    def _pool_changed(self, change: Change) -> None:
        """A pool's spec changed (created, edited, deleted): its held runs may go. Status
        writes (every worker's heartbeat) change no generation and wake nobody."""
        meta = change.object.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name")))
        if change.type == "DELETED":
            self._pool_generations.pop(key, None)
        elif self._pool_generations.get(key) == meta.get("generation"):
            return
        else:
            self._pool_generations[key] = meta.get("generation")
        assert self._on_pool_change is not None
        try:
            self._on_pool_change(*key)
        except Exception:
            logger.exception("Waking the runs of work pool %s/%s failed", *key)

    def close(self) -> None:
        self._closed.set()
        for watch in self._watches:
            watch.stop()
