"""What every page is made of: the view a page handler returns, and the small pieces (a state
badge, a time, a duration, a link to a run) pages share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from kflow.dashboard.markup import Markup, html, join
from kflow.dashboard.queries import NO_STATE, state_name, state_type
from kflow.resources.common import parse_timestamp

NOTHING = Markup("")


@dataclass(frozen=True)
class PageView:
    title: str
    live: Markup
    """What the browser fetches again (`?fragment=live`) when one of `topics` changes."""
    topics: tuple[str, ...]
    """`flowruns`, `deployments`, or one object: `flowruns:NAMESPACE/NAME`."""
    before: Markup = NOTHING
    after: Markup = NOTHING
    status: int = 200
    section: str = ""
    """The navigation entry to highlight."""
    url: str = ""
    """The page's own address when it answers another one (an action's POST)."""
    poll_seconds: int | None = None
    """Fetch the live region again this often too (output that no watch announces)."""
    store_problems: bool = True
    """Whether the live region starts with the watches' problems (once per page)."""


@dataclass(frozen=True)
class Scope:
    """Where the dashboard looks and how it may act, fixed when it starts."""

    namespace: str | None
    context: str
    server: str
    csrf_token: str
    errors: Mapping[str, str | None] = field(default_factory=dict)
    loading: tuple[str, ...] = ()
    """Kinds whose first list has not arrived yet."""
    person: str | None = None
    """Who signed in, when the dashboard asks (`--auth token`)."""
    pools: bool = False
    """Whether the cluster has work pools (the WorkPool CRD) to show."""

    @property
    def all_namespaces(self) -> bool:
        return self.namespace is None


def run_path(run: Mapping[str, Any]) -> str:
    meta = run.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    return f"/runs/{quote(namespace, safe='')}/{quote(name, safe='')}"


def deployment_path(namespace: str, name: str) -> str:
    return f"/deployments/{quote(namespace, safe='')}/{quote(name, safe='')}"


def badge(kind: str, name: str = "") -> Markup:
    """A run's state as a coloured label: the type, and the name when it says more."""
    label = kind if not name or name.upper() == kind else f"{kind} · {name}"
    if kind == NO_STATE:
        label = "no state yet"
    return html(
        '<span class="state state-$cls" data-state="$kind">$label</span>',
        cls=kind.lower(),
        kind=kind,
        label=label,
    )


def run_badge(run: Mapping[str, Any]) -> Markup:
    return badge(state_type(run), state_name(run))


def time_tag(stamp: str | None, now: datetime) -> Markup:
    """A time as "3m ago" (or "in 5m"), with the exact UTC time on hover."""
    if not stamp:
        return Markup("—")
    moment = parse_timestamp(stamp)
    delta = now - moment
    words = (
        f"{short_duration(delta)} ago" if delta >= timedelta(0) else f"in {short_duration(-delta)}"
    )
    return html('<time datetime="$iso" title="$iso">$words</time>', iso=stamp, words=words)


def exact_time(stamp: str | None) -> Markup:
    """A resource's time to the second, in UTC, with the exact value on hover."""
    if not stamp:
        return Markup("—")
    shown = parse_timestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")
    return html('<time datetime="$iso" title="$iso">$shown</time>', iso=stamp, shown=shown)


def short_duration(span: timedelta) -> str:
    """`0.4s`, `42s`, `5m 3s`, `3h 12m`, `2d 4h`: at most two adjacent units, tenths of a
    second under ten seconds (runs and tasks often take less than one)."""
    if span.total_seconds() < 10:
        return f"{max(0.0, span.total_seconds()):.1f}s".replace(".0s", "s")
    seconds = int(span.total_seconds())
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        elif parts:
            break
        if len(parts) == 2:
            break
    return " ".join(parts) or "0s"


def between(start: str | None, end: str | None) -> str:
    if not start or not end:
        return ""
    return short_duration(parse_timestamp(end) - parse_timestamp(start))


def table(headers: Iterable[str], rows: Iterable[Markup], empty: str, css: str = "") -> Markup:
    rows = list(rows)
    if not rows:
        return html('<p class="empty">$empty</p>', empty=empty)
    head = join(html("<th>$h</th>", h=h) for h in headers)
    return html(
        '<table class="$css"><thead><tr>$head</tr></thead><tbody>$rows</tbody></table>',
        css=css,
        head=head,
        rows=join(rows),
    )


def definition_list(items: Iterable[tuple[str, object]]) -> Markup:
    return html(
        '<dl class="fields">$items</dl>',
        items=join(html("<dt>$k</dt><dd>$v</dd>", k=k, v=v) for k, v in items),
    )


def banner(message: str, kind: str = "error") -> Markup:
    return html(
        '<div class="banner banner-$kind" role="alert">$message</div>', kind=kind, message=message
    )


def store_problems(scope: Scope) -> Markup:
    """Why some objects cannot be shown (the watch is refused or the API is away), or that
    they are still being listed."""
    problems = [banner(message) for message in scope.errors.values() if message]
    if scope.loading and not problems:
        problems.append(banner(f"Listing {' and '.join(scope.loading)}…", "notice"))
    return join(problems)


def csrf_field(scope: Scope) -> Markup:
    return html('<input type="hidden" name="csrf" value="$token">', token=scope.csrf_token)


def action_button(scope: Scope, path: str, label: str, css: str = "") -> Markup:
    """A button that POSTs to `path` (a form, so it works without JavaScript)."""
    return html(
        '<form method="post" action="$path" class="inline">$csrf'
        '<button type="submit" class="$css" data-action="$label">$label</button></form>',
        path=path,
        csrf=csrf_field(scope),
        css=css,
        label=label,
    )
