"""How the `kflow` CLI reads its arguments and shows cluster objects, as pure functions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from kflow.resources.common import format_timestamp, parse_timestamp


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
    return _short_duration(now - parse_timestamp(created))


def scheduled_label(scheduled: str | None, now: datetime) -> str:
    """When a run is due, to the second, and how soon while it is ahead: upcoming runs
    (SCHEDULED) read at a glance, past ones keep their time. Empty for runs started at once."""
    if not scheduled:
        return ""
    due = parse_timestamp(scheduled)
    label = format_timestamp(due, timespec="seconds")
    if due > now:
        label += f" (in {_short_duration(due - now)})"
    return label


def _short_duration(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
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
        scheduled_label(spec.get("scheduledTime"), now),
        age(obj["metadata"].get("creationTimestamp"), now),
    ]


FLOW_RUN_HEADERS = ("NAME", "STATE", "DEPLOYMENT", "RUN NAME", "TASKS", "SCHEDULED", "AGE")


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


def flow_run_details(obj: Mapping[str, Any], sections: Sequence[str] = ()) -> str:
    """`kflow flow-run inspect NAME` on a cluster: the FlowRun as a person reads it; `sections`
    (already formatted) go between its fields and its state history."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    state = status.get("state") or {}
    infrastructure = status.get("infrastructure") or {}
    result = status.get("result") or {}
    pause = status.get("pause") or {}
    requests = [
        word
        for word, asked in (("cancel", spec.get("cancel")), ("paused", spec.get("paused")))
        if asked
    ]
    fields = [
        ("FlowRun", f"{meta.get('namespace')}/{meta.get('name')} ({meta.get('uid')})"),
        ("Run name", status.get("runName") or "-"),
        ("Flow", status.get("flowName") or "-"),
        (
            "Deployment",
            (spec.get("deploymentRef") or {}).get("name") or spec.get("entrypoint") or "-",
        ),
        ("State", _state_label(state)),
        ("Message", state.get("message") or "-"),
        ("Requested", ", ".join(requests) or "-"),
        ("Parameters", json.dumps(spec.get("parameters") or {}, sort_keys=True)),
        ("Created", meta.get("creationTimestamp") or "-"),
        ("Started", status.get("startTime") or "-"),
        ("Ended", status.get("endTime") or "-"),
        ("Run count", str(status.get("runCount") or 0)),
        ("Infrastructure", _infrastructure_label(infrastructure)),
        ("Logs", infrastructure.get("logPath") or "-"),
        ("Result", _result_label(result)),
    ]
    if pause:
        fields.append(("Pause", _pause_label(pause)))
    width = max(len(label) for label, _ in fields)
    lines = [f"{label.ljust(width)}  {value}" for label, value in fields]
    lines.extend(f"\n{section}" for section in sections)
    history = status.get("stateHistory") or []
    lines.append(f"\nState history ({len(history)}, latest last)")
    if history:
        rows = [
            [str(h.get("timestamp", "")), str(h.get("type", "")), str(h.get("name", "")),
             str(h.get("message") or "").replace("\n", " ")]
            for h in history
        ]  # fmt: skip
        lines.append(_indent(table(["TIME", "TYPE", "NAME", "MESSAGE"], rows)))
    conditions = status.get("conditions") or []
    if conditions:
        rows = [
            [str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason") or ""),
             str(c.get("message") or "").replace("\n", " ")]
            for c in conditions
        ]  # fmt: skip
        lines.append(f"\nConditions ({len(conditions)})")
        lines.append(_indent(table(["TYPE", "STATUS", "REASON", "MESSAGE"], rows)))
    task_runs = status.get("taskRuns") or {}
    counts = {k: v for k, v in (task_runs.get("counts") or {}).items() if v}
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    lines.append(f"\nTask runs ({task_runs.get('total', 0)}{': ' + summary if summary else ''})")
    recent = task_runs.get("recent") or []
    if recent:
        rows = [
            [str(t.get("name", "")), str(t.get("stateName") or t.get("stateType", "")),
             str(t.get("startTime") or ""), str(t.get("endTime") or ""),
             str(t.get("message") or "").replace("\n", " ")]
            for t in recent
        ]  # fmt: skip
        lines.append(f"  most recent {len(recent)}, newest first:")
        lines.append(_indent(table(["NAME", "STATE", "START", "END", "MESSAGE"], rows)))
    return "\n".join(lines)


def _state_label(state: Mapping[str, Any]) -> str:
    if not state:
        return "-"
    kind, name = str(state.get("type", "")), str(state.get("name", ""))
    return kind if name.upper() == kind else f"{kind} ({name})"


def _infrastructure_label(infrastructure: Mapping[str, Any]) -> str:
    if not infrastructure:
        return "-"
    label = str(infrastructure.get("type", ""))
    if infrastructure.get("pid"):
        label += f" {infrastructure['pid']}"
    if "exitCode" in infrastructure:
        label += f", exit code {infrastructure['exitCode']}"
    if infrastructure.get("signal"):
        label += f", killed by {infrastructure['signal']}"
    return label


def _result_label(result: Mapping[str, Any]) -> str:
    if not result:
        return "-"
    if "value" in result:
        return json.dumps(result["value"], sort_keys=True)
    if result.get("reference"):
        return f"{result.get('summary', '')} (stored at {result['reference']})"
    return str(result.get("summary") or "-")


def _pause_label(pause: Mapping[str, Any]) -> str:
    kind = "suspended, restarts on resume" if pause.get("reschedule") else "blocking"
    timeout = pause.get("timeoutTime")
    return f"{kind}; times out at {timeout}" if timeout else kind


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
