"""What the operator asks of infrastructure and what it learns back: the values `decisions/`
reasons about and `launchers/` produce.

Pure values, no I/O: the lifecycle decisions (decisions/) read an `Observation` and plan a
`LaunchRequest` without knowing which launcher is behind them, and every launcher (launchers/)
takes the request and reports what it sees in the same terms.
"""

from __future__ import annotations

import enum
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kflow.resources import EffectiveInfrastructure, SecretKey

from kflow_operator.identifiers import InfrastructureId


@dataclass(frozen=True)
class LaunchRequest:
    """Everything needed to start one attempt of one FlowRun."""

    namespace: str
    name: str
    uid: str
    attempt: int
    infrastructure: EffectiveInfrastructure
    """The effective infrastructure: FlowRun > Deployment > WorkPool > operator defaults."""
    env: Mapping[str, str]
    """The run's environment: the Deployment's env, what points it at its resultStorage, and
    KFLOW_FLOW_RUN_NAMESPACE/NAME/UID."""
    command: Sequence[str] | None = None
    """The command that runs the flow; None means the launcher's default `kflow execute`."""
    secret_env: Mapping[str, SecretKey] = field(default_factory=dict)
    """Variables whose values are keys of a Secret of the run's namespace (the resultStorage
    credentials): a Job's pod gets them by reference; the process and Docker launchers read the
    Secret when they start the run. Never written into a resource."""

    @property
    def launch_key(self) -> str:
        """Names this attempt's infrastructure: the same key never starts two of it."""
        return f"{self.uid}-{self.attempt}"


@dataclass(frozen=True)
class Launched:
    identifier: InfrastructureId
    log_path: str | None = None
    """Where the run's output is kept, when the launcher keeps it in a file."""


@dataclass(frozen=True)
class StartWait:
    """Why infrastructure that is there has not started the flow yet: a pod waiting on its
    image or its node, a Job that cannot create its pod. The run stays PENDING and says so; past
    the operator's start deadline it ends CRASHED (decisions/start_wait.py)."""

    reason: str
    """Kubernetes' word for it (`ErrImagePull`, `Unschedulable`, `FailedCreate`, …): the
    reason of the FlowRun's InfrastructureReady condition."""
    message: str
    """What waits and why, in Kubernetes' words: `pod etl-x-abc waits: ErrImagePull: …`."""


class ObservedPhase(enum.StrEnum):
    RUNNING = "running"
    EXITED = "exited"
    MISSING = "missing"


@dataclass(frozen=True)
class Observation:
    """What the infrastructure is doing now, as far as the launcher can tell."""

    phase: ObservedPhase
    exit_code: int | None = None
    signal: str | None = None
    """The signal that ended it, e.g. `SIGKILL`."""
    reason: str = ""
    """Why, in words (`OOMKilled`, `PID reused by another program`, …)."""
    details: Mapping[str, str] = field(default_factory=dict)
    waiting: StartWait | None = None
    """Running, but held up before the flow could start (only with phase RUNNING)."""

    @property
    def gone(self) -> bool:
        return self.phase is not ObservedPhase.RUNNING

    def describe(self) -> str:
        """`exited with code 3`, `killed by SIGKILL`, `not found (…)`: for state messages."""
        if self.phase is ObservedPhase.RUNNING:
            return "running"
        if self.signal:
            text = f"killed by {self.signal}"
        elif self.exit_code is not None:
            text = f"exited with code {self.exit_code}"
        elif self.phase is ObservedPhase.EXITED:
            text = "exited"
        else:
            text = "is gone"
        return f"{text} ({self.reason})" if self.reason else text


RUNNING = Observation(ObservedPhase.RUNNING)


def signal_of_exit_code(code: int) -> str | None:
    """`137` → `SIGKILL`: a container's main process killed by a signal exits with 128+N."""
    if code <= 128:
        return None
    try:
        return signal.Signals(code - 128).name
    except ValueError:
        return None
