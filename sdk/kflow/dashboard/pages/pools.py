"""Work pools, when the cluster has the WorkPool kind (DESIGN §2): type, limit, paused, the
operators serving each (status.workers: identity, lastHeartbeatTime) with how many are live,
active and late runs.

Live is judged from each heartbeat's age, as `kflow work-pool ls` does, not read from
`status.liveWorkers`: that count is written by operators, so when every operator of a pool has
died it keeps saying they are there — the one moment this page is opened to find out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from kflow.cluster.workpool_presentation import live_workers, workers
from kflow.dashboard.markup import Markup, html, join
from kflow.dashboard.pages.common import PageView, Scope, banner, table, time_tag
from kflow.dashboard.pages.deployments import ready_label
from kflow.dashboard.queries import DeploymentPools, is_late, pool_of, state_type

ACTIVE = frozenset({"PENDING", "RUNNING", "PAUSED", "CANCELLING"})


def worker_label(worker: Mapping[str, Any], now: datetime) -> Markup:
    name = worker.get("identity") or "worker"
    beat = worker.get("lastHeartbeatTime")
    return html(
        '<span class="worker">$n <span class="sub">heartbeat $t</span></span>',
        n=name,
        t=time_tag(str(beat), now) if beat else "never",
    )


def pools_page(
    pools: Sequence[Mapping[str, Any]],
    runs: Sequence[Mapping[str, Any]],
    scope: Scope,
    now: datetime,
    deployment_pools: DeploymentPools | None = None,
) -> PageView:
    rows = []
    for pool in sorted(
        pools, key=lambda p: (p["metadata"].get("namespace"), p["metadata"]["name"])
    ):
        meta = pool["metadata"]
        spec = pool.get("spec") or {}
        namespace, name = str(meta.get("namespace")), str(meta["name"])
        own = [
            r
            for r in runs
            if pool_of(r, deployment_pools) == name and r["metadata"].get("namespace") == namespace
        ]
        serving = workers(pool)
        live_count = live_workers(pool, now)
        rows.append(
            html(
                '<tr data-pool="$name"><td><a href="$runs">$name</a></td>$ns<td>$type</td>'
                "<td>$limit</td><td>$paused</td><td>$workers</td><td>$active</td>"
                "<td>$late</td><td>$ready</td></tr>",
                name=name,
                runs=f"/runs?pool={name}"
                + (f"&namespace={namespace}" if scope.all_namespaces else ""),
                ns=html("<td>$n</td>", n=namespace) if scope.all_namespaces else "",
                type=spec.get("type") or "—",
                limit=spec.get("concurrencyLimit") or "none",
                paused="paused" if spec.get("paused") else "no",
                workers=workers_cell(serving, live_count, now),
                active=sum(1 for r in own if state_type(r) in ACTIVE),
                late=sum(1 for r in own if is_late(r, now)),
                ready=ready_label(pool),
            )
        )
    headers = ["Pool", *(["Namespace"] if scope.all_namespaces else [])]
    headers += ["Type", "Limit", "Paused", "Workers", "Active runs", "Late runs", "Status"]
    live = table(headers, rows, "No work pools.", css="pools")
    return PageView("Work pools", live, ("workpools", "flowruns"), section="pools")


def workers_cell(serving: Sequence[Mapping[str, Any]], live: int, now: datetime) -> Markup:
    if not serving:
        return html('<span class="not-ready">no workers</span>')
    listed = join((worker_label(w, now) for w in serving), Markup("<br>"))
    count = html('<span class="$css">$n live</span>', css="" if live else "not-ready", n=live)
    return join((count, listed), Markup("<br>"))


def no_pools_page() -> PageView:
    message = (
        "This cluster has no WorkPool kind (kflow.dev/v1alpha1 workpools): work pools show "
        "here once its CRD is installed and the dashboard restarted."
    )
    return PageView("Work pools", banner(message, "notice"), (), status=404, section="pools")


def pools_without_workers(
    pools: Sequence[Mapping[str, Any]], now: datetime
) -> list[Mapping[str, Any]]:
    """Pools no worker has sent a heartbeat to within the timeout."""
    return [p for p in pools if live_workers(p, now) == 0]
