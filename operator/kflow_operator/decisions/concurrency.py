"""Whether a due run starts now, waits for a slot, is skipped, or replaces running ones.

This is the gate in front of every launch of a Deployment's run. The launch gate
(scheduling/admission.py) calls `decide_run` for a SCHEDULED run whose time has come, with all
the Deployment's runs, and the supervisor acts on the verdict; the scheduling pass
(scheduling/deployment_pass.py) calls `plan_due_runs` for the runs it holds and releases.

Every operator that evaluates the same runs at the same instant reaches the same verdicts:
slots go to due runs in scheduled order (scheduled time, then name), so two handlers deciding
for two sibling runs concurrently agree on which of them gets the free slot.

Policies, with `limit` = `concurrencyLimit` (default: none for Allow, 1 for Forbid/Replace),
counting active runs (PENDING, RUNNING, PAUSED, CANCELLING):
- `Allow`: due runs start while fewer than `limit` are active; the rest wait in SCHEDULED
  named `AwaitingConcurrencySlot` and start in scheduled order as slots free.
- `Forbid`: a due run that finds `limit` runs active is skipped (`CANCELLED`/`Skipped` with a
  message naming them); when several are due together and fewer slots are free, the most
  recent start and the older ones are skipped.
- `Replace`: the most recent due runs start (up to `limit`); the oldest active runs are asked
  to cancel (spec.cancel) so that no more than `limit` go on; runs already cancelling do not
  count. Older due runs are skipped as replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from kflow.states import StateType

from kflow_operator.decisions.catchup import deadline_of, plan_catchup
from kflow_operator.decisions.deployment_runs import (
    AWAITING_SLOT_NAME,
    ConcurrencyPolicy,
    DeploymentRun,
    RunPolicy,
    scheduled_order,
)


class StartVerdict(StrEnum):
    """What happens to a due run of a Deployment now (a state transition's acceptance is
    kflow.transitions.TransitionVerdict)."""

    NOT_DUE = "NotDue"  # leave it SCHEDULED; look again at `recheck_at`
    START = "Start"  # launch it (after cancelling `cancel`, for Replace)
    WAIT = "Wait"  # SCHEDULED, name AwaitingConcurrencySlot, with `message`
    SKIP = "Skip"  # SCHEDULED/Late, then CANCELLED/Skipped, both with `message`


@dataclass(frozen=True)
class RunDecision:
    run: str
    verdict: StartVerdict
    message: str = ""
    cancel: tuple[str, ...] = ()
    recheck_at: datetime | None = None


@dataclass(frozen=True)
class DuePlan:
    decisions: dict[str, RunDecision] = field(default_factory=dict)
    cancel: tuple[str, ...] = ()
    # The earliest instant a verdict may change without any run changing state: a run falls
    # due, or a waiting run's deadline passes.
    recheck_at: datetime | None = None


def decide_run(
    name: str, runs: Sequence[DeploymentRun], policy: RunPolicy, now: datetime
) -> RunDecision:
    """The verdict for one of the Deployment's runs; `runs` includes it and all its siblings."""
    plan = plan_due_runs(runs, policy, now)
    if name in plan.decisions:
        return plan.decisions[name]
    run = next((run for run in runs if run.name == name), None)
    if run is not None and run.is_unstarted:
        return RunDecision(name, StartVerdict.NOT_DUE, recheck_at=run.due_at)
    return RunDecision(name, StartVerdict.NOT_DUE)


def plan_due_runs(runs: Sequence[DeploymentRun], policy: RunPolicy, now: datetime) -> DuePlan:
    unstarted = [run for run in runs if run.is_unstarted]
    due = [run for run in unstarted if run.due_at <= now]
    catchup = plan_catchup(due, policy, now)
    decisions = {
        skip.run: RunDecision(skip.run, StartVerdict.SKIP, skip.message) for skip in catchup.skip
    }

    active = sorted((run for run in runs if run.is_active), key=scheduled_order)
    candidates = list(catchup.keep)
    cancel: tuple[str, ...] = ()
    if policy.concurrency_policy is ConcurrencyPolicy.ALLOW:
        verdicts = _allow(candidates, active, policy)
    elif policy.concurrency_policy is ConcurrencyPolicy.FORBID:
        verdicts = _forbid(candidates, active, policy)
    else:
        verdicts, cancel = _replace(candidates, active, policy)
    decisions.update({decision.run: decision for decision in verdicts})

    recheck_candidates = [run.due_at for run in unstarted if run.due_at > now]
    for run in due:
        deadline = deadline_of(run, policy)
        if decisions[run.name].verdict is StartVerdict.WAIT and deadline is not None:
            recheck_candidates.append(deadline)
    return DuePlan(decisions, cancel, min(recheck_candidates, default=None))


def _allow(
    candidates: list[DeploymentRun], active: list[DeploymentRun], policy: RunPolicy
) -> list[RunDecision]:
    limit = policy.effective_limit
    if limit is None:
        return [RunDecision(run.name, StartVerdict.START) for run in candidates]
    free = max(0, limit - len(active))
    waiting = (
        f"{AWAITING_SLOT_NAME}: concurrencyLimit={limit} runs are active"
        f" ({_names(active)}); starts when a slot frees, in scheduled order"
    )
    return [
        RunDecision(run.name, StartVerdict.START)
        if index < free
        else RunDecision(run.name, StartVerdict.WAIT, waiting)
        for index, run in enumerate(candidates)
    ]


def _forbid(
    candidates: list[DeploymentRun], active: list[DeploymentRun], policy: RunPolicy
) -> list[RunDecision]:
    limit = policy.effective_limit or 1
    free = max(0, limit - len(active))
    starting = candidates[len(candidates) - free :] if free else []
    starting_names = {run.name for run in starting}
    decisions = []
    for run in candidates:
        if run.name in starting_names:
            decisions.append(RunDecision(run.name, StartVerdict.START))
        elif active:
            decisions.append(
                RunDecision(
                    run.name,
                    StartVerdict.SKIP,
                    f"concurrencyPolicy=Forbid: {len(active)} of concurrencyLimit={limit} "
                    f"runs still active ({_names(active)})",
                )
            )
        else:
            decisions.append(
                RunDecision(
                    run.name,
                    StartVerdict.SKIP,
                    f"concurrencyPolicy=Forbid: due together with newer runs "
                    f"({_names(starting)}) that take the concurrencyLimit={limit} slots",
                )
            )
    return decisions


def _replace(
    candidates: list[DeploymentRun], active: list[DeploymentRun], policy: RunPolicy
) -> tuple[list[RunDecision], tuple[str, ...]]:
    limit = policy.effective_limit or 1
    starting = candidates[-limit:] if candidates else []
    starting_names = {run.name for run in starting}
    still_going = [
        run
        for run in active
        if not run.cancel_requested and run.state_type is not StateType.CANCELLING
    ]
    excess = max(0, len(still_going) + len(starting) - limit)
    cancel = tuple(run.name for run in still_going[:excess])
    decisions = []
    for run in candidates:
        if run.name in starting_names:
            decisions.append(RunDecision(run.name, StartVerdict.START, cancel=cancel))
        else:
            decisions.append(
                RunDecision(
                    run.name,
                    StartVerdict.SKIP,
                    f"concurrencyPolicy=Replace: replaced by newer runs ({_names(starting)})",
                )
            )
    return decisions, cancel


def _names(runs: Sequence[DeploymentRun]) -> str:
    shown = ", ".join(run.name for run in runs[:5])
    return shown + (f" and {len(runs) - 5} more" if len(runs) > 5 else "")
