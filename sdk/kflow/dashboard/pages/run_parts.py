"""Sections of the run page that read one part of a FlowRun each: parameters, result, task
runs, cancellation steps, and the Kubernetes Events of the run (and of its Job and pods)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from kflow.dashboard.markup import Markup, html, join
from kflow.dashboard.pages.common import (
    NOTHING,
    badge,
    banner,
    between,
    definition_list,
    exact_time,
    table,
    time_tag,
)

CANCELLATION_STEPS = (
    ("requestedTime", "cancel requested"),
    ("stopTime", "asked to stop (SIGTERM, docker stop, Job deleted)"),
    ("killDeadline", "killed if still there at"),
    ("killTime", "killed (SIGKILL, container kill, pods force-deleted)"),
    ("goneTime", "infrastructure gone"),
)


def json_block(value: Any) -> Markup:
    return html("<pre>$v</pre>", v=json.dumps(value, indent=2, sort_keys=True))


def parameters_table(run: Mapping[str, Any], deployment: Mapping[str, Any] | None) -> Markup:
    """The parameters the run gets: its own, over its Deployment's defaults, each marked with
    where it comes from."""
    own = (run.get("spec") or {}).get("parameters") or {}
    defaults = ((deployment or {}).get("spec") or {}).get("parameters") or {}
    rows = [
        html(
            '<tr data-parameter="$k"><td>$k</td><td>$v</td><td>$origin</td></tr>',
            k=key,
            v=json_block(own[key] if key in own else defaults[key]),
            origin="this run" if key in own else "Deployment default",
        )
        for key in sorted({*own, *defaults})
    ]
    return table(["Name", "Value", "From"], rows, "No parameters.", css="parameters")


def result_block(run: Mapping[str, Any]) -> Markup:
    result = (run.get("status") or {}).get("result") or {}
    if not result:
        return html('<p class="empty">No result yet.</p>')
    parts = []
    if "value" in result:
        parts.append(json_block(result["value"]))
    elif result.get("summary"):
        parts.append(html("<pre>$s</pre>", s=result["summary"]))
    if result.get("reference"):
        parts.append(html('<p class="sub">stored at $r</p>', r=result["reference"]))
    return join(parts)


def task_runs_block(run: Mapping[str, Any], now: datetime) -> Markup:
    task_runs = (run.get("status") or {}).get("taskRuns") or {}
    counts = {state: n for state, n in (task_runs.get("counts") or {}).items() if n}
    count_badges = join(
        (html('<span class="count">$b $n</span>', b=badge(s), n=n) for s, n in counts.items()), " "
    )
    recent = task_runs.get("recent") or []
    rows = [
        html(
            "<tr><td>$name</td><td>$state</td><td>$count</td><td>$start</td><td>$took</td>"
            '<td class="message">$message</td></tr>',
            name=t.get("name"),
            state=badge(str(t.get("stateType")), str(t.get("stateName") or "")),
            count=t.get("runCount") or "",
            start=time_tag(t.get("startTime"), now),
            took=between(t.get("startTime"), t.get("endTime")),
            message=t.get("message") or "",
        )
        for t in recent
    ]
    return html(
        '<section><h2>Task runs <span class="sub">$total in all</span></h2>'
        '<div class="counts">$counts</div>$recent</section>',
        total=task_runs.get("total", 0),
        counts=count_badges,
        recent=table(
            ["Task run", "State", "Runs", "Started", "Took", "Message"],
            rows,
            "No task runs reported.",
            css="task-runs",
        ),
    )


def cancellation_steps(run: Mapping[str, Any]) -> Markup:
    """The steps of an enforced cancellation with their times (DESIGN §5a)."""
    cancellation = (run.get("status") or {}).get("cancellation") or {}
    items: list[tuple[str, object]] = [
        (label, exact_time(cancellation[key]))
        for key, label in CANCELLATION_STEPS
        if cancellation.get(key)
    ]
    if not items:
        return NOTHING
    grace = cancellation.get("gracePeriodSeconds")
    if grace is not None:
        items.insert(1, ("grace period", f"{grace}s"))
    return html("<section><h2>Cancellation</h2>$d</section>", d=definition_list(items))


def events_table(events: Sequence[Mapping[str, Any]], problem: str | None) -> Markup:
    rows = [
        html(
            '<tr class="event-$type"><td class="nowrap">$time</td><td>$type</td><td>$reason$count'
            '</td><td>$object</td><td class="message">$message</td></tr>',
            time=exact_time(e.get("lastTimestamp") or e.get("eventTime")),
            type=e.get("type") or "",
            reason=e.get("reason") or "",
            object=_involved(e),
            message=e.get("message") or e.get("note") or "",
            count=f" ×{e['count']}" if (e.get("count") or 0) > 1 else "",
        )
        for e in events
    ]
    return html(
        "<section><h2>Kubernetes Events</h2>$problem$table</section>",
        problem=banner(f"Some Events could not be read: {problem}") if problem else NOTHING,
        table=table(
            ["Time", "Type", "Reason", "Object", "Message"],
            rows,
            "No Events (the API server keeps them for an hour).",
            css="events",
        ),
    )


def _involved(event: Mapping[str, Any]) -> str:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    return f"{involved.get('kind', '')}/{involved.get('name', '')}"
