"""How the `kflow` CLI reads its arguments and shows cluster objects, as pure functions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


class ParameterSyntaxError(ValueError):
    """A `-p` argument is not `key=value`."""


def parse_parameter_assignments(assignments: Sequence[str]) -> dict[str, Any]:
    """`["n=3", "name=Ann", 'xs=[1,2]']` → `{"n": 3, "name": "Ann", "xs": [1, 2]}`.

    A value is JSON when it parses as JSON, else the literal string, so `name=Ann` needs no
    quoting while `n=3` is a number; `name='"3"'` forces the string "3".
    """
    parameters: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key:
            raise ParameterSyntaxError(
                f"parameter {assignment!r} is not of the form key=value (e.g. -p n=3)"
            )
        try:
            parameters[key] = json.loads(raw)
        except ValueError:
            parameters[key] = raw
    return parameters


def age(created: str | None, now: datetime) -> str:
    """kubectl's short age: 42s, 5m, 3h, 2d."""
    if not created:
        return "<unknown>"
    then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    seconds = max(0, int((now - then.astimezone(UTC)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by three spaces, like kubectl."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
    return "\n".join(lines)


def flow_run_row(obj: Mapping[str, Any], now: datetime) -> list[str]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    state = status.get("state") or {}
    counts = (status.get("taskRuns") or {}).get("counts") or {}
    total = (status.get("taskRuns") or {}).get("total")
    tasks = "" if total is None else f"{counts.get('COMPLETED', 0)}/{total}"
    return [
        str(obj["metadata"]["name"]),
        str(state.get("name") or ("Cancelling" if spec.get("cancel") else "")),
        str((spec.get("deploymentRef") or {}).get("name") or ""),
        str(status.get("runName") or ""),
        tasks,
        age(obj["metadata"].get("creationTimestamp"), now),
    ]


FLOW_RUN_HEADERS = ("NAME", "STATE", "DEPLOYMENT", "RUN NAME", "TASKS", "AGE")


def deployment_row(obj: Mapping[str, Any], now: datetime) -> list[str]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    return [
        str(obj["metadata"]["name"]),
        str(spec.get("entrypoint") or ""),
        str(status.get("scheduleSummary") or ""),
        "true" if spec.get("paused") else "false",
        str(status.get("nextScheduleTime") or ""),
        age(obj["metadata"].get("creationTimestamp"), now),
    ]


DEPLOYMENT_HEADERS = ("NAME", "ENTRYPOINT", "SCHEDULE", "PAUSED", "NEXT RUN", "AGE")


def by_creation(objects: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Newest first, as a run history reads best."""
    return sorted(
        objects,
        key=lambda o: (o["metadata"].get("creationTimestamp") or "", o["metadata"]["name"]),
        reverse=True,
    )
