"""The runs page: newest first, filtered by state, Deployment and tag, counted by state, one
page of 50 at a time. Only the page shown is rendered, whatever the number of runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from kflow.dashboard.markup import Markup, html, join, query_string
from kflow.dashboard.pages.chart import buckets, chart
from kflow.dashboard.pages.common import (
    NOTHING,
    PageView,
    Scope,
    between,
    deployment_path,
    run_badge,
    run_path,
    table,
    time_tag,
)
from kflow.dashboard.queries import (
    NO_STATE,
    Page,
    RunFilter,
    deployment_of,
    select_runs,
    tags_of,
)

DEFAULT_CHART_SPAN = timedelta(hours=24)
PERIODS = ("", "1h", "24h", "7d", "30d")


def runs_page(
    runs: Sequence[Mapping[str, Any]],
    deployments: Sequence[str],
    run_filter: RunFilter,
    number: int,
    scope: Scope,
    now: datetime,
) -> PageView:
    page, counts = select_runs(runs, run_filter, number)
    span = now - run_filter.created_after if run_filter.created_after else DEFAULT_CHART_SPAN
    broad = (r for r in runs if run_filter.without_states().matches(r))
    live = join(
        [
            chart(buckets(broad, now, span), now, span),
            state_chips(counts, run_filter),
            run_table(page.items, scope, now),
            pager(page, run_filter),
        ]
    )
    return PageView(
        title="Runs",
        live=live,
        topics=("flowruns",),
        before=filter_form(run_filter, deployments),
        section="runs",
    )


def state_chips(counts: Mapping[str, int], run_filter: RunFilter) -> Markup:
    """One link per state with its count; the chosen states are marked, "all" clears them."""
    chips = [
        html(
            '<a href="$href" class="chip $current">all <b>$n</b></a>',
            href="/runs" + query_string({**run_filter.query(), "state": ""}),
            current="current" if not run_filter.states else "",
            n=sum(counts.values()),
        )
    ]
    for state, count in counts.items():
        chips.append(
            html(
                '<a href="$href" class="chip state-$cls $current" data-count-state="$state">'
                "$label <b>$n</b></a>",
                href="/runs" + query_string({**run_filter.query(), "state": state}),
                cls=state.lower(),
                current="current" if state in run_filter.states else "",
                state=state,
                label="no state" if state == NO_STATE else state.lower(),
                n=count,
            )
        )
    return html('<nav class="chips" aria-label="states">$chips</nav>', chips=join(chips))


def run_row(run: Mapping[str, Any], scope: Scope, now: datetime) -> Markup:
    meta = run.get("metadata") or {}
    status = run.get("status") or {}
    task_runs = status.get("taskRuns") or {}
    total = task_runs.get("total")
    done = (task_runs.get("counts") or {}).get("COMPLETED", 0)
    deployment = deployment_of(run)
    namespace = str(meta.get("namespace") or "")
    return html(
        '<tr data-run="$name"><td><a href="$href">$name</a><div class="sub">$sub</div></td>'
        '<td class="state-cell">$state</td><td>$deployment</td>$ns_cell<td>$tasks</td>'
        "<td>$created</td><td>$duration</td><td>$tags</td></tr>",
        name=meta.get("name"),
        href=run_path(run),
        sub=status.get("runName") or due(run, now),
        state=run_badge(run),
        deployment=html(
            '<a href="$h">$d</a>', h=deployment_path(namespace, deployment), d=deployment
        )
        if deployment
        else "—",
        ns_cell=html("<td>$ns</td>", ns=namespace) if scope.all_namespaces else "",
        tasks="" if total is None else f"{done}/{total}",
        created=time_tag(meta.get("creationTimestamp"), now),
        duration=between(status.get("startTime"), status.get("endTime")),
        tags=join((html('<span class="tag">$t</span>', t=t) for t in tags_of(run)), " "),
    )


def due(run: Mapping[str, Any], now: datetime) -> Markup:
    """When a run that has not started is due, if it has a time set."""
    scheduled = (run.get("spec") or {}).get("scheduledTime")
    if not scheduled or status_started(run):
        return NOTHING
    return html("due $t", t=time_tag(str(scheduled), now))


def status_started(run: Mapping[str, Any]) -> bool:
    return bool((run.get("status") or {}).get("startTime"))


def run_table(
    runs: Sequence[Mapping[str, Any]], scope: Scope, now: datetime, empty: str = "No runs match."
) -> Markup:
    headers = ["Run", "State", "Deployment"]
    if scope.all_namespaces:
        headers.append("Namespace")
    headers += ["Tasks", "Created", "Duration", "Tags"]
    return table(headers, (run_row(r, scope, now) for r in runs), empty, css="runs")


def pager(page: Page, run_filter: RunFilter) -> Markup:
    if page.total == 0:
        return Markup("")

    def link(number: int, label: str, rel: str) -> Markup:
        href = "/runs" + query_string({**run_filter.query(), "page": number})
        return html('<a href="$href" rel="$rel">$label</a>', href=href, rel=rel, label=label)

    last = page.first_index + len(page.items) - 1
    return html(
        '<nav class="pager">$prev <span>runs $first–$last of $total · page $n of $pages</span> '
        "$next</nav>",
        prev=link(page.number - 1, "← newer", "prev") if page.has_previous else "",
        next=link(page.number + 1, "older →", "next") if page.has_next else "",
        first=page.first_index,
        last=last,
        total=page.total,
        n=page.number,
        pages=page.pages,
    )


def filter_form(run_filter: RunFilter, deployments: Sequence[str]) -> Markup:
    """Deployment and tag filters (a GET form, so the filtered page is a plain URL)."""
    options = join(
        html(
            '<option value="$d" $selected>$d</option>',
            d=d,
            selected="selected" if d == run_filter.deployment else "",
        )
        for d in deployments
    )
    return html(
        '<form class="filters" method="get" action="/runs">'
        '<input type="hidden" name="state" value="$state">'
        '<label>Deployment <select name="deployment"><option value="">any</option>$options'
        "</select></label>"
        '<label>Tag <input name="tag" value="$tag" size="12"></label>'
        '<label>Created <select name="since">$periods</select></label>'
        '<button type="submit">Filter</button></form>',
        state=",".join(sorted(run_filter.states)),
        options=options,
        tag=run_filter.tag,
        periods=join(
            html(
                '<option value="$p" $selected>$label</option>',
                p=period,
                selected="selected" if period == run_filter.since else "",
                label=f"in the last {period}" if period else "any time",
            )
            for period in (
                *PERIODS,
                *([run_filter.since] if run_filter.since not in PERIODS else []),
            )
        ),
    )
