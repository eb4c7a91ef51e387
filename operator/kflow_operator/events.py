"""Kubernetes Events on kflow's objects (what `kubectl describe` shows), posted by the
operator's EventPoster (kubeapi/event_poster.py), installed once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kflow_operator.decisions.events import Event
from kflow_operator.kubeapi.event_poster import EventPoster

_poster: EventPoster | None = None


def install(poster: EventPoster) -> None:
    global _poster
    _poster = poster


def _send(body: Mapping[str, Any], type: str, reason: str, message: str) -> None:
    if _poster is None:
        raise RuntimeError("kflow_operator.events: no EventPoster installed (main() does it)")
    _poster.post(body, type, reason, message)


def normal(body: Mapping[str, Any], reason: str, message: str) -> None:
    _send(body, "Normal", reason, message)


def warning(body: Mapping[str, Any], reason: str, message: str) -> None:
    _send(body, "Warning", reason, message)


def post(event: Event, default: Mapping[str, Any]) -> None:
    """Post `event` on the object it is about, else on `default`."""
    send = warning if event.type == "Warning" else normal
    send(event.about if event.about is not None else default, event.reason, event.message)
