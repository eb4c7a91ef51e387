"""Which runs a page shows, as pure functions of the objects and the page's query: filters,
counts by state, newest-first order, pages. Every filter comes from the URL, so a filtered
page can be bookmarked and shared, and reading it never costs a request to the API server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kflow.resources.common import parse_timestamp
from kflow.resources.pools import run_pool
from kflow.states import TERMINAL_STATE_TYPES, StateType

STATE_TYPES = tuple(t.value for t in StateType)
PAGE_SIZE = 50
NO_STATE = "NONE"
"""The state of a FlowRun no one has given one yet (for a moment after it is created)."""
LATE_AFTER = timedelta(seconds=60)
"""A scheduled run this far past its due time without starting counts as late."""


class QueryError(ValueError):
    """A filter in the URL has a value the page cannot use; the message says which are."""


def state_type(run: Mapping[str, Any]) -> str:
    state = (run.get("status") or {}).get("state") or {}
    return str(state.get("type") or NO_STATE)


def state_name(run: Mapping[str, Any]) -> str:
    state = (run.get("status") or {}).get("state") or {}
    return str(state.get("name") or state.get("type") or "")


def deployment_of(run: Mapping[str, Any]) -> str:
    return str(((run.get("spec") or {}).get("deploymentRef") or {}).get("name") or "")


DeploymentPools = Mapping[tuple[str, str], str]
"""(namespace, Deployment name) → the Deployment's work pool ('' for none)."""


def deployment_pools(deployments: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    pools = {}
    for deployment in deployments:
        meta = deployment.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name")))
        pools[key] = run_pool({}, deployment.get("spec") or {}) or ""
    return pools


def pool_of(run: Mapping[str, Any], pools: DeploymentPools | None = None) -> str:
    """The run's work pool, '' for none: its own spec.workPool, else its Deployment's (the one
    rule, kflow.resources.pools.run_pool), looked up in `pools`."""
    own = run_pool(run.get("spec") or {}, None)
    if own or not pools:
        return own or ""
    namespace = str((run.get("metadata") or {}).get("namespace") or "")
    return pools.get((namespace, deployment_of(run)), "")


def tags_of(run: Mapping[str, Any]) -> list[str]:
    return [str(t) for t in (run.get("spec") or {}).get("tags") or []]


def created(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "")


def _creation_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    return created(obj), str((obj.get("metadata") or {}).get("name") or "")


def newest_first(runs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(runs, key=_creation_key, reverse=True)


PERIOD_UNITS = {"m": 60, "h": 3600, "d": 86400}


def parse_period(text: str) -> timedelta:
    """`30m`, `24h`, `7d`: a positive number of minutes, hours or days."""
    number, unit = text[:-1], text[-1:]
    if unit not in PERIOD_UNITS or not number.isdigit() or int(number) == 0:
        raise QueryError(
            f"since {text!r} is not a period; use a number and m, h or d (e.g. 24h, 7d)"
        )
    return timedelta(seconds=int(number) * PERIOD_UNITS[unit])


@dataclass(frozen=True)
class RunFilter:
    states: frozenset[str] = frozenset()
    deployment: str = ""
    tag: str = ""
    namespace: str = ""
    pool: str = ""
    since: str = ""
    """A period (`24h`) as the URL gives it; only runs created within it are kept."""
    created_after: datetime | None = None
    deployment_pools: DeploymentPools | None = None
    """Where runs that name no pool get theirs, for the `pool` filter."""

    @classmethod
    def from_query(cls, query: Mapping[str, str], now: datetime | None = None) -> RunFilter:
        """From `?state=FAILED,CRASHED&deployment=d&tag=t&namespace=ns&pool=p&since=24h`."""
        states = frozenset(s.strip().upper() for s in query.get("state", "").split(",") if s)
        unknown = states - {*STATE_TYPES, NO_STATE}
        if unknown:
            raise QueryError(
                f"state {', '.join(sorted(unknown))} is not a state type; use "
                f"{', '.join(STATE_TYPES)}"
            )
        since = query.get("since", "").strip()
        created_after = None
        if since:
            created_after = (now or datetime.now(UTC)) - parse_period(since)
        return cls(
            states=states,
            deployment=query.get("deployment", "").strip(),
            tag=query.get("tag", "").strip(),
            namespace=query.get("namespace", "").strip(),
            pool=query.get("pool", "").strip(),
            since=since,
            created_after=created_after,
        )

    def without_states(self) -> RunFilter:
        return replace(self, states=frozenset())

    def matches(self, run: Mapping[str, Any]) -> bool:
        if self.states and state_type(run) not in self.states:
            return False
        if self.deployment and deployment_of(run) != self.deployment:
            return False
        if self.tag and self.tag not in tags_of(run):
            return False
        if self.pool and pool_of(run, self.deployment_pools) != self.pool:
            return False
        if self.created_after is not None and (
            not created(run) or parse_timestamp(created(run)) < self.created_after
        ):
            return False
        namespace = (run.get("metadata") or {}).get("namespace")
        return not self.namespace or namespace == self.namespace

    def query(self) -> dict[str, str | int | None]:
        return {
            "state": ",".join(sorted(self.states)),
            "deployment": self.deployment,
            "tag": self.tag,
            "namespace": self.namespace,
            "pool": self.pool,
            "since": self.since,
        }


def count_by_state(runs: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Runs per state type, every type present (0 when none), in the states' order."""
    counts = Counter(state_type(r) for r in runs)
    ordered = {t: counts.get(t, 0) for t in STATE_TYPES}
    if counts.get(NO_STATE):
        ordered[NO_STATE] = counts[NO_STATE]
    return ordered


@dataclass(frozen=True)
class Page:
    items: Sequence[Mapping[str, Any]]
    number: int
    """1-based; past the last page it is the last page."""
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_index(self) -> int:
        """1-based position of the first item shown (0 when there is none)."""
        return (self.number - 1) * self.size + 1 if self.items else 0

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page_number(text: str | None) -> int:
    """The `page` query value: a positive whole number, 1 when absent."""
    if not text:
        return 1
    try:
        number = int(text)
    except ValueError:
        raise QueryError(f"page {text!r} is not a whole number; use 1, 2, …") from None
    if number < 1:
        raise QueryError(f"page {number} is out of range; pages start at 1")
    return number


def paginate(items: Sequence[Mapping[str, Any]], number: int, size: int = PAGE_SIZE) -> Page:
    last = max(1, -(-len(items) // size))
    number = min(max(1, number), last)
    start = (number - 1) * size
    return Page(items[start : start + size], number, size, len(items))


def select_runs(
    runs: Iterable[Mapping[str, Any]], run_filter: RunFilter, number: int, size: int = PAGE_SIZE
) -> tuple[Page, dict[str, int]]:
    """The page of runs the filter keeps, newest first, and the counts by state of the runs
    the other filters keep (so each state's count says what choosing it would show)."""
    broad = [r for r in runs if run_filter.without_states().matches(r)]
    counts = count_by_state(broad)
    kept = [r for r in broad if not run_filter.states or state_type(r) in run_filter.states]
    return paginate(newest_first(kept), number, size), counts


def is_late(run: Mapping[str, Any], now: datetime) -> bool:
    """Not started although due: named Late by the operator, or SCHEDULED past its time."""
    if state_type(run) != StateType.SCHEDULED.value:
        return False
    if state_name(run) == "Late":
        return True
    due = (run.get("spec") or {}).get("scheduledTime") or created(run)
    return bool(due) and parse_timestamp(due) < now - LATE_AFTER


def latest_state_first(runs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """By when each run entered its present state, most recent first: on the home page a run
    that crashed a minute ago belongs above one that failed this morning, whichever was created
    first (creation times are whole seconds, so creation order alone ties often). Every run
    given must carry a state timestamp (`failed_since` ensures it)."""
    return sorted(
        runs,
        key=lambda r: (
            parse_timestamp(str(r["status"]["state"]["timestamp"])),
            *_creation_key(r),
        ),
        reverse=True,
    )


def failed_since(run: Mapping[str, Any], since: datetime) -> bool:
    """FAILED or CRASHED, having entered that state at or after `since`."""
    if state_type(run) not in (StateType.FAILED.value, StateType.CRASHED.value):
        return False
    stamp = ((run.get("status") or {}).get("state") or {}).get("timestamp")
    return bool(stamp) and parse_timestamp(str(stamp)) >= since


def is_terminal(run: Mapping[str, Any]) -> bool:
    return state_type(run) in {t.value for t in TERMINAL_STATE_TYPES}
