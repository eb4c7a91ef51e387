"""`kflow dashboard`: find the cluster the way kubectl would, start one watch per kind, serve
on 127.0.0.1 until Ctrl-C. Opens no browser: it prints the address. It listens elsewhere
only with `--auth token` (kflow.dashboard.auth): never an open endpoint acting as its user."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from aiohttp import web

from kflow.cluster.credentials import KubeConfigError, load_credentials, merge_kubeconfigs
from kflow.cluster.discovery import SERVICE_ACCOUNT_DIR, in_cluster, kubeconfig_paths
from kflow.cluster.rest import KubeRestClient
from kflow.dashboard.api import ClusterApi, DashboardApi, collection_path, served_kinds
from kflow.dashboard.auth import Authenticator
from kflow.dashboard.server import Dashboard, build_app
from kflow.dashboard.store import KINDS, WORKPOOLS, Store
from kflow.dashboard.watcher import Watcher

HOST = "127.0.0.1"


def context_namespace(context: str | None) -> tuple[str, str]:
    """(context name, its namespace) as kubectl would use them; 'default' when none is set."""
    if context is None and in_cluster():
        namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
        found = namespace_file.read_text().strip() if namespace_file.is_file() else ""
        return "in-cluster", found or "default"
    merged = merge_kubeconfigs(kubeconfig_paths())
    name = context or merged.current_context or ""
    chosen = merged.contexts.get(name)
    namespace = chosen.body.get("namespace") if chosen is not None else None
    return name, str(namespace or "default")


class Feeder(Protocol):
    """Keeps the Store current: a Kubernetes watch, or the local history's poller."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


Feeders = Callable[[Store, asyncio.AbstractEventLoop], list[Feeder]]


@dataclass(frozen=True)
class Serving:
    """Everything `serve` needs, decided from the command line."""

    api: DashboardApi
    context: str
    feeders: Feeders
    notice: str
    port: int
    listen: str = HOST
    authenticator: Authenticator | None = None
    kinds: tuple[str, ...] = KINDS
    """What the Store holds: FlowRuns and Deployments, and WorkPools where they exist."""


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    problem = _refused_combination(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    if args.local:
        return _serve(_local(args))
    try:
        credentials = load_credentials(args.context)
        context, namespace = context_namespace(args.context)
    except KubeConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    scope = None if args.all_namespaces else (args.namespace or namespace)
    api = ClusterApi(KubeRestClient(credentials), scope)
    kinds = KINDS + ((WORKPOOLS,) if WORKPOOLS in served_kinds(api.rest) else ())

    def watchers(store: Store, loop: asyncio.AbstractEventLoop) -> list[Feeder]:
        return [
            Watcher(api.rest, kind, collection_path(kind, api.namespace), store, loop)
            for kind in kinds
        ]

    where = "all namespaces" if scope is None else f"namespace {scope}"
    if args.auth == "token":
        notice = (
            f"({where}, context {context or '-'}, API server {api.server}).\nEvery request "
            "needs a Kubernetes token; actions are sent with it. Serve it over TLS (an Ingress)."
        )
        authenticator = Authenticator(api.rest)
    else:
        notice = (
            f"({where}, context {context or '-'}, API server {api.server}).\nIt acts with "
            "these kube credentials: keep it on this machine (never expose the port)."
        )
        authenticator = None
    serving = Serving(api, context, watchers, notice, args.port, args.listen, authenticator)
    return _serve(replace(serving, kinds=kinds))


def _refused_combination(args: argparse.Namespace) -> str | None:
    if args.local and args.context:
        return "--context does not apply to --local (no cluster)"
    if args.local and args.auth != "none":
        return "--auth applies to a cluster; --local serves this machine's runs to it alone"
    if not _loopback(args.listen) and args.auth == "none":
        return (
            f"--listen {args.listen} lets others reach the dashboard, which acts with your "
            "credentials; add --auth token so every request needs a Kubernetes token"
        )
    return None


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def _local(args: argparse.Namespace) -> Serving:
    from kflow.dashboard.local_source import LocalApi, LocalPoller
    from kflow.history.queries import History

    history = History.at()

    def poller(store: Store, loop: asyncio.AbstractEventLoop) -> list[Feeder]:
        return [LocalPoller(history, store, loop)]

    notice = (
        f"(the local run history {history.path}).\nIt can cancel and resume this machine's "
        "runs: keep it on this machine (never expose the port)."
    )
    return Serving(LocalApi(history), "local", poller, notice, args.port, args.listen)


def _serve(serving: Serving) -> int:
    try:
        asyncio.run(serve(serving))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            where = f"{serving.listen}:{serving.port}"
            print(f"error: {where} is in use; pick another port with --port", file=sys.stderr)
            return 1
        raise
    return 0


async def serve(serving: Serving) -> None:
    loop = asyncio.get_running_loop()
    store = Store(serving.kinds)
    dashboard = Dashboard(serving.api, store, serving.context, serving.authenticator)
    runner = web.AppRunner(build_app(dashboard), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, serving.listen, serving.port).start()
        started = serving.feeders(store, loop)
        for feeder in started:
            feeder.start()
        address = f"http://{serving.listen}:{serving.port}/"
        print(f"kflow dashboard on {address} {serving.notice} Ctrl-C stops it.", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        for feeder in started:
            feeder.stop()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
