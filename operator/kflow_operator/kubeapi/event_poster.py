"""Kubernetes Events posted from a queue on a thread of their own.

Kopf's poster takes Events only from code running inside its own handling of an object (its
queue lives in context variables it sets there); the FlowRun supervisors run outside Kopf, so
every Event of the operator goes through this poster instead. Events are the story of a run for
`kubectl describe`, not its truth (that is the status): a post that keeps failing is logged and
dropped, and a full queue drops new ones rather than growing without bound.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from kflow_operator.kubeapi.clients import ClientFactory

logger = logging.getLogger(__name__)

COMPONENT = "kflow-operator"
QUEUE_LIMIT = 10_000
MESSAGE_LIMIT = 1024
RETRY_SECONDS = (0.5, 2.0)
"""Pauses before the second and third try of a post the API server could not take."""


@dataclass(frozen=True)
class PendingEvent:
    about: dict[str, Any]
    """The object's reference (involvedObject): a queue of thousands in a burst holds no
    whole objects."""
    type: str
    reason: str
    message: str
    at: datetime


def shorten(message: str) -> str:
    """The API server refuses long messages: keep the start and the end."""
    if len(message) <= MESSAGE_LIMIT:
        return message
    half = (MESSAGE_LIMIT - 3) // 2
    return f"{message[:half]}...{message[-half:]}"


def reference(about: Mapping[str, Any]) -> dict[str, Any]:
    meta = about.get("metadata") or {}
    return {
        "apiVersion": about.get("apiVersion"),
        "kind": about.get("kind"),
        "name": meta.get("name"),
        "namespace": str(meta.get("namespace") or "default"),
        "uid": meta.get("uid"),
    }


def event_body(event: PendingEvent, instance: str) -> dict[str, Any]:
    namespace = event.about["namespace"]
    stamp = event.at.isoformat()
    return {
        "metadata": {"namespace": namespace, "generateName": "kflow-event-"},
        "type": event.type,
        "reason": event.reason,
        "message": shorten(event.message),
        "action": event.reason,
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "source": {"component": COMPONENT},
        "involvedObject": event.about,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "eventTime": event.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "count": 1,
    }


def _retryable(error: Exception) -> bool:
    if isinstance(error, ApiException):
        return error.status is None or error.status == 429 or error.status >= 500
    return isinstance(error, (urllib3.exceptions.HTTPError, OSError))


class EventPoster:
    def __init__(self, clients: ClientFactory, instance: str) -> None:
        self._clients = clients
        self._instance = instance
        self._queue: queue.Queue[PendingEvent | None] = queue.Queue(QUEUE_LIMIT)
        self._dropped = 0
        self._thread = threading.Thread(target=self._run, name="kflow-events", daemon=True)
        self._thread.start()

    def post(self, about: Mapping[str, Any], type: str, reason: str, message: str) -> None:
        """Queue an Event about `about` (a body with apiVersion, kind and metadata); from any
        thread, never blocks."""
        try:
            self._queue.put_nowait(
                PendingEvent(reference(about), type, reason, message, datetime.now(UTC))
            )
        except queue.Full:
            self._dropped += 1
            if self._dropped % 1000 == 1:
                logger.warning("Event queue full: %d Events dropped so far.", self._dropped)

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            self._send(event)

    def _create(self, namespace: str, body: dict[str, Any]) -> None:
        """POST the Event with the bare client: kubernetes' CoreV1Api module alone is tens of
        MiB of the operator's memory, which nothing else it always does needs."""
        api = self._clients()
        method, url, headers, payload, _ = api.param_serialize(
            "POST",
            "/api/v1/namespaces/{namespace}/events",
            path_params={"namespace": namespace},
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response: Any = api.call_api(method, url, headers, payload)
        response.read()
        if not 200 <= response.status < 300:
            raise ApiException(status=response.status, reason=response.reason)

    def _send(self, event: PendingEvent) -> None:
        body = event_body(event, self._instance)
        namespace = body["metadata"]["namespace"]
        for pause in (*RETRY_SECONDS, None):
            try:
                self._create(namespace, body)
                return
            except Exception as error:
                if pause is None or not _retryable(error):
                    logger.warning(
                        "Event %s on %s %s/%s not posted: %s",
                        event.reason,
                        body["involvedObject"]["kind"],
                        namespace,
                        body["involvedObject"]["name"],
                        error,
                    )
                    return
                time.sleep(pause)
