"""The dashboard's web app (aiohttp): pages, their live fragments, the server-sent events that
tell open pages what changed, and the guards every request passes.

Guards, since the app acts with its user's credentials: it listens on 127.0.0.1 only; a
request whose Host is not a loopback name (a DNS-rebinding page) is refused, whatever the port
(a `kubectl port-forward` may put it on another one); every POST carries the token this server
put into its own forms, and an Origin, when sent, must be a loopback one too, so another site
open in the same browser cannot submit an action; pages forbid inline scripts and framing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from kflow.dashboard.api import DashboardApi
from kflow.dashboard.auth import Authenticator
from kflow.dashboard.markup import Markup
from kflow.dashboard.pages.common import PageView, Scope, banner, store_problems
from kflow.dashboard.pages.layout import page
from kflow.dashboard.store import WORKPOOLS, Change, Store

STATIC = Path(__file__).parent / "static"
HEARTBEAT_SECONDS = 15.0
BATCH_COLLAPSE = 200
"""A batch of more changes than this reaches the browser as "everything changed"."""
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
DASHBOARD: web.AppKey[Dashboard] = web.AppKey("dashboard")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Dashboard:
    """What the request handlers share: the cluster calls, the watched objects, and the
    per-server secret that proves a POST came from one of this server's own pages."""

    def __init__(
        self,
        api: DashboardApi,
        store: Store,
        context: str,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.api = api
        self.store = store
        self.context = context
        self.authenticator = authenticator
        """Set when others may reach the dashboard: every request then needs a token."""
        self.csrf_token = secrets.token_urlsafe(32)
        self.streams: set[asyncio.Task[object]] = set()

    def scope(self, person: str | None = None) -> Scope:
        return Scope(
            person=person,
            namespace=self.api.namespace,
            context=self.context,
            server=self.api.server,
            csrf_token=self.csrf_token,
            errors=dict(self.store.errors),
            loading=tuple(kind for kind, done in self.store.synced.items() if not done),
            pools=self.store.has(WORKPOOLS),
        )

    def now(self) -> datetime:
        return datetime.now(UTC)


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def same_origin(origin: str, host: str) -> bool:
    """Whether an Origin header names the server the request came to."""
    scheme, _, netloc = origin.partition("://")
    return scheme in ("http", "https") and netloc == host


def is_loopback(host: str) -> bool:
    """Whether `host[:port]` (a Host header, an Origin's or Referer's netloc) names this
    machine's loopback interface."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in LOOPBACK_NAMES


def dashboard_of(request: web.Request) -> Dashboard:
    return request.app[DASHBOARD]


def respond(request: web.Request, view: PageView) -> web.Response:
    """The whole page, or with `?fragment=live` only its live region's content."""
    person = request.get("person")
    scope = dashboard_of(request).scope(person.username if person is not None else None)
    live = Markup(store_problems(scope) + view.live) if view.store_problems else view.live
    tag = hashlib.sha256(live.encode()).hexdigest()[:16]
    if request.query.get("fragment") == "live":
        body = live
    else:
        url = view.url or str(request.rel_url.without_query_params("fragment"))
        body = page(view, url, scope, live, tag)
    response = web.Response(text=body, content_type="text/html", status=view.status)
    response.headers["X-Live-Version"] = tag
    return response


def error_view(title: str, message: str, status: int) -> PageView:
    return PageView(title=title, live=banner(message), topics=(), status=status)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    dashboard = dashboard_of(request)
    exposed = dashboard.authenticator is not None
    if not exposed and not is_loopback(request.host):
        return web.Response(
            status=421, text="this dashboard answers only as http://127.0.0.1 or localhost\n"
        )
    if request.method == "POST":
        origin = request.headers.get("Origin")
        own = (
            (
                same_origin(origin, request.host)
                if exposed
                else origin.startswith("http://") and is_loopback(origin.removeprefix("http://"))
            )
            if origin is not None
            else True
        )
        if not own:
            return web.Response(status=403, text="cross-site request refused\n")
        form = await request.post()
        if not secrets.compare_digest(str(form.get("csrf", "")), dashboard.csrf_token):
            view = error_view(
                "Refused",
                "This form is from an earlier run of the dashboard (or another site); "
                "reload the page and try again.",
                403,
            )
            return respond(request, view)
    response = await handler(request)
    response.headers.update(SECURITY_HEADERS)
    return response


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a JSON list of the objects that changed, as they change."""
    dashboard = dashboard_of(request)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    response.headers.update(SECURITY_HEADERS)
    await response.prepare(request)
    subscription = dashboard.store.subscribe()
    task = asyncio.current_task()
    if task is not None:
        dashboard.streams.add(task)
    try:
        await response.write(b"retry: 1000\nevent: hello\ndata: {}\n\n")
        while True:
            try:
                batch = await asyncio.wait_for(subscription.next_batch(), HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            await response.write(f"data: {json.dumps(_collapsed(batch))}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        return response
    finally:
        dashboard.store.unsubscribe(subscription)
        if task is not None:
            dashboard.streams.discard(task)


def _collapsed(batch: list[Change]) -> list[dict[str, str]]:
    if len(batch) <= BATCH_COLLAPSE:
        return [change.as_event() for change in batch]
    kinds = sorted({change.kind for change in batch})
    return [Change(kind, "", "").as_event() for kind in kinds]


async def healthz(request: web.Request) -> web.Response:
    store = dashboard_of(request).store
    return web.json_response({"synced": store.synced, "errors": store.errors})


async def not_found(request: web.Request) -> web.Response:
    view = error_view("Not found", f"Nothing at {request.path}.", 404)
    return respond(request, view)


async def _close_streams(app: web.Application) -> None:
    for task in list(app[DASHBOARD].streams):
        task.cancel()


def build_app(dashboard: Dashboard) -> web.Application:
    from kflow.dashboard.actions import ACTIONS
    from kflow.dashboard.routes import ROUTES
    from kflow.dashboard.signin import SIGNIN, authenticate

    app = web.Application(middlewares=[guard, authenticate])
    app[DASHBOARD] = dashboard
    app.router.add_get("/events", events)
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static/", STATIC, append_version=False)
    app.add_routes(SIGNIN)
    app.add_routes(ROUTES)
    app.add_routes(ACTIONS)
    app.router.add_route("*", "/{tail:.*}", not_found)
    app.on_shutdown.append(_close_streams)
    return app
