"""The pages' URLs: each handler reads the Store (never the API server, except for a run's
Events and logs, which are read as the person asking: kflow.dashboard.signin.acting_api) and
renders a page module's view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from aiohttp import web

from kflow.dashboard.pages.common import PageView, deployment_path, run_path
from kflow.dashboard.pages.deployments import (
    deployment_page,
    deployments_page,
    missing_deployment_page,
)
from kflow.dashboard.pages.home import home_page
from kflow.dashboard.pages.pools import no_pools_page, pools_page
from kflow.dashboard.pages.run import children_of, missing_run_page, run_page
from kflow.dashboard.pages.run_logs import logs_page, logs_region
from kflow.dashboard.pages.runs import runs_page
from kflow.dashboard.parameter_form import form_fields
from kflow.dashboard.queries import (
    QueryError,
    RunFilter,
    deployment_of,
    deployment_pools,
    page_number,
)
from kflow.dashboard.server import dashboard_of, error_view, respond
from kflow.dashboard.signin import acting_api
from kflow.dashboard.store import WORKPOOLS
from kflow.resources import DEPLOYMENT_PLURAL as DEPLOYMENTS
from kflow.resources import FLOWRUN_PLURAL as FLOWRUNS

ROUTES = web.RouteTableDef()


@ROUTES.get("/runs")
async def runs(request: web.Request) -> web.Response:
    dashboard = dashboard_of(request)
    try:
        run_filter = RunFilter.from_query(request.query, dashboard.now())
        number = page_number(request.query.get("page"))
    except QueryError as error:
        return respond(request, error_view("Runs", str(error), 400))
    known = dashboard.store.objects(DEPLOYMENTS)
    deployments = sorted({str(d["metadata"]["name"]) for d in known})
    if run_filter.pool:
        run_filter = replace(run_filter, deployment_pools=deployment_pools(known))
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
    dashboard = dashboard_of(request)
    store = dashboard.store
    pools = store.objects(WORKPOOLS) if store.has(WORKPOOLS) else None
    view = home_page(
        store.objects(FLOWRUNS),
        store.objects(DEPLOYMENTS),
        dashboard.scope(),
        dashboard.now(),
        pools,
    )
    return respond(request, view)


@ROUTES.get("/workpools")
async def workpools(request: web.Request) -> web.Response:
    dashboard = dashboard_of(request)
    store = dashboard.store
    if not store.has(WORKPOOLS):
        return respond(request, no_pools_page())
    view = pools_page(
        store.objects(WORKPOOLS),
        store.objects(FLOWRUNS),
        dashboard.scope(),
        dashboard.now(),
        deployment_pools(store.objects(DEPLOYMENTS)),
    )
    return respond(request, view)


async def run_view(
    request: web.Request,
    namespace: str,
    name: str,
    problem: str | None = None,
    status: int = 200,
) -> PageView:
    """The run page from the Store, with the run's Events and logs read from the API server
    as the person asking, so their RBAC decides what of them they see."""
    dashboard = dashboard_of(request)
    store = dashboard.store
    run = store.get(FLOWRUNS, namespace, name)
    if run is None:
        return missing_run_page(namespace, name, dashboard.scope())
    deployment_name = deployment_of(run)
    deployment = store.get(DEPLOYMENTS, namespace, deployment_name) if deployment_name else None
    infrastructure = (run.get("status") or {}).get("infrastructure") or {}
    api = acting_api(request)
    events = await api.run_events(namespace, name, infrastructure) if api.has_events else None
    view = run_page(
        run,
        deployment,
        children_of(store.objects(FLOWRUNS), namespace, name),
        events,
        dashboard.scope(),
        dashboard.now(),
        problem,
        status,
    )
    tail = await api.log_tail(run)
    return replace(view, url=run_path(run), after=logs_region(run, tail))


@ROUTES.get("/runs/{namespace}/{name}")
async def run(request: web.Request) -> web.Response:
    info = request.match_info
    return respond(request, await run_view(request, info["namespace"], info["name"]))


@ROUTES.get("/runs/{namespace}/{name}/logs")
async def run_logs(request: web.Request) -> web.Response:
    dashboard = dashboard_of(request)
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    found = dashboard.store.get(FLOWRUNS, namespace, name)
    if found is None:
        return respond(request, missing_run_page(namespace, name, dashboard.scope()))
    return respond(request, logs_page(found, await acting_api(request).log_tail(found)))


@ROUTES.get("/deployments")
async def deployments(request: web.Request) -> web.Response:
    dashboard = dashboard_of(request)
    store = dashboard.store
    view = deployments_page(
        store.objects(DEPLOYMENTS), store.objects(FLOWRUNS), dashboard.scope(), dashboard.now()
    )
    return respond(request, view)


def deployment_view(
    request: web.Request,
    namespace: str,
    name: str,
    submitted: Mapping[str, str] | None = None,
    problems: Mapping[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> PageView:
    """The Deployment page; after a refused run-now, with what was typed and what is wrong."""
    dashboard = dashboard_of(request)
    deployment = dashboard.store.get(DEPLOYMENTS, namespace, name)
    if deployment is None:
        return missing_deployment_page(namespace, name)
    spec = deployment.get("spec") or {}
    fields = form_fields(spec.get("parameterSchema"), spec.get("parameters"), submitted)
    view = deployment_page(
        deployment,
        dashboard.store.objects(FLOWRUNS),
        fields,
        problems or {},
        dashboard.scope(),
        dashboard.now(),
        problem,
        status,
    )
    return replace(view, url=deployment_path(namespace, name))


@ROUTES.get("/deployments/{namespace}/{name}")
async def deployment(request: web.Request) -> web.Response:
    info = request.match_info
    return respond(request, deployment_view(request, info["namespace"], info["name"]))
