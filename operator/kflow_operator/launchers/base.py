"""The Launcher interface: what the FlowRun lifecycle needs from every kind of infrastructure.

The lifecycle (handlers/flowruns.py over decisions/) drives it; launchers never write the
FlowRun. Methods are blocking and may be slow (Docker, the Kubernetes API); the operator calls
them from worker threads, never on its event loop.

Exactly-once launching rests on this protocol, for every launcher:

1. `launch(request)` starts infrastructure that does NOT run the flow yet, or that cannot run
   it twice: the process launcher holds its child at a gate; container launchers name the
   container/Job deterministically from `request.launch_key`, so a second `launch` with the
   same key returns the existing one (409 is success) instead of starting another.
2. The operator records the returned identifier in the FlowRun status (optimistic concurrency).
3. `release(launched)` lets it run the flow. If the operator dies between 1 and 3, the
   infrastructure must not run the flow unless the FlowRun status names it (the process gate
   checks the status itself when its operator disappears).
4. If the record in step 2 fails for good (the run was cancelled meanwhile), the operator calls
   `discard(launched)`, which removes it without the flow ever having run.
"""

from __future__ import annotations

import abc
import enum
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kflow.resources import InfrastructureSpec, InfrastructureType

from kflow_operator.identifiers import InfrastructureId

Wake = Callable[[], None]
"""Called (from any thread) when watched infrastructure may have changed."""

FlowRunReader = Callable[[str, str], Mapping[str, Any] | None]
"""(namespace, name) → the FlowRun body, None when it does not exist (for sweepers)."""

DEFAULT_COMMAND = ("kflow", "execute")
"""What every container and pod runs unless the infrastructure overrides it."""

UNRECORDED_GRACE_SECONDS = 60.0
"""Launched infrastructure that no FlowRun names after this long is an abandoned launch (its
operator died before recording it): no status write can still be in flight."""


@dataclass(frozen=True)
class LaunchRequest:
    """Everything needed to start one attempt of one FlowRun."""

    namespace: str
    name: str
    uid: str
    attempt: int
    infrastructure: InfrastructureSpec
    """The effective infrastructure: the Deployment's, or the ad-hoc run's own."""
    env: Mapping[str, str]
    """The run's environment: the Deployment's env plus KFLOW_FLOW_RUN_NAMESPACE/NAME/UID."""
    command: Sequence[str] | None = None
    """The command that runs the flow; None means the launcher's default `kflow execute`."""

    @property
    def launch_key(self) -> str:
        """Names this attempt's infrastructure: the same key never starts two of it."""
        return f"{self.uid}-{self.attempt}"


@dataclass(frozen=True)
class Launched:
    identifier: InfrastructureId
    log_path: str | None = None
    """Where the run's output is kept, when the launcher keeps it in a file."""


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


class Launcher(abc.ABC):
    """Starts, watches and stops one type of infrastructure within one scope."""

    type: InfrastructureType

    @property
    @abc.abstractmethod
    def scope(self) -> str:
        """The scope this launcher acts in; it only ever touches identifiers with this scope."""

    def owns(self, identifier: InfrastructureId) -> bool:
        return identifier.type == self.type.value and identifier.scope == self.scope

    @abc.abstractmethod
    def launch(self, request: LaunchRequest) -> Launched:
        """Start the infrastructure, held back from running the flow (see the module doc)."""

    def release(self, launched: Launched) -> None:  # noqa: B027 - optional hook
        """Let recorded infrastructure run the flow; a no-op for launchers without a gate."""

    @abc.abstractmethod
    def discard(self, launched: Launched) -> None:
        """Remove infrastructure that was launched but never recorded; the flow never ran."""

    @abc.abstractmethod
    def observe(self, identifier: InfrastructureId) -> Observation:
        """Running, exited (with code/signal when known) or missing. Never raises for a gone
        thing; raises only when it cannot tell (e.g. the Docker engine is unreachable)."""

    @abc.abstractmethod
    def stop(self, identifier: InfrastructureId, grace_seconds: int) -> None:
        """Ask it to stop (SIGTERM, `docker stop`, Job deletion with foreground propagation).
        Returns at once; the operator enforces the grace period itself. A gone target is fine."""

    @abc.abstractmethod
    def kill(self, identifier: InfrastructureId) -> None:
        """Stop it now (SIGKILL, container kill, pod force deletion). A gone target is fine."""

    def adopt(self, identifier: InfrastructureId, wake: Wake) -> None:  # noqa: B027
        """Watch infrastructure started earlier (by this operator or a previous incarnation)
        and call `wake` when it may have ended. The default does nothing: the lifecycle polls
        `observe` anyway; launchers that can be notified make CRASHED detection immediate."""

    def forget(self, identifier: InfrastructureId) -> None:  # noqa: B027
        """Stop watching: the run is finished with. Frees per-run memory."""

    def close(self) -> None:  # noqa: B027
        """Release clients and threads at operator exit. Infrastructure keeps running."""


class LaunchError(Exception):
    """The run's own configuration cannot be launched (a missing working directory, an image
    the launcher cannot use, …): the run FAILS with this message. Transient trouble (an
    unreachable engine) raises anything else and is retried."""
