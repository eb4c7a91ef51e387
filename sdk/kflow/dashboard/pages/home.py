"""Home: what needs attention now. Runs that failed or crashed in the last 24 hours, runs that
are late, Deployments that are not Ready; and how many runs are active."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from kflow.dashboard.markup import Markup, html, join
from kflow.dashboard.pages.common import NOTHING, PageView, Scope, deployment_path, table, time_tag
from kflow.dashboard.pages.deployments import condition
from kflow.dashboard.pages.pools import pools_without_workers
from kflow.dashboard.pages.runs import run_table
from kflow.dashboard.queries import (
    count_by_state,
    failed_since,
    is_late,
    latest_state_first,
    newest_first,
)

RECENT = timedelta(hours=24)
SHOWN = 20
"""Rows per section; the runs page (linked) has them all."""


def home_page(
    runs: Sequence[Mapping[str, Any]],
    deployments: Sequence[Mapping[str, Any]],
    scope: Scope,
    now: datetime,
    pools: Sequence[Mapping[str, Any]] | None = None,
) -> PageView:
    """`pools` is None where the cluster has no WorkPool kind (the section is left out)."""
    failed = latest_state_first(r for r in runs if failed_since(r, now - RECENT))
    late = newest_first(r for r in runs if is_late(r, now))
    not_ready = [d for d in deployments if (condition(d, "Ready") or {}).get("status") == "False"]
    counts = count_by_state(runs)
    active = {s: counts[s] for s in ("RUNNING", "PENDING", "PAUSED", "CANCELLING") if counts[s]}
    live = join(
        [
            html(
                '<p class="counts" data-active="$n">$summary</p>',
                n=sum(active.values()),
                summary=", ".join(f"{n} {s.lower()}" for s, n in active.items())
                or "No run is active.",
            ),
            section(
                "failed",
                "Failed and crashed in the last 24 hours",
                "/runs?state=FAILED,CRASHED",
                run_table(failed[:SHOWN], scope, now, "None."),
                len(failed),
            ),
            section(
                "late",
                "Late runs",
                "/runs?state=SCHEDULED",
                run_table(late[:SHOWN], scope, now, "None."),
                len(late),
            ),
            section(
                "not-ready",
                "Deployments not Ready",
                "/deployments",
                not_ready_table(not_ready, now),
                len(not_ready),
            ),
            idle_pools_section(pools, now) if pools is not None else NOTHING,
        ]
    )
    topics = ("flowruns", "deployments", *(("workpools",) if pools is not None else ()))
    return PageView("Needs attention", live, topics, section="home")


def idle_pools_section(pools: Sequence[Mapping[str, Any]], now: datetime) -> Markup:
    idle = pools_without_workers(pools, now)
    rows = [
        html(
            '<tr data-pool="$n"><td>$n</td><td>$ns</td><td>$type</td></tr>',
            n=p["metadata"]["name"],
            ns=p["metadata"].get("namespace"),
            type=(p.get("spec") or {}).get("type") or "",
        )
        for p in idle
    ]
    body = table(["Pool", "Namespace", "Type"], rows, "None.", css="idle-pools")
    return section("idle-pools", "Work pools without workers", "/workpools", body, len(idle))


def section(key: str, title: str, more: str, body: Markup, count: int) -> Markup:
    link = html('<a href="$h">all $n</a>', h=more, n=count) if count > SHOWN else NOTHING
    return html(
        '<section id="$key" data-count="$count"><h2>$title <span class="sub">$count</span> '
        "$link</h2>$body</section>",
        key=key,
        count=count,
        title=title,
        link=link,
        body=body,
    )


def not_ready_table(deployments: Sequence[Mapping[str, Any]], now: datetime) -> Markup:
    rows = []
    for deployment in deployments:
        meta = deployment["metadata"]
        ready = condition(deployment, "Ready") or {}
        rows.append(
            html(
                '<tr data-deployment="$name"><td><a href="$h">$name</a></td><td>$ns</td>'
                '<td>$reason</td><td class="message">$message</td><td>$since</td></tr>',
                name=meta["name"],
                h=deployment_path(str(meta.get("namespace")), str(meta["name"])),
                ns=meta.get("namespace"),
                reason=ready.get("reason") or "",
                message=ready.get("message") or "",
                since=time_tag(ready.get("lastTransitionTime"), now),
            )
        )
    headers = ["Deployment", "Namespace", "Reason", "Message", "Since"]
    return table(headers, rows, "None.", css="unready")
