"""The dashboard's actions (POST only, behind the guard in kflow.dashboard.server): each one
writes through the API with the user's credentials, then a redirect to the page that shows
the outcome; a refusal is shown in the page with the API server's own words and status."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from kflow.cluster.rest import TRANSPORT_ERRORS, ApiError
from kflow.dashboard.changes import CANCEL, RESUME, deployment_pause, retry_body, run_now_body
from kflow.dashboard.pages.common import deployment_path, run_path
from kflow.dashboard.parameter_form import parse_form
from kflow.dashboard.queries import is_terminal, state_type
from kflow.dashboard.routes import deployment_view, run_view
from kflow.dashboard.server import dashboard_of, is_loopback, respond
from kflow.dashboard.signin import acting_api
from kflow.resources import DEPLOYMENT_PLURAL as DEPLOYMENTS
from kflow.resources import FLOWRUN_PLURAL as FLOWRUNS

ACTIONS = web.RouteTableDef()
BAD_GATEWAY = 502
UNPROCESSABLE = 422

RUN_ACTIONS = {"cancel": "cancel this run", "resume": "resume this run", "retry": "retry this run"}


def refusal(authority: str, what: str, error: Exception) -> tuple[str, int]:
    """The message and HTTP status a failed write is shown with."""
    if isinstance(error, ApiError):
        detail = f"{error.status} {error.reason}" + (f": {error.message}" if error.message else "")
        return f"{authority} refused to {what}: {detail}", error.status
    return f"Could not {what}: the API server cannot be reached ({error})", BAD_GATEWAY


def back_to(request: web.Request, fallback: str) -> str:
    """The page of this dashboard the form was on (its Referer), else `fallback`."""
    referer = urlsplit(request.headers.get("Referer", ""))
    if not is_loopback(referer.netloc):
        return fallback
    return referer.path + (f"?{referer.query}" if referer.query else "")


@ACTIONS.post("/runs/{namespace}/{name}/{action:cancel|resume|retry}")
async def run_action(request: web.Request) -> web.StreamResponse:
    dashboard = dashboard_of(request)
    namespace, name, action = (request.match_info[k] for k in ("namespace", "name", "action"))
    run = dashboard.store.get(FLOWRUNS, namespace, name)
    if run is None:
        return respond(request, await run_view(request, namespace, name))
    if action == "cancel" and is_terminal(run):
        problem = f"Run {name} already ended ({state_type(run)}); there is nothing to cancel."
        return respond(request, await run_view(request, namespace, name, problem, 409))
    try:
        if action == "cancel":
            await acting_api(request).patch_flow_run_spec(namespace, name, CANCEL)
        elif action == "resume":
            await acting_api(request).patch_flow_run_spec(namespace, name, RESUME)
        else:
            run = await acting_api(request).create_flow_run(namespace, retry_body(run))
            dashboard.store.created(FLOWRUNS, run)
    except (ApiError, *TRANSPORT_ERRORS) as error:
        problem, status = refusal(dashboard.api.authority, RUN_ACTIONS[action], error)
        return respond(request, await run_view(request, namespace, name, problem, status))
    raise web.HTTPSeeOther(run_path(run))


@ACTIONS.post("/deployments/{namespace}/{name}/{action:pause|unpause}")
async def deployment_pause_action(request: web.Request) -> web.StreamResponse:
    dashboard = dashboard_of(request)
    namespace, name, action = (request.match_info[k] for k in ("namespace", "name", "action"))
    try:
        await acting_api(request).patch_deployment_spec(
            namespace, name, deployment_pause(action == "pause")
        )
    except (ApiError, *TRANSPORT_ERRORS) as error:
        problem, status = refusal(dashboard.api.authority, f"{action} this Deployment", error)
        return respond(
            request, deployment_view(request, namespace, name, None, None, problem, status)
        )
    raise web.HTTPSeeOther(back_to(request, deployment_path(namespace, name)))


@ACTIONS.post("/deployments/{namespace}/{name}/run")
async def run_now(request: web.Request) -> web.StreamResponse:
    """Check the form against the parameter schema, then create the FlowRun; a problem shows
    the form again with what was typed."""
    dashboard = dashboard_of(request)
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    deployment = dashboard.store.get(DEPLOYMENTS, namespace, name)
    if deployment is None:
        return respond(request, deployment_view(request, namespace, name))
    spec = deployment.get("spec") or {}
    form = {k: str(v) for k, v in (await request.post()).items()}
    parameters, problems = parse_form(spec.get("parameterSchema"), spec.get("parameters"), form)
    if problems:
        view = deployment_view(
            request,
            namespace,
            name,
            form,
            problems,
            "Nothing was started: check the fields below.",
            UNPROCESSABLE,
        )
        return respond(request, view)
    try:
        created = await acting_api(request).create_flow_run(
            namespace, run_now_body(name, parameters)
        )
        dashboard.store.created(FLOWRUNS, created)
    except (ApiError, *TRANSPORT_ERRORS) as error:
        problem, status = refusal(dashboard.api.authority, f"start a run of {name}", error)
        return respond(
            request, deployment_view(request, namespace, name, form, None, problem, status)
        )
    raise web.HTTPSeeOther(run_path(created))
