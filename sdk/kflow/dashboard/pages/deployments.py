"""The Deployments list and a Deployment's page: schedules in words, paused, concurrency,
readiness, the last runs as a strip of states, upcoming runs; pause/unpause and run now."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from kflow.dashboard.markup import Markup, html, join
from kflow.dashboard.pages.common import (
    NOTHING,
    PageView,
    Scope,
    action_button,
    banner,
    definition_list,
    deployment_path,
    exact_time,
    run_path,
    table,
    time_tag,
)
from kflow.dashboard.pages.run_form import run_form
from kflow.dashboard.pages.runs import run_table
from kflow.dashboard.parameter_form import FormField
from kflow.dashboard.queries import deployment_of, newest_first, state_name, state_type
from kflow.dashboard.schedule_words import describe_schedule
from kflow.resources.common import parse_timestamp

STRIP_LENGTH = 20
RECENT_RUNS = 20


def runs_by_deployment(runs: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Any]]:
    """(namespace, Deployment) → its runs, newest first."""
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for run in newest_first(runs):
        deployment = deployment_of(run)
        if deployment:
            grouped[(str(run["metadata"].get("namespace")), deployment)].append(run)
    return grouped


def strip(runs: Sequence[Mapping[str, Any]], now: datetime) -> Markup:
    """The last runs' states, oldest to newest, each a link to its run (runs scheduled for
    later are not among them)."""
    runs = [r for r in runs if not _upcoming(r, now)]
    cells = [
        html(
            '<a href="$h" class="state-$cls" data-state="$t" title="$title"></a>',
            h=run_path(r),
            cls=state_type(r).lower(),
            t=state_type(r),
            title=f"{r['metadata']['name']}: {state_name(r)}",
        )
        for r in reversed(runs[:STRIP_LENGTH])
    ]
    return html('<span class="strip">$c</span>', c=join(cells)) if cells else NOTHING


def schedules(spec: Mapping[str, Any]) -> Markup:
    items = spec.get("schedules") or []
    if not items:
        return html('<span class="hint">no schedule</span>')
    return join(
        (
            html(
                '<span class="schedule" title="$raw">$words</span>',
                raw=_raw(s),
                words=describe_schedule(s),
            )
            for s in items
        ),
        Markup("<br>"),
    )


def _raw(schedule: Mapping[str, Any]) -> str:
    if schedule.get("interval") is not None:
        return f"interval {schedule['interval']}s"
    return f"cron {schedule.get('cron')} {schedule.get('timezone') or 'UTC'}"


def concurrency(spec: Mapping[str, Any]) -> str:
    policy = str(spec.get("concurrencyPolicy") or "Allow")
    limit = spec.get("concurrencyLimit")
    return f"{policy}, at most {limit} at once" if limit else policy


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return entry  # type: ignore[no-any-return]
    return None


def ready_label(deployment: Mapping[str, Any]) -> Markup:
    ready = condition(deployment, "Ready")
    if ready is None:
        return html('<span class="hint">not reconciled yet</span>')
    if ready.get("status") == "True":
        return html('<span class="ready">Ready</span>')
    return html(
        '<span class="not-ready" title="$m">Not ready: $r</span>',
        m=ready.get("message") or "",
        r=ready.get("reason") or "",
    )


def pause_button(deployment: Mapping[str, Any], scope: Scope) -> Markup:
    meta = deployment["metadata"]
    path = deployment_path(str(meta.get("namespace")), str(meta.get("name")))
    if (deployment.get("spec") or {}).get("paused"):
        return action_button(scope, f"{path}/unpause", "Unpause")
    return action_button(scope, f"{path}/pause", "Pause", "secondary")


def deployments_page(
    deployments: Sequence[Mapping[str, Any]],
    runs: Iterable[Mapping[str, Any]],
    scope: Scope,
    now: datetime,
) -> PageView:
    grouped = runs_by_deployment(runs)
    rows = []
    for deployment in sorted(
        deployments, key=lambda d: (d["metadata"].get("namespace"), d["metadata"]["name"])
    ):
        meta = deployment["metadata"]
        spec = deployment.get("spec") or {}
        namespace, name = str(meta.get("namespace")), str(meta["name"])
        rows.append(
            html(
                '<tr data-deployment="$name"><td><a href="$h">$name</a></td>$ns<td>$schedules'
                "$paused</td><td>$next</td><td>$concurrency</td><td>$ready</td><td>$strip</td>"
                "<td>$action</td></tr>",
                name=name,
                h=deployment_path(namespace, name),
                ns=html("<td>$n</td>", n=namespace) if scope.all_namespaces else NOTHING,
                schedules=schedules(spec),
                paused=html(' <span class="paused">paused</span>')
                if spec.get("paused")
                else NOTHING,
                next=time_tag((deployment.get("status") or {}).get("nextScheduleTime"), now),
                concurrency=concurrency(spec),
                ready=ready_label(deployment),
                strip=strip(grouped.get((namespace, name), []), now),
                action=pause_button(deployment, scope),
            )
        )
    headers = ["Deployment", *(["Namespace"] if scope.all_namespaces else [])]
    headers += ["Schedule", "Next run", "Concurrency", "Status", "Last runs", ""]
    live = table(headers, rows, "No Deployments.", css="deployments")
    return PageView("Deployments", live, ("deployments", "flowruns"), section="deployments")


def deployment_page(
    deployment: Mapping[str, Any],
    runs: Iterable[Mapping[str, Any]],
    fields: Sequence[FormField],
    problems: Mapping[str, str],
    scope: Scope,
    now: datetime,
    problem: str | None = None,
    status: int = 200,
) -> PageView:
    meta = deployment["metadata"]
    spec = deployment.get("spec") or {}
    namespace, name = str(meta.get("namespace")), str(meta["name"])
    own = runs_by_deployment(runs).get((namespace, name), [])
    upcoming = [r for r in own if _upcoming(r, now)]
    past = [r for r in own if not _upcoming(r, now)]
    live = join(
        [
            html(
                '<section class="summary"><p>$ready $paused</p>$description'
                '<div class="actions">$action</div></section>',
                ready=ready_label(deployment),
                paused=html('<span class="paused">paused</span>') if spec.get("paused") else "",
                description=html("<p>$d</p>", d=spec["description"])
                if spec.get("description")
                else NOTHING,
                action=pause_button(deployment, scope),
            ),
            html(
                '<section class="panel overview">$d</section>',
                d=definition_list(_details(deployment, now)),
            ),
            html("<h2>Upcoming runs</h2>$t", t=run_table(upcoming[::-1], scope, now))
            if upcoming
            else NOTHING,
            html("<h2>Recent runs $s</h2>", s=strip(past, now)),
            run_table(past[:RECENT_RUNS], scope, now, "No runs yet."),
            html('<p><a href="/runs?deployment=$d">All runs of $d</a></p>', d=name),
        ]
    )
    return PageView(
        title=f"Deployment {name}",
        live=live,
        topics=(f"deployments:{namespace}/{name}", "flowruns"),
        before=banner(problem) if problem else NOTHING,
        after=run_form(namespace, name, fields, problems, scope),
        status=status,
        section="deployments",
    )


def _upcoming(run: Mapping[str, Any], now: datetime) -> bool:
    scheduled = (run.get("spec") or {}).get("scheduledTime")
    return (
        state_type(run) == "SCHEDULED" and bool(scheduled) and parse_timestamp(str(scheduled)) > now
    )


def _seconds(value: object, otherwise: str) -> str:
    return f"{value}s" if value is not None else otherwise


def _details(deployment: Mapping[str, Any], now: datetime) -> list[tuple[str, object]]:
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    infrastructure = spec.get("infrastructure") or {}
    where = (infrastructure.get("type"), infrastructure.get("image"))
    kept = (spec.get("successfulRunsHistoryLimit", 10), spec.get("failedRunsHistoryLimit", 10))
    items: list[tuple[str, object]] = [
        ("Entrypoint", spec.get("entrypoint") or "—"),
        ("Infrastructure", " ".join(str(v) for v in where if v) or "—"),
        ("Schedules", schedules(spec)),
        ("Next run", time_tag(status.get("nextScheduleTime"), now)),
        ("Last scheduled", exact_time(status.get("lastScheduleTime"))),
        ("Concurrency", concurrency(spec)),
        ("Catch-up", f"{spec.get('catchup', 'Latest')}, at most {spec.get('catchupLimit', 10)}"),
        ("Starting deadline", _seconds(spec.get("startingDeadlineSeconds"), "none")),
        ("Cancel grace period", _seconds(spec.get("cancelGracePeriodSeconds"), "operator's")),
        ("Runs kept", f"{kept[0]} successful, {kept[1]} failed"),
        ("Active runs", ", ".join(status.get("activeRuns") or []) or "none"),
        ("Last success", exact_time(status.get("lastSuccessfulTime"))),
    ]
    if spec.get("tags"):
        items.append(("Tags", ", ".join(str(t) for t in spec["tags"])))
    for kind in ("Ready", "Scheduling"):
        entry = condition(deployment, kind)
        if entry is not None:
            reason, message = entry.get("reason") or "", entry.get("message") or ""
            items.append((kind, f"{entry.get('status')} {reason}: {message}"))
    return items


def missing_deployment_page(namespace: str, name: str) -> PageView:
    message = (
        f"Deployment {name} is not in namespace {namespace}, or not visible with your credentials."
    )
    return PageView(
        title=f"Deployment {name}",
        live=banner(message),
        topics=(f"deployments:{namespace}/{name}",),
        status=404,
        section="deployments",
    )
