"""Whether a due run's work pool lets it start now: the pool must exist, not be paused, and
have a free slot under its `concurrencyLimit`. The run's Deployment decides first
(decisions/concurrency.py); a run the pool holds waits in SCHEDULED, visibly:

- `AwaitingWorkPool`: the pool does not exist (the message names it and how to create it);
- `PoolPaused`: the pool's spec.paused is true;
- `AwaitingConcurrencySlot`: `concurrencyLimit` runs of the pool are active (PENDING, RUNNING,
  PAUSED, CANCELLING), counting every run of the pool, of any Deployment or none.

Slots go in scheduled order (scheduled time, then name) across the pool, to the due runs that
their own Deployment lets start (`eligible`), so a run its Deployment holds never blocks another
Deployment's run. Every operator deciding on the same picture agrees: when two runs of two
Deployments fall due at one instant and one slot is free, both deciders give it to the first in
that order, and the second waits (it sees the first either as a due candidate ahead of it or,
once launched, as active). Holds are stable messages, so a re-decision that finds nothing
changed writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kflow.states import StateType

from kflow_operator.decisions.deployment_runs import (
    ACTIVE_STATE_TYPES,
    AWAITING_POOL_NAME,
    AWAITING_SLOT_NAME,
    HELD_NAMES,
    POOL_PAUSED_NAME,
)

POOL_HOLD_NAMES = HELD_NAMES
"""SCHEDULED state names a pool may hold a run in (AwaitingConcurrencySlot: a Deployment's
limit uses it too)."""
POOL_MESSAGE_MARK = "work pool "
"""Every pool hold's message names the pool after this, which tells a pool's
AwaitingConcurrencySlot from a Deployment's."""


@dataclass(frozen=True)
class PoolState:
    """A work pool as admission sees it; `exists` False when no WorkPool has the name."""

    name: str
    namespace: str
    exists: bool
    paused: bool = False
    concurrency_limit: int | None = None


@dataclass(frozen=True)
class PoolRun:
    """One run of the pool, as slot allocation sees it."""

    name: str
    state_type: StateType
    due_at: datetime
    cancel_requested: bool = False
    eligible: bool = True
    """Its own Deployment (if any) would let it start now: it competes for a pool slot."""

    @property
    def is_active(self) -> bool:
        return self.state_type in ACTIVE_STATE_TYPES

    def is_candidate(self, now: datetime) -> bool:
        """Due, unstarted, and let go by its Deployment: it competes for a slot."""
        return (
            self.state_type is StateType.SCHEDULED
            and not self.cancel_requested
            and self.eligible
            and self.due_at <= now
        )


class PoolVerdict(StrEnum):
    ADMIT = "Admit"
    HOLD = "Hold"


@dataclass(frozen=True)
class PoolDecision:
    verdict: PoolVerdict
    state_name: str = ""
    message: str = ""


ADMIT = PoolDecision(PoolVerdict.ADMIT)


def is_pool_hold(state_name: str | None, message: str | None) -> bool:
    """Whether a SCHEDULED run's state is a hold written by its pool (not its Deployment)."""
    return state_name in POOL_HOLD_NAMES and (message or "").startswith(
        f"{state_name}: {POOL_MESSAGE_MARK}"
    )


def decide_pool_admission(
    run: str,
    pool: PoolState,
    runs: Sequence[PoolRun],
    now: datetime,
    *,
    run_type: str | None = None,
) -> PoolDecision:
    """May `run` (due at `now`, allowed by its Deployment) start, as far as its pool goes?

    `runs` are the pool's runs (the run itself included or not); `run_type` is the run's
    infrastructure type when known, for the message that says how to create a missing pool.
    """
    if not pool.exists:
        return PoolDecision(
            PoolVerdict.HOLD, AWAITING_POOL_NAME, missing_pool_message(pool, run_type)
        )
    if pool.paused:
        return PoolDecision(
            PoolVerdict.HOLD,
            POOL_PAUSED_NAME,
            f"{POOL_PAUSED_NAME}: {POOL_MESSAGE_MARK}{pool.name!r} is paused (spec.paused); "
            f"its runs start when it is resumed (kflow work-pool resume {pool.name})",
        )
    limit = pool.concurrency_limit
    if limit is None:
        return ADMIT
    active = sum(1 for other in runs if other.is_active and other.name != run)
    free = max(0, limit - active)
    own = next((other for other in runs if other.name == run), None)
    own_order = _order(own) if own is not None else (now, run)
    ahead = sum(
        1
        for other in runs
        if other.name != run and other.is_candidate(now) and _order(other) < own_order
    )
    if ahead < free:
        return ADMIT
    return PoolDecision(PoolVerdict.HOLD, AWAITING_SLOT_NAME, slot_message(pool.name, limit))


def missing_pool_message(pool: PoolState, run_type: str | None = None) -> str:
    kind = run_type or "kubernetes-job|docker|process"
    return (
        f"{AWAITING_POOL_NAME}: {POOL_MESSAGE_MARK}{pool.name!r} does not exist in namespace "
        f"{pool.namespace!r}; create it (kflow work-pool create {pool.name} --type {kind}) "
        "or point spec.workPool.name at an existing pool; its runs start once it exists"
    )


def slot_message(pool: str, limit: int) -> str:
    if limit == 0:
        detail = "has concurrencyLimit=0, which holds all its runs"
    else:
        detail = f"has concurrencyLimit={limit} and that many of its runs are active"
    return (
        f"{AWAITING_SLOT_NAME}: {POOL_MESSAGE_MARK}{pool!r} {detail}; "
        "starts when a slot frees, in scheduled order across the pool"
    )


def _order(run: PoolRun) -> tuple[datetime, str]:
    return (run.due_at, run.name)
