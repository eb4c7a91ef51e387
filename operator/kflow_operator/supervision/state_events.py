"""One Kubernetes Event and one log line per state change of a supervised run, whoever wrote
it (the flow process, a user, the operator): `kubectl describe` and the operator's log show
every state once."""

from __future__ import annotations

import logging
from datetime import datetime

from kflow.resources import StateHistoryEntry

from kflow_operator import events
from kflow_operator.decisions.events import state_event
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.kubeapi import Body
from kflow_operator.metrics import run_records

logger = logging.getLogger(__name__)


class StateEvents:
    """Announces the state history entries newer than the last one announced."""

    def __init__(self, body: Body) -> None:
        history = SupervisedRun.from_body(body).status.state_history or []
        self.until: datetime | None = history[-1].timestamp if history else None
        """Entries up to this instant were there when supervision began, or are announced."""

    def post(self, run: SupervisedRun, body: Body) -> None:
        for entry in run.status.state_history or []:
            if self.until is not None and entry.timestamp <= self.until:
                continue
            self.until = entry.timestamp
            run_records.state_seen(body, entry.type.value, entry.timestamp)
            _announce(entry, body)


def _announce(entry: StateHistoryEntry, body: Body) -> None:
    event = state_event(entry)
    metadata = body.get("metadata") or {}
    ref = {key: metadata.get(key) for key in ("namespace", "name", "uid")}
    # One log line per state change; with --log-format json the run's reference is a field.
    logger.info(
        "FlowRun %s/%s %s (%s)",
        ref["namespace"],
        ref["name"],
        event.message,
        entry.name,
        extra={"k8s_ref": ref},
    )
    events.post(event, body)
