"""What the Job launcher calls things: the Job of an attempt, its labels, its identifier.

Identifier: scope = the UID of the `kube-system` namespace (a cluster's identity, stable across
API server addresses); id = `namespace/job-name@job-uid` — the UID, like a process's start
time, tells a Job from a later one of the same name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kflow.resources import GROUP

from kflow_operator.infrastructure import LaunchRequest
from kflow_operator.launchers.flow_account import LABEL_MANAGED, MANAGED_BY
from kflow_operator.launchers.ownership import RUN_UID_LABEL

FLOW_CONTAINER = "flow"

LABEL_PREFIX = f"{GROUP}/"
LABEL_NAME = f"{LABEL_PREFIX}flow-run-name"
LABEL_UID = RUN_UID_LABEL
"""The run's UID, on the Job and its pods: what tells whose they are (launchers/ownership.py)."""
LABEL_ATTEMPT = f"{LABEL_PREFIX}attempt"
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
OWN_SELECTOR = f"{LABEL_UID},{LABEL_MANAGED}={MANAGED_BY}"
"""Selects the Jobs and pods this launcher made (any run, any attempt)."""
STOP_ANNOTATION = f"{GROUP}/stop-requested"
"""Set on a Job and its pods by `stop`: their deletion is our cancellation, not a crash."""


def job_name(request: LaunchRequest) -> str:
    """Deterministic per attempt and a DNS-1123 label (≤ 63), so `job-name` labels fit."""
    run = re.sub(r"[^a-z0-9-]+", "-", request.name.lower()).strip("-")[:40].rstrip("-")
    return f"{run or 'run'}-{request.uid.replace('-', '')[:8]}-{request.attempt}"


def format_job_id(namespace: str, name: str, uid: str) -> str:
    return f"{namespace}/{name}@{uid}"


@dataclass(frozen=True)
class JobId:
    namespace: str
    name: str
    uid: str | None

    @classmethod
    def parse(cls, text: str) -> JobId:
        path, _, uid = text.partition("@")
        namespace, sep, name = path.partition("/")
        if not sep or not namespace or not name:
            raise ValueError(
                f"Job id {text!r} is not `namespace/job-name@job-uid` (e.g. `team/nightly-1@…`)"
            )
        return cls(namespace, name, uid or None)


def run_labels(request: LaunchRequest) -> dict[str, str]:
    return {
        LABEL_NAME: _label_value(request.name),
        LABEL_UID: request.uid,
        LABEL_ATTEMPT: str(request.attempt),
        LABEL_MANAGED: MANAGED_BY,
    }


def _label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return value.strip("-_.")
