"""`kflow dashboard`: find the cluster the way kubectl would, start one watch per kind, serve
on 127.0.0.1 until Ctrl-C. Opens no browser: it prints the address."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import sys

from aiohttp import web

from kflow.cluster.credentials import KubeConfigError, load_credentials, merge_kubeconfigs
from kflow.cluster.discovery import SERVICE_ACCOUNT_DIR, in_cluster, kubeconfig_paths
from kflow.cluster.rest import KubeRestClient
from kflow.dashboard.api import ClusterApi, collection_path
from kflow.dashboard.server import Dashboard, build_app
from kflow.dashboard.store import KINDS, Store
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


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        credentials = load_credentials(args.context)
        context, namespace = context_namespace(args.context)
    except KubeConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    scope = None if args.all_namespaces else (args.namespace or namespace)
    api = ClusterApi(KubeRestClient(credentials), scope)
    try:
        asyncio.run(serve(api, context, args.port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            print(
                f"error: port {args.port} on {HOST} is in use; pick another with --port",
                file=sys.stderr,
            )
            return 1
        raise
    return 0


async def serve(api: ClusterApi, context: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    store = Store()
    dashboard = Dashboard(api, store, context, port)
    runner = web.AppRunner(build_app(dashboard), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, port).start()
        watchers = [
            Watcher(api.rest, kind, collection_path(kind, api.namespace), store, loop)
            for kind in KINDS
        ]
        for watcher in watchers:
            watcher.start()
        where = "all namespaces" if api.namespace is None else f"namespace {api.namespace}"
        print(
            f"kflow dashboard on http://{HOST}:{port}/ ({where}, context {context or '-'}, "
            f"API server {api.server}).\nIt acts with these kube credentials: keep it on this "
            "machine (never expose the port). Ctrl-C stops it.",
            flush=True,
        )
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        for watcher in watchers:
            watcher.stop()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
