"""Current FlowRuns, counted at scrape time from the operator's in-memory index.

A collector rather than gauges kept up to date: nothing has to be undone when a run is deleted
or the index re-lists, and a scrape costs one pass over memory (no API call). The pass is over
each run's summary (run_facts.run_summary, made when the index takes the run), counted by
collections.Counter: a few milliseconds with thousands of runs, where reading every body
again took over ten on a busy host.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from kflow.resources.pools import run_pool
from kflow.states import StateType
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kflow_operator.decisions.deployment_runs import AWAITING_SLOT_NAME, LATE_NAME
from kflow_operator.metrics.run_facts import NO_STATE, RunSummary

STATE_LABELS = (*(t.value for t in StateType), NO_STATE)
LATE_AFTER_SECONDS = 15.0
"""A SCHEDULED run this far past its scheduled time and not started is late (Prefect marks a
run Late after the same 15 s). Runs held for a concurrency slot are counted apart."""

Bodies = Callable[[], Iterable[Mapping[str, Any]]]
"""The bodies currently in an index (empty before it exists)."""
Summaries = Callable[[], Iterable[RunSummary]]
"""The summaries of the runs currently in the index (empty before it exists)."""


class RunCounts:
    """The counts one scrape reports, from one pass over the runs."""

    def __init__(self) -> None:
        self.by_state: Counter[tuple[str, str]] = Counter()
        self.late: Counter[tuple[str, str]] = Counter()
        self.awaiting_slot: Counter[tuple[str, str]] = Counter()
        self.pools: set[str] = {""}
        self.deployments: set[tuple[str, str]] = set()

    @classmethod
    def of(
        cls,
        runs: Iterable[RunSummary],
        deployments: Iterable[Mapping[str, Any]] = (),
        now: float | None = None,
    ) -> RunCounts:
        """`now` (POSIX seconds) decides which SCHEDULED runs are late; None: none by time,
        only those in state `Late`."""
        late_before = None if now is None else now - LATE_AFTER_SECONDS
        counts = cls()
        deployment_pools: dict[tuple[str, str], str] = {}
        for known in deployments:
            meta = known.get("metadata") or {}
            key = (str(meta.get("namespace") or ""), str(meta.get("name")))
            counts.deployments.add(key)
            deployment_pools[key] = run_pool({}, known.get("spec") or {}) or ""
        # One C-speed pass over every run; the loop below sees each distinct summary once.
        for summary, count in Counter(runs).items():
            state_type, state_name, own_pool, namespace, deployment, due = summary
            # The run's own pool, else its Deployment's (kflow.resources.pools.run_pool).
            pool = own_pool or deployment_pools.get((namespace, deployment), "")
            counts.pools.add(pool)
            counts.by_state[(state_type, pool)] += count
            if state_type != StateType.SCHEDULED:
                continue
            if state_name == AWAITING_SLOT_NAME:
                counts.awaiting_slot[(namespace, deployment)] += count
            elif state_name == LATE_NAME or (
                late_before is not None and due is not None and due < late_before
            ):
                counts.late[(namespace, deployment)] += count
        return counts


class RunGauges(Collector):
    """kflow_flow_runs, kflow_flow_runs_late, kflow_flow_runs_awaiting_slot.

    Every state of every pool seen is reported, zeros included, and every Deployment known
    has its late/awaiting series, so an alert on them sees 0 rather than nothing. A standby
    replica indexes the same runs but reports none of them (`active` says which replica
    reports), so a sum over replicas counts each run once.
    """

    def __init__(
        self,
        runs: Summaries,
        deployments: Bodies,
        active: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runs = runs
        self._deployments = deployments
        self._active = active
        self._clock = clock

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # unchecked collector: described by collect() at scrape time

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if not self._active():
            return
        counts = RunCounts.of(self._runs(), self._deployments(), self._clock())
        by_state = GaugeMetricFamily(
            "kflow_flow_runs",
            "FlowRuns the operator knows, by state type and work pool.",
            labels=("state", "work_pool"),
        )
        for pool in sorted(counts.pools):
            for state in STATE_LABELS:
                by_state.add_metric((state, pool), counts.by_state.get((state, pool), 0))
        yield by_state
        held_keys = sorted(counts.deployments | set(counts.late) | set(counts.awaiting_slot))
        for name, doc, held in (
            (
                "kflow_flow_runs_late",
                "SCHEDULED runs not started 15 s after their scheduled time, by Deployment.",
                counts.late,
            ),
            (
                "kflow_flow_runs_awaiting_slot",
                "SCHEDULED runs waiting for a concurrency slot, by Deployment.",
                counts.awaiting_slot,
            ),
        ):
            family = GaugeMetricFamily(name, doc, labels=("namespace", "deployment"))
            for key in held_keys:
                family.add_metric(key, held.get(key, 0))
            yield family
