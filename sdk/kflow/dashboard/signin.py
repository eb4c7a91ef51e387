"""Signing in to a dashboard that asks who you are (`--auth token`): the middleware that lets
a request through only with a token the API server accepts, from a person who may list the
runs; the login page that keeps the token in a cookie; and the API its actions and a run's
logs and Events go through, which is the person's own (kflow.dashboard.auth says why)."""

from __future__ import annotations

from aiohttp import web

from kflow.cluster.rest import TRANSPORT_ERRORS, ApiError
from kflow.dashboard.api import ClusterApi, DashboardApi
from kflow.dashboard.auth import COOKIE, Person, bearer_token, reviews_refused
from kflow.dashboard.markup import html
from kflow.dashboard.pages.common import PageView, banner, csrf_field
from kflow.dashboard.server import Handler, dashboard_of, error_view, respond
from kflow.resources import FLOWRUN_PLURAL as FLOWRUNS
from kflow.resources import GROUP

SIGNIN = web.RouteTableDef()
OPEN_PATHS = ("/login", "/logout", "/static/", "/healthz")
"""Served without a token: signing in, signing out (whoever may see nothing too), assets."""
UNAUTHORIZED = 401
FORBIDDEN = 403
BAD_GATEWAY = 502
UNAVAILABLE = 503


def acting_api(request: web.Request) -> DashboardApi:
    """The API an action, and the reading of a run's logs and Events, go through: the
    signed-in person's token, else ours. The shared watch of kflow objects is gated by the
    SubjectAccessReview in `authenticate`; these requests are gated by the API server itself,
    so a person sees a pod's logs only with `get` on pods/log, as with kubectl."""
    api = dashboard_of(request).api
    token = request.get("token")
    if token is not None and isinstance(api, ClusterApi):
        return api.with_token(str(token))
    return api


def safe_next(target: str) -> str:
    """Where to go after signing in: a path of this server, never another site."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    authenticator = dashboard_of(request).authenticator
    if authenticator is None or request.path.startswith(OPEN_PATHS):
        return await handler(request)
    token = bearer_token(request.headers, request.cookies)
    try:
        person = await authenticator.person(token) if token else None
        if person is None:
            return _sign_in_first(request)
        namespace = dashboard_of(request).api.namespace
        if not await authenticator.may(person, "list", GROUP, FLOWRUNS, namespace):
            where = f"namespace {namespace}" if namespace else "all namespaces"
            message = (
                f"You are {person.username}, and the Kubernetes API server says you may not "
                f"list FlowRuns in {where}: this dashboard shows you nothing."
            )
            request["person"] = person
            return respond(request, error_view("Not allowed", message, FORBIDDEN))
    except TRANSPORT_ERRORS as error:
        message = f"The API server cannot be reached to check who you are ({error})."
        return respond(request, error_view("Unavailable", message, BAD_GATEWAY))
    except ApiError as error:
        return respond(request, error_view("Unavailable", reviews_refused(error), UNAVAILABLE))
    request["person"] = person
    request["token"] = token
    return await handler(request)


def _sign_in_first(request: web.Request) -> web.StreamResponse:
    if request.path == "/events" or request.query.get("fragment"):
        return web.Response(status=UNAUTHORIZED, text="sign in first: /login\n")
    raise web.HTTPSeeOther(f"/login?next={request.rel_url.path_qs}")


def login_view(request: web.Request, problem: str | None = None, status: int = 200) -> PageView:
    scope = dashboard_of(request).scope()
    form = html(
        '<form method="post" action="/login" class="run-form">$csrf'
        '<input type="hidden" name="next" value="$next">'
        "<label>Kubernetes bearer token"
        '<textarea name="token" required spellcheck="false" autocomplete="off"></textarea>'
        '<span class="hint">e.g. from <code>kubectl create token NAME</code>; checked by the '
        "API server (TokenReview), kept in a cookie of this site only</span></label>"
        '<div><button type="submit" data-action="Sign in">Sign in</button></div></form>',
        csrf=csrf_field(scope),
        next=safe_next(request.query.get("next", "/")),
    )
    return PageView(
        title="Sign in",
        live=html("$problem$form", problem=banner(problem) if problem else "", form=form),
        topics=(),
        status=status,
    )


@SIGNIN.get("/login")
async def login_page(request: web.Request) -> web.Response:
    return respond(request, login_view(request))


@SIGNIN.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    authenticator = dashboard_of(request).authenticator
    if authenticator is None:
        raise web.HTTPSeeOther("/")
    form = await request.post()
    token = str(form.get("token", "")).strip()
    try:
        person: Person | None = await authenticator.person(token) if token else None
    except TRANSPORT_ERRORS as error:
        message = f"The API server cannot be reached to check the token ({error})."
        return respond(request, login_view(request, message, BAD_GATEWAY))
    except ApiError as error:
        return respond(request, login_view(request, reviews_refused(error), UNAVAILABLE))
    if person is None:
        message = "The Kubernetes API server did not accept this token (TokenReview)."
        return respond(request, login_view(request, message, UNAUTHORIZED))
    response = web.HTTPSeeOther(safe_next(str(form.get("next", "/"))))
    secure = request.secure or request.headers.get("X-Forwarded-Proto") == "https"
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=secure, path="/")
    raise response


@SIGNIN.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response
