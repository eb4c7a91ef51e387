"""Kubernetes Events on kflow's objects (what `kubectl describe` shows), posted through Kopf."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kopf

from kflow_operator.decisions.events import Event


def normal(body: Mapping[str, Any], reason: str, message: str) -> None:
    kopf.event(cast(kopf.Body, body), type="Normal", reason=reason, message=message)


def warning(body: Mapping[str, Any], reason: str, message: str) -> None:
    kopf.event(cast(kopf.Body, body), type="Warning", reason=reason, message=message)


def post(event: Event, default: Mapping[str, Any]) -> None:
    """Post `event` on the object it is about, else on `default`."""
    send = warning if event.type == "Warning" else normal
    send(event.about if event.about is not None else default, event.reason, event.message)
