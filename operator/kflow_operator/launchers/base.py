"""The Launcher interface: what the FlowRun lifecycle needs from every kind of infrastructure.

The lifecycle (supervision/supervisor.py over decisions/) drives it; launchers never write the
FlowRun. Methods are blocking and may be slow (Docker, the Kubernetes API); the operator calls
them from worker threads, never on its event loop. The values a launcher exchanges with the
lifecycle (`LaunchRequest`, `Launched`, `Observation`) are in infrastructure.py, which
decisions/ uses without depending on launchers.

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
from collections.abc import Callable, Mapping
from typing import Any

from kflow.resources import InfrastructureType

from kflow_operator.identifiers import InfrastructureId
from kflow_operator.infrastructure import Launched, LaunchRequest, Observation

Wake = Callable[[], None]
"""Called (from any thread) when watched infrastructure may have changed."""

FlowRunReader = Callable[[str, str], Mapping[str, Any] | None]
"""(namespace, name) → the FlowRun body, None when it does not exist (for sweepers)."""

DEFAULT_COMMAND = ("kflow", "execute")
"""What every container and pod runs unless the infrastructure overrides it."""

UNRECORDED_GRACE_SECONDS = 60.0
"""Launched infrastructure that no FlowRun names after this long is an abandoned launch (its
operator died before recording it): no status write can still be in flight."""


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

    def __init__(
        self, message: str, reason: str = "LaunchFailed", infrastructure: bool = False
    ) -> None:
        """`reason`: the FAILED state's reason; `infrastructure`: the infrastructure itself
        could not be had (an image that cannot be pulled), which the run's InfrastructureReady
        condition says too, with `reason`."""
        super().__init__(message)
        self.reason = reason
        self.infrastructure = infrastructure
