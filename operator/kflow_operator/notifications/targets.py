"""The notification targets of a run: its Deployment's, or else its work pool's."""

from __future__ import annotations

from dataclasses import dataclass

from kflow.resources import DeploymentSpec, WorkPoolSpec
from kflow.resources.notifications import NotificationSpec

from kflow_operator.notifications.transitions import Transition


@dataclass(frozen=True)
class Target:
    id: str
    """What the run's status.notifications calls it: its name, else `deployment[i]` or
    `workpool[i]` (never anything read from a Secret)."""
    spec: NotificationSpec

    def wants(self, transition: Transition) -> bool:
        """Whether this target is told of `transition` (its state type or its state name)."""
        wanted = {state.value for state in self.spec.states}
        return transition.type.value in wanted or transition.name in wanted


def run_targets(deployment: DeploymentSpec | None, pool: WorkPoolSpec | None) -> list[Target]:
    """A Deployment that sets `notifications` (even to an empty list) replaces its pool's; a run
    of no Deployment (ad hoc) gets its pool's."""
    if deployment is not None and deployment.notifications is not None:
        return _named("deployment", deployment.notifications)
    if pool is not None and pool.notifications is not None:
        return _named("workpool", pool.notifications)
    return []


def _named(source: str, specs: list[NotificationSpec]) -> list[Target]:
    return [Target(spec.name or f"{source}[{index}]", spec) for index, spec in enumerate(specs)]
