"""The frame around every page: navigation, where the dashboard looks, and the live region
that dashboard.js refreshes when the server says one of its topics changed."""

from __future__ import annotations

from kflow.dashboard.markup import Markup, html, join
from kflow.dashboard.pages.common import PageView, Scope, csrf_field

NAVIGATION = (
    ("home", "/", "Home"),
    ("runs", "/runs", "Runs"),
    ("deployments", "/deployments", "Deployments"),
)
POOLS = (("pools", "/workpools", "Work pools"),)


def live_region(view: PageView, url: str, live: Markup, version: str) -> Markup:
    """The changing part of the page, marked with the URL that renders it anew and the
    version of what it holds (the browser swaps in only a different one)."""
    return html(
        '<div id="live" data-live="$url" data-topics="$topics" data-version="$version">$live</div>',
        url=url,
        topics=" ".join(view.topics),
        version=version,
        live=live,
    )


def page(view: PageView, url: str, scope: Scope, live: Markup, version: str) -> Markup:
    """The whole page around `live` (the live region's content: the view's, after any
    problem the watches have)."""
    nav = join(
        html(
            '<a href="$href" class="$cls">$label</a>',
            href=href,
            cls="current" if key == view.section else "",
            label=label,
        )
        for key, href, label in (*NAVIGATION, *(POOLS if scope.pools else ()))
    )
    where = "all namespaces" if scope.namespace is None else f"namespace {scope.namespace}"
    return html(
        """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title · kflow</title>
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/dashboard.js" defer></script>
</head>
<body>
<header>
<a class="brand" href="/">kflow</a>
<nav>$nav</nav>
<span class="where" title="API server $server">$where · context $context</span>
$person<span id="connection" class="connection" data-state="connecting">connecting…</span>
</header>
<main>
<h1>$title</h1>
$before
$live
$after
</main>
</body>
</html>
""",
        title=view.title,
        nav=nav,
        server=scope.server,
        where=where,
        context=scope.context,
        before=view.before,
        live=live_region(view, url, live, version),
        after=view.after,
        person=html(
            '<span class="person">$p <form method="post" action="/logout" class="inline">$csrf'
            '<button type="submit" class="link" data-action="Sign out">sign out</button></form>'
            "</span>",
            p=scope.person,
            csrf=csrf_field(scope),
        )
        if scope.person
        else "",
    )
