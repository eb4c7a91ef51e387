"""The dashboard's actions (POST only, behind the guard in kflow.dashboard.server): each one
write through the API with the user's credentials, then a redirect to the page that shows
the outcome; a refusal is shown in the page with the API server's own words and status."""

from __future__ import annotations

from aiohttp import web

from kflow.cluster.rest import TRANSPORT_ERRORS, ApiError
from kflow.dashboard.changes import CANCEL, RESUME, retry_body
from kflow.dashboard.pages.common import run_path
from kflow.dashboard.queries import is_terminal, state_type
from kflow.dashboard.routes import run_view
from kflow.dashboard.server import dashboard_of, respond
from kflow.resources import FLOWRUN_PLURAL as FLOWRUNS

ACTIONS = web.RouteTableDef()
BAD_GATEWAY = 502

RUN_ACTIONS = {"cancel": "cancel this run", "resume": "resume this run", "retry": "retry this run"}


def refusal(what: str, error: Exception) -> tuple[str, int]:
    """The message and HTTP status a failed write is shown with."""
    if isinstance(error, ApiError):
        detail = f"{error.status} {error.reason}" + (f": {error.message}" if error.message else "")
        return f"The Kubernetes API server refused to {what}: {detail}", error.status
    return f"Could not {what}: the API server cannot be reached ({error})", BAD_GATEWAY


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
            await dashboard.api.patch_flow_run_spec(namespace, name, CANCEL)
        elif action == "resume":
            await dashboard.api.patch_flow_run_spec(namespace, name, RESUME)
        else:
            run = await dashboard.api.create_flow_run(namespace, retry_body(run))
    except (ApiError, *TRANSPORT_ERRORS) as error:
        problem, status = refusal(RUN_ACTIONS[action], error)
        return respond(request, await run_view(request, namespace, name, problem, status))
    raise web.HTTPSeeOther(run_path(run))
