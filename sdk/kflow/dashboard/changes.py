"""What each dashboard action writes through the API (DESIGN §6), as pure functions: cancel is
`spec.cancel: true`, resume `spec.paused: false`, pause/unpause a Deployment's
`spec.paused`, and run-now and retry create a FlowRun. Nothing else is ever written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kflow.resources import API_VERSION, FLOWRUN_KIND

CANCEL = {"cancel": True}
RESUME = {"paused": False}
RETRY_OF = "kflow.dev/retry-of"
"""Annotation of a FlowRun started by the dashboard's retry: the run it retries."""
RETRIED_FIELDS = (
    "deploymentRef",
    "entrypoint",
    "infrastructure",
    "parameters",
    "tags",
    "cancelGracePeriodSeconds",
)
"""What a retry keeps of the run it retries: what to run and with what. Not its schedule,
its parent, its name, nor its cancel or pause requests."""


def _generate_name(base: str) -> str:
    # metadata.generateName: at most 253 characters with the 5 random ones the server adds;
    # kept short so that the name also fits a Job or pod name derived from it.
    return f"{base[:50].rstrip('-.')}-"


def run_now_body(deployment: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A FlowRun of the Deployment, starting now, with the parameters given (merged over the
    Deployment's by the operator)."""
    spec: dict[str, Any] = {"deploymentRef": {"name": deployment}}
    if parameters:
        spec["parameters"] = dict(parameters)
    return {
        "apiVersion": API_VERSION,
        "kind": FLOWRUN_KIND,
        "metadata": {"generateName": _generate_name(deployment)},
        "spec": spec,
    }


def retry_body(run: Mapping[str, Any]) -> dict[str, Any]:
    """A new FlowRun of the same Deployment (or inline flow) and parameters."""
    meta = run.get("metadata") or {}
    spec = run.get("spec") or {}
    base = str(((spec.get("deploymentRef") or {}).get("name")) or meta.get("name") or "run")
    return {
        "apiVersion": API_VERSION,
        "kind": FLOWRUN_KIND,
        "metadata": {
            "generateName": _generate_name(base),
            "annotations": {RETRY_OF: str(meta.get("name"))},
        },
        "spec": {key: spec[key] for key in RETRIED_FIELDS if key in spec},
    }


def deployment_pause(paused: bool) -> dict[str, Any]:
    return {"paused": paused}
