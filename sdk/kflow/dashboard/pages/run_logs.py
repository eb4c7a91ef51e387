"""A run's output on the run page and on its own page (/runs/NS/NAME/logs): the last lines,
fetched again every two seconds while the run is not over."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kflow.dashboard.logs import TAIL_LINES, LogTail
from kflow.dashboard.markup import Markup, html
from kflow.dashboard.pages.common import NOTHING, PageView, run_path
from kflow.dashboard.queries import is_terminal

POLL_SECONDS = 2


def logs_block(tail: LogTail) -> Markup:
    source = html('<p class="sub">last $n lines of $s</p>', n=TAIL_LINES, s=tail.source)
    if tail.problem:
        return html(
            '$source<p class="empty">$p</p>',
            source=source if tail.source else NOTHING,
            p=tail.problem,
        )
    if not tail.lines:
        return html('$source<p class="empty">No output yet.</p>', source=source)
    return html('$source<pre class="logs">$l</pre>', source=source, l="\n".join(tail.lines))


def logs_region(run: Mapping[str, Any], tail: LogTail) -> Markup:
    """The logs as a live region of the run page."""
    meta = run.get("metadata") or {}
    return html(
        '<section id="logs"><h2>Logs <a class="sub" href="$url">on their own page</a></h2>'
        '<div data-live="$url" data-topics="$topics" data-poll="$poll">$body</div></section>',
        url=f"{run_path(run)}/logs",
        topics=f"flowruns:{meta.get('namespace')}/{meta.get('name')}",
        poll="" if is_terminal(run) else POLL_SECONDS,
        body=logs_block(tail),
    )


def logs_page(run: Mapping[str, Any], tail: LogTail) -> PageView:
    meta = run.get("metadata") or {}
    name = str(meta.get("name"))
    return PageView(
        title=f"Logs of run {name}",
        live=logs_block(tail),
        topics=(f"flowruns:{meta.get('namespace')}/{name}",),
        before=html('<p><a href="$h">← run $n</a></p>', h=run_path(run), n=name),
        section="runs",
        poll_seconds=None if is_terminal(run) else POLL_SECONDS,
        store_problems=False,
    )
