"""The Job launcher's settings (flags.py fills them from the operator's command line)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobLauncherOptions:
    namespaces: tuple[str, ...] = ()
    """Namespaces to watch; empty means all (the operator's own scope)."""
    image_pull_deadline_seconds: float = 120.0
    """A pod still failing to pull its image (or to create its container) this long after it
    was created ends the run CRASHED."""
    sweep_seconds: float = 30.0
    manage_service_accounts: bool = True
    """Create the flow ServiceAccount/Role/RoleBinding per namespace on demand."""
