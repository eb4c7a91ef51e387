"""Which notifications of a run are due, and the record each attempt leaves in its status.

A delivery is one target told of one transition, identified by (target, state type, state name,
transition time). Its record in `status.notifications` is the only memory of it, so:

- a transition with no record is due (the operator may have died between the transition and the
  send: it is sent after the restart);
- a `Pending` record is due at its `nextAttemptTime`;
- `Sent` and `GaveUp` records are settled: never sent again (a send whose record was not written
  before the operator died is the one case sent twice: at least once, not exactly once).

Retries back off from RetryPolicy.first_delay, doubling up to max_delay, until `window` after
the transition; the last failure there gives up. A transition first seen more than `window`
after it happened (an operator down that long) is not notified at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kflow.resources.common import format_timestamp, truncate
from kflow.resources.notifications import (
    NOTIFICATION_ERROR_LIMIT,
    NOTIFICATION_RECORDS_LIMIT,
    DeliveryPhase,
    NotificationRecord,
)

from kflow_operator.decisions.actions import Action, Done, Wait
from kflow_operator.decisions.events import Event
from kflow_operator.notifications.targets import Target
from kflow_operator.notifications.transitions import Transition

DeliveryKey = tuple[str, str, str, datetime]


@dataclass(frozen=True)
class RetryPolicy:
    window: timedelta = timedelta(hours=1)
    first_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=5)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt."""
        doubled: timedelta = self.first_delay * (2 ** min(max(attempts - 1, 0), 30))
        return min(doubled, self.max_delay)


@dataclass(frozen=True)
class Delivery:
    target: Target
    transition: Transition
    attempts: int = 0
    """Attempts already made (recorded)."""

    @property
    def key(self) -> DeliveryKey:
        t = self.transition
        return (self.target.id, t.type.value, t.name, t.timestamp)


@dataclass(frozen=True)
class NotificationPlan:
    due: tuple[Delivery, ...] = ()
    next_attempt: datetime | None = None
    """The earliest future retry; None when nothing waits."""

    @property
    def outstanding(self) -> bool:
        """Something is still to be delivered: the run must not be let go of."""
        return bool(self.due) or self.next_attempt is not None


def record_key(record: NotificationRecord) -> DeliveryKey:
    return (record.target, record.state, record.state_name, record.transition_time)


def plan_notifications(
    transitions: Sequence[Transition],
    records: Sequence[NotificationRecord],
    targets: Sequence[Target],
    now: datetime,
    policy: RetryPolicy,
) -> NotificationPlan:
    known = {record_key(record): record for record in records}
    due: list[Delivery] = []
    next_attempt: datetime | None = None
    for transition in transitions:
        for target in targets:
            if not target.wants(transition):
                continue
            delivery = Delivery(target, transition)
            record = known.get(delivery.key)
            if record is None:
                if now - transition.timestamp <= policy.window:
                    due.append(delivery)
                continue
            if record.phase is not DeliveryPhase.PENDING:
                continue
            when = record.next_attempt_time
            if when is None or when <= now:
                due.append(Delivery(target, transition, record.attempts))
            else:
                next_attempt = when if next_attempt is None else min(next_attempt, when)
    return NotificationPlan(tuple(due), next_attempt)


def attempted(
    delivery: Delivery, error: str | None, now: datetime, policy: RetryPolicy
) -> NotificationRecord:
    """The record of `delivery` after one more attempt: `error` None when it was sent."""
    transition = delivery.transition
    attempts = delivery.attempts + 1
    record = NotificationRecord(
        target=delivery.target.id,
        state=transition.type.value,
        state_name=transition.name,
        transition_time=transition.timestamp,
        phase=DeliveryPhase.SENT,
        attempts=attempts,
    )
    if error is None:
        return record.model_copy(update={"sent_at": now})
    text = truncate(error, NOTIFICATION_ERROR_LIMIT)
    deadline = transition.timestamp + policy.window
    if now >= deadline:
        return record.model_copy(update={"phase": DeliveryPhase.GAVE_UP, "last_error": text})
    retry = min(now + policy.delay(attempts), deadline)
    return record.model_copy(
        update={"phase": DeliveryPhase.PENDING, "last_error": text, "next_attempt_time": retry}
    )


def with_record(
    records: Sequence[NotificationRecord],
    record: NotificationRecord,
    limit: int = NOTIFICATION_RECORDS_LIMIT,
) -> list[NotificationRecord]:
    """`records` with `record` in place of its earlier version; beyond `limit` the settled
    records of the oldest transitions go first (a forgotten record could be sent again only
    while its transition is still in the history and inside the retry window)."""
    key = record_key(record)
    kept = [r for r in records if record_key(r) != key] + [record]
    while len(kept) > limit:
        settled = [r for r in kept if r.phase is not DeliveryPhase.PENDING] or kept
        oldest = min(settled, key=lambda r: r.transition_time)
        kept.remove(oldest)
    return kept


def attempt_event(record: NotificationRecord, policy: RetryPolicy) -> Event | None:
    """A Warning on the run when a target first fails and when it is given up on; the retries
    in between stay in the status (`attempts`, `lastError`, `nextAttemptTime`)."""
    what = f"notification {record.target} of {record.state_name} ({record.state})"
    if record.phase is DeliveryPhase.GAVE_UP:
        return Event(
            "Warning",
            "NotificationGaveUp",
            f"{what} not delivered after {record.attempts} attempts: {record.last_error}",
        )
    if record.phase is DeliveryPhase.PENDING and record.attempts == 1:
        until = format_timestamp(record.transition_time + policy.window, timespec="seconds")
        return Event(
            "Warning",
            "NotificationFailed",
            f"{what} failed: {record.last_error}; retrying until {until}",
        )
    return None


def hold_for_notifications(action: Action, plan: NotificationPlan) -> Action:
    """The supervisor's next action, given what notifications still wait for: it does not let
    go of the run (Done) while a retry is due later, and sleeps no longer than until it."""
    if not plan.outstanding:
        return action
    if isinstance(action, Done):
        return Wait(plan.next_attempt)
    if isinstance(action, Wait) and plan.next_attempt is not None:
        until = plan.next_attempt if action.until is None else min(action.until, plan.next_attempt)
        return Wait(until)
    return action
