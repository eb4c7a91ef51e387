"""The run page: a FlowRun's state, its timeline with durations, parameters, result, task runs,
related runs, where it runs, its Kubernetes Events, and the actions it allows now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from kflow.dashboard.changes import RETRY_OF
from kflow.dashboard.markup import Markup, html, join
from kflow.dashboard.pages.common import (
    NOTHING,
    PageView,
    Scope,
    action_button,
    badge,
    banner,
    between,
    definition_list,
    deployment_path,
    exact_time,
    run_badge,
    run_path,
    table,
    time_tag,
)
from kflow.dashboard.pages.run_parts import (
    cancellation_steps,
    events_table,
    parameters_table,
    result_block,
    task_runs_block,
)
from kflow.dashboard.queries import deployment_of, is_terminal, newest_first, state_type
from kflow.resources.common import format_timestamp
from kflow.states import StateType


def run_page(
    run: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    children: Sequence[Mapping[str, Any]],
    events: tuple[Sequence[Mapping[str, Any]], str | None] | None,
    scope: Scope,
    now: datetime,
    problem: str | None = None,
    status: int = 200,
) -> PageView:
    meta = run.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    topics = [f"flowruns:{namespace}/{name}"]
    topics += [f"flowruns:{namespace}/{c['metadata']['name']}" for c in children]
    live = join(
        [
            summary(run, scope, now),
            overview(run, children),
            timeline(run, now),
            cancellation_steps(run),
            html("<section><h2>Parameters</h2>$p</section>", p=parameters_table(run, deployment)),
            html('<section class="result"><h2>Result</h2>$r</section>', r=result_block(run)),
            task_runs_block(run, now),
            events_table(*events) if events is not None else NOTHING,
        ]
    )
    return PageView(
        title=f"Run {name}",
        live=live,
        topics=tuple(topics),
        before=banner(problem) if problem else NOTHING,
        status=status,
        section="runs",
    )


def summary(run: Mapping[str, Any], scope: Scope, now: datetime) -> Markup:
    status = run.get("status") or {}
    state = status.get("state") or {}
    message = state.get("message")
    return html(
        '<section class="summary"><p class="run-state">$badge <span class="since">since $since'
        '</span></p>$message<div class="actions">$actions</div></section>',
        badge=run_badge(run),
        since=time_tag(state.get("timestamp"), now),
        message=html('<p class="state-message">$m</p>', m=message) if message else NOTHING,
        actions=actions(run, scope),
    )


def actions(run: Mapping[str, Any], scope: Scope) -> Markup:
    """The buttons this run's state allows; whether the person may use them is the API
    server's call when they do."""
    spec = run.get("spec") or {}
    path = run_path(run)
    kind = state_type(run)
    buttons = []
    if not is_terminal(run) and not spec.get("cancel"):
        buttons.append(action_button(scope, f"{path}/cancel", "Cancel", "danger"))
    if kind == StateType.PAUSED.value or spec.get("paused"):
        buttons.append(action_button(scope, f"{path}/resume", "Resume"))
    if is_terminal(run) and (spec.get("deploymentRef") or spec.get("entrypoint")):
        buttons.append(action_button(scope, f"{path}/retry", "Retry", "secondary"))
    if spec.get("cancel") and not is_terminal(run):
        buttons.append(html('<span class="hint">cancellation requested</span>'))
    return join(buttons)


def overview(run: Mapping[str, Any], children: Sequence[Mapping[str, Any]]) -> Markup:
    meta = run.get("metadata") or {}
    spec = run.get("spec") or {}
    status = run.get("status") or {}
    namespace = str(meta.get("namespace"))
    deployment = deployment_of(run)
    parent = (spec.get("parentRef") or {}).get("name")
    retry_of = (meta.get("annotations") or {}).get(RETRY_OF)
    items: list[tuple[str, object]] = [
        ("Run name", status.get("runName") or "—"),
        ("Flow", status.get("flowName") or "—"),
        (
            "Deployment",
            html('<a href="$h">$d</a>', h=deployment_path(namespace, deployment), d=deployment)
            if deployment
            else spec.get("entrypoint") or "—",
        ),
        ("FlowRun", f"{namespace}/{meta.get('name')}"),
        ("Created", exact_time(meta.get("creationTimestamp"))),
        ("Scheduled", exact_time(spec.get("scheduledTime"))),
        ("Started", exact_time(status.get("startTime"))),
        ("Ended", exact_time(status.get("endTime"))),
        ("Duration", between(status.get("startTime"), status.get("endTime")) or "—"),
        ("Run count", status.get("runCount") or 0),
        ("Infrastructure", infrastructure_label(status.get("infrastructure") or {})),
    ]
    if status.get("infrastructure", {}).get("logPath"):
        items.append(("Log file", status["infrastructure"]["logPath"]))
    if spec.get("tags"):
        items.append(("Tags", ", ".join(str(t) for t in spec["tags"])))
    if parent:
        items.append(("Parent run", _run_link(namespace, str(parent))))
    if retry_of:
        items.append(("Retry of", _run_link(namespace, str(retry_of))))
    if children:
        links = join((_run_link(namespace, c["metadata"]["name"], c) for c in children), " ")
        items.append(("Subflow runs", links))
    pause = status.get("pause") or {}
    if pause:
        kind = "suspended (restarts on resume)" if pause.get("reschedule") else "blocking"
        timeout = pause.get("timeoutTime")
        items.append(("Pause", f"{kind}; times out at {timeout}" if timeout else kind))
    return html('<section class="panel overview">$d</section>', d=definition_list(items))


def _run_link(namespace: str, name: str, run: Mapping[str, Any] | None = None) -> Markup:
    target = {"metadata": {"namespace": namespace, "name": name}}
    return html(
        '<a href="$h" class="run-link">$n</a>$b',
        h=run_path(target),
        n=name,
        b=html(" $b", b=run_badge(run)) if run is not None else NOTHING,
    )


def infrastructure_label(infrastructure: Mapping[str, Any]) -> str:
    if not infrastructure:
        return "—"
    label = str(infrastructure.get("type", ""))
    if infrastructure.get("pid"):
        label += f" {infrastructure['pid']}"
    if infrastructure.get("exitCode") is not None:
        label += f", exit code {infrastructure['exitCode']}"
    if infrastructure.get("signal"):
        label += f", killed by {infrastructure['signal']}"
    return label


def timeline(run: Mapping[str, Any], now: datetime) -> Markup:
    """stateHistory, oldest first, each with how long the run stayed in it."""
    history = (run.get("status") or {}).get("stateHistory") or []
    rows = []
    for index, entry in enumerate(history):
        following = history[index + 1]["timestamp"] if index + 1 < len(history) else None
        if following is None and not is_terminal(run):
            following = format_timestamp(now, timespec="seconds")
        took = between(entry.get("timestamp"), following) if following else ""
        rows.append(
            html(
                '<tr data-state="$type"><td>$time</td><td class="state-cell">$badge</td>'
                '<td class="took">$took</td><td class="message">$message</td></tr>',
                type=entry.get("type"),
                time=exact_time(entry.get("timestamp")),
                took=took,
                badge=badge(str(entry.get("type")), str(entry.get("name") or "")),
                message=entry.get("message") or "",
            )
        )
    return html(
        "<section><h2>State timeline</h2>$t</section>",
        t=table(["Entered", "State", "For", "Message"], rows, "No states yet.", css="timeline"),
    )


def children_of(runs: Sequence[Mapping[str, Any]], namespace: str, name: str) -> list[Any]:
    """Subflow runs: FlowRuns of the namespace whose parentRef names this run, newest first."""
    return newest_first(
        r
        for r in runs
        if (r.get("metadata") or {}).get("namespace") == namespace
        and ((r.get("spec") or {}).get("parentRef") or {}).get("name") == name
    )


def missing_run_page(namespace: str, name: str, scope: Scope) -> PageView:
    message = (
        f"FlowRun {name} is not in namespace {namespace}, or not visible with your "
        "credentials (it may have been deleted)."
    )
    return PageView(
        title=f"Run {name}",
        live=join([banner(message), html('<p><a href="/runs">All runs</a></p>')]),
        topics=(f"flowruns:{namespace}/{name}",),
        status=404,
        section="runs",
    )
