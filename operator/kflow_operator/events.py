"""Kubernetes Events on a FlowRun (what `kubectl describe` shows), posted through Kopf."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kopf


def normal(body: Mapping[str, Any], reason: str, message: str) -> None:
    kopf.event(cast(kopf.Body, body), type="Normal", reason=reason, message=message)


def warning(body: Mapping[str, Any], reason: str, message: str) -> None:
    kopf.event(cast(kopf.Body, body), type="Warning", reason=reason, message=message)
