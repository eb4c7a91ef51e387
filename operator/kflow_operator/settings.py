"""The operator's own configuration, from its command line (and the chart's values)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from kflow.resources import GROUP

from kflow_operator.decisions.run_finalizer import FINALIZER as FINALIZER
from kflow_operator.decisions.start_wait import DEFAULT_START_DEADLINE_SECONDS
from kflow_operator.decisions.supervised_run import DEFAULT_GRACE_SECONDS

ANNOTATIONS_PREFIX = GROUP
DIFFBASE_KEY = "last-handled-configuration"
PEERING_NAME = "kflow"
POOL_PEERING_PREFIX = f"{PEERING_NAME}-pool-"
PEERING_NAME_LIMIT = 63
PEERING_LIFETIME_SECONDS = 30
DEFAULT_WORKER_HEARTBEAT_SECONDS = 10.0
DEFAULT_WORKER_TIMEOUT_SECONDS = 30.0
"""How long a silent replica on another host blocks the others (same-host ones are pruned)."""


def default_state_dir() -> Path:
    """Where per-run output files live: $KFLOW_HOME/operator, default ~/.kflow/operator."""
    home = os.environ.get("KFLOW_HOME")
    return (Path(home) if home else Path.home() / ".kflow") / "operator"


@dataclass(frozen=True)
class OperatorSettings:
    namespaces: tuple[str, ...] = ()
    """Namespaces to serve; empty means all namespaces."""
    state_dir: Path = field(default_factory=default_state_dir)
    poll_seconds: float = 2.0
    """Safety-net polling of infrastructure that cannot notify (and of missed notifications)."""
    idle_poll_seconds: float = 30.0
    """How often a run with nothing to wait for is looked at anyway."""
    default_image: str | None = None
    """Image of docker/kubernetes-job runs whose infrastructure names none (--default-image)."""
    start_deadline_seconds: float = DEFAULT_START_DEADLINE_SECONDS
    """A launched run whose infrastructure has not started the flow this long ends CRASHED, and
    what was created is removed (--start-deadline-seconds)."""
    default_grace_period_seconds: int = DEFAULT_GRACE_SECONDS
    """Cancel grace period of runs whose FlowRun and Deployment set none
    (--default-grace-period)."""
    work_pools: frozenset[str] = frozenset()
    """The work pools this operator serves (--work-pool); empty means every pool of its
    namespaces and the runs that name no pool."""
    notifications: bool = True
    """Deliver spec.notifications (--no-notifications: ignore them; the chart's
    notifications.enabled, which also grants reading Secrets)."""
    notification_retry_seconds: int = 3600
    """How long after a transition a failing notification is retried (--notification-retry)."""
    dashboard_url: str | None = None
    """The dashboard's address, for links in notifications (--dashboard-url)."""
    worker_heartbeat_seconds: float = DEFAULT_WORKER_HEARTBEAT_SECONDS
    """How often it renews its entry in the status.workers of each pool it serves."""
    worker_timeout_seconds: float = DEFAULT_WORKER_TIMEOUT_SECONDS
    """A worker whose last heartbeat is older than this is not live; a pool with runs due and
    no live worker for this long says so (--worker-timeout-seconds)."""

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    @property
    def peering_name(self) -> str:
        """The Kopf peering object this operator registers in: one per set of served pools.

        Operators serving the same pools share it (one acts, the others stand by, so nothing
        runs twice); operators serving different pools have different ones and are all active
        at once. Every pool: `kflow`; else `kflow-pool-` and the sorted names joined by '.'
        (pool names have none, so two sets never share a name), hashed when too long.
        """
        if not self.work_pools:
            return PEERING_NAME
        joined = ".".join(sorted(self.work_pools))
        name = POOL_PEERING_PREFIX + joined
        if len(name) <= PEERING_NAME_LIMIT:
            return name
        return POOL_PEERING_PREFIX + hashlib.sha256(joined.encode()).hexdigest()[:20]

    def serves_pool(self, pool: str | None) -> bool:
        """Whether runs of `pool` (None: a run of no pool) are this operator's to launch."""
        if not self.work_pools:
            return True
        return pool is not None and pool in self.work_pools
