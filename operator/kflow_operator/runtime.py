"""Operator-wide objects every handler shares: settings, the API, the launchers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kflow.resources import DeploymentSpec

from kflow_operator.decisions.actions import Action
from kflow_operator.decisions.run import RunView
from kflow_operator.identifiers import InfrastructureId
from kflow_operator.informers import Informers
from kflow_operator.kube import KubeApi
from kflow_operator.launchers.base import Launcher
from kflow_operator.settings import OperatorSettings

LaunchAdmission = Callable[[RunView, DeploymentSpec | None, datetime], Action | None]
"""Asked right before a due run is launched: None admits it; an action (e.g. a Wait, a
MarkFailed) is done instead. The Deployment side plugs concurrency and deadlines in here."""


def admit_everything(run: RunView, deployment: DeploymentSpec | None, now: datetime) -> None:
    return None


@dataclass
class Runtime:
    settings: OperatorSettings
    api: KubeApi
    launchers: dict[str, Launcher]
    admission: LaunchAdmission = field(default=admit_everything)
    informers: Informers | None = None

    def start_informers(self) -> Informers:
        if self.informers is None:
            self.informers = Informers(self.settings.namespaces)
            self.informers.start()
        return self.informers

    def indexed_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Deployment from memory (never blocks: fine on the event loop); None when the index
        does not have it, and then only the API server can say whether it exists."""
        if self.informers is None:
            return None
        return self.informers.deployments.get(namespace, name)

    def launcher_for(self, identifier: InfrastructureId) -> Launcher | None:
        """The launcher that may act on `identifier`: same type AND same scope, else None."""
        launcher = self.launchers.get(identifier.type)
        if launcher is None or not launcher.owns(identifier):
            return None
        return launcher

    def close(self) -> None:
        if self.informers is not None:
            self.informers.close()
        for launcher in self.launchers.values():
            launcher.close()
