"""Keeps this branch's `notifications` fields in the cluster's CRDs while a test runs.

The integration cluster is shared: every test session applies its own copy of crds/ when it
starts, and a copy without `notifications` prunes the field — from the schema, and so from
every object the API server then reads or writes. The keeper adds the fields back (never
replacing anything else another session put in the schema) as soon as they are missing.
Once every branch's crds/ has them it never writes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.waiting import wait_until

KEPT = (
    ("deployments.kflow.dev", "spec", "notifications"),
    ("workpools.kflow.dev", "spec", "notifications"),
    ("flowruns.kflow.dev", "status", "notifications"),
)
INTERVAL_SECONDS = 0.2


def _properties(crd: dict[str, Any], part: str) -> dict[str, Any]:
    version = crd["spec"]["versions"][0]
    properties: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"][part][
        "properties"
    ]
    return properties


def _ours(crds: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for file in crds.glob("*.kflow.dev.yaml"):
        crd = yaml.safe_load(file.read_text())
        found[crd["metadata"]["name"]] = crd
    return found


PROBE_NOTIFICATIONS = [
    {"states": ["FAILED"], "webhook": {"urlFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}}
]
PROBES = {
    "deployments": {
        "entrypoint": "f.py:main",
        "infrastructure": {"type": "process"},
        "notifications": PROBE_NOTIFICATIONS,
    },
    "workpools": {"type": "process", "notifications": PROBE_NOTIFICATIONS},
}
EFFECTIVE_TIMEOUT_SECONDS = 60


def _accepted(objects: client.CustomObjectsApi) -> bool:
    """Whether the API server takes the fields now (a dry-run create in `default`)."""
    for plural, spec in PROBES.items():
        body = {
            "apiVersion": "kflow.dev/v1alpha1",
            "kind": "Deployment" if plural == "deployments" else "WorkPool",
            "metadata": {"generateName": "probe-"},
            "spec": spec,
        }
        try:
            objects.create_namespaced_custom_object(
                "kflow.dev", "v1alpha1", "default", plural, body, dry_run="All"
            )
        except ApiException:
            return False
    return True


def _restore_once(api: client.ApiextensionsV1Api, ours: dict[str, dict[str, Any]]) -> None:
    for name, part, field in KEPT:
        raw = api.api_client.sanitize_for_serialization(api.read_custom_resource_definition(name))
        if field in _properties(raw, part):
            continue
        _properties(raw, part)[field] = _properties(ours[name], part)[field]
        with contextlib.suppress(ApiException):
            api.replace_custom_resource_definition(name, raw)


@contextlib.contextmanager
def keep_notification_fields(api_client: client.ApiClient, crds: Path) -> Iterator[None]:
    api = client.ApiextensionsV1Api(api_client)
    ours = _ours(crds)
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(INTERVAL_SECONDS):
            with contextlib.suppress(ApiException):
                _restore_once(api, ours)

    _restore_once(api, ours)
    objects = client.CustomObjectsApi(api_client)
    wait_until(
        "the notifications fields in effect", lambda: _accepted(objects), EFFECTIVE_TIMEOUT_SECONDS
    )
    thread = threading.Thread(target=keep, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
