"""The pages' URLs: each handler reads the Store (never the API server, except the run page's
Events) and renders a page module's view."""

from __future__ import annotations

from aiohttp import web

from kflow.dashboard.pages.runs import runs_page
from kflow.dashboard.queries import QueryError, RunFilter, page_number
from kflow.dashboard.server import dashboard_of, error_view, respond
from kflow.resources import DEPLOYMENT_PLURAL as DEPLOYMENTS
from kflow.resources import FLOWRUN_PLURAL as FLOWRUNS

ROUTES = web.RouteTableDef()


@ROUTES.get("/runs")
async def runs(request: web.Request) -> web.Response:
    dashboard = dashboard_of(request)
    try:
        run_filter = RunFilter.from_query(request.query)
        number = page_number(request.query.get("page"))
    except QueryError as error:
        return respond(request, error_view("Runs", str(error), 400))
    deployments = sorted({str(d["metadata"]["name"]) for d in dashboard.store.objects(DEPLOYMENTS)})
    view = runs_page(
        dashboard.store.objects(FLOWRUNS),
        deployments,
        run_filter,
        number,
        dashboard.scope(),
        dashboard.now(),
    )
    return respond(request, view)


@ROUTES.get("/")
async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/runs")
