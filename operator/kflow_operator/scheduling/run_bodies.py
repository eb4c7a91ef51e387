"""What a schedule's runs are called, labelled and made of: pure functions of the Deployment
and the fire time, so two passes (or two operators) make the very same run."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kflow.resources import API_VERSION, FLOWRUN_KIND, GROUP, format_timestamp

from kflow_operator.decisions.schedules import run_name_prefix, scheduled_run_name
from kflow_operator.kubeapi import Body

DEPLOYMENT_LABEL = f"{GROUP}/deployment"
"""On every FlowRun a schedule creates, for `kubectl get fr -l`; the operator itself finds a
Deployment's runs by spec.deploymentRef, labelled or not."""
SCHEDULED_LABEL = f"{GROUP}/scheduled"
"""`"true"` on runs a schedule created (catch-up and deadlines apply to those only)."""
SCHEDULE_TIME_ANNOTATION = f"{GROUP}/scheduled-time"

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def deployment_label_value(deployment_name: str) -> str:
    """Deployment names may be 253 characters, label values only 63: long ones get a hash."""
    if len(deployment_name) <= 63 and _LABEL_VALUE.match(deployment_name):
        return deployment_name
    digest = hashlib.sha256(deployment_name.encode()).hexdigest()[:8]
    return f"{deployment_name[:54].rstrip('-_.')}-{digest}"


def is_schedule_run_name(run_name: str, deployment_name: str, scheduled: datetime | None) -> bool:
    """Whether a run's name is the one a schedule gives (for callers that lack its labels)."""
    if scheduled is None:
        return False
    stem = scheduled_run_name(deployment_name, "", scheduled).rsplit("-", 1)[0]
    return bool(re.fullmatch(re.escape(stem) + r"-[0-9a-f]{8}", run_name)) and run_name.startswith(
        run_name_prefix(deployment_name)
    )


def scheduled_run_body(deployment: Mapping[str, Any], instant: datetime) -> Body:
    meta = deployment["metadata"]
    name = meta["name"]
    return {
        "apiVersion": API_VERSION,
        "kind": FLOWRUN_KIND,
        "metadata": {
            "name": scheduled_run_name(name, meta["uid"], instant),
            "namespace": meta["namespace"],
            "labels": {
                DEPLOYMENT_LABEL: deployment_label_value(name),
                SCHEDULED_LABEL: "true",
            },
            "annotations": {SCHEDULE_TIME_ANNOTATION: format_timestamp(instant)},
            "ownerReferences": [
                {
                    "apiVersion": deployment.get("apiVersion", API_VERSION),
                    "kind": deployment.get("kind", "Deployment"),
                    "name": name,
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": {"deploymentRef": {"name": name}, "scheduledTime": format_timestamp(instant)},
    }
