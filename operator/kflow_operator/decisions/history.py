"""Which finished runs of a Deployment to delete, like CronJob's history limits.

Completed runs count against `successfulRunsHistoryLimit`; failed, crashed and cancelled runs
(skipped runs are cancelled ones) against `failedRunsHistoryLimit`. The newest of each kind are
kept; the rest are deleted oldest first, so an interrupted pruning pass has removed the least
interesting runs. "Newest" is by end time, falling back to scheduled time for runs that never
started.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kflow.states import StateType

from kflow_operator.decisions.deployment_runs import DeploymentRun


def runs_to_delete(
    runs: Sequence[DeploymentRun], successful_limit: int, failed_limit: int
) -> list[str]:
    """Names of terminal runs beyond the limits, oldest first."""
    successful = [run for run in runs if run.state_type is StateType.COMPLETED]
    failed = [run for run in runs if run.is_terminal and run.state_type is not StateType.COMPLETED]
    excess = _beyond_limit(successful, successful_limit) + _beyond_limit(failed, failed_limit)
    return [run.name for run in sorted(excess, key=_finished_order)]


def _beyond_limit(runs: list[DeploymentRun], limit: int) -> list[DeploymentRun]:
    newest_first = sorted(runs, key=_finished_order, reverse=True)
    return newest_first[max(0, limit) :]


def _finished_order(run: DeploymentRun) -> tuple[datetime, str]:
    finished = run.end_time if run.end_time is not None else run.due_at
    return (finished, run.name)
