"""The dashboard's web server without a cluster: the guards every request passes, live
fragments and their versions, and server-sent events from Store changes. No request here
reaches the API server (the client points at a closed port and is never called)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from kflow.cluster.credentials import ClusterCredentials
from kflow.cluster.rest import KubeRestClient
from kflow.dashboard.api import ClusterApi
from kflow.dashboard.server import Dashboard, build_app
from kflow.dashboard.store import Store

RUN_METADATA: dict[str, Any] = {
    "name": "r",
    "namespace": "ns",
    "creationTimestamp": "2026-01-01T00:00:00Z",
}
RUN: dict[str, Any] = {
    "metadata": RUN_METADATA,
    "spec": {"deploymentRef": {"name": "d"}},
    "status": {
        "state": {"type": "RUNNING", "name": "Running", "timestamp": "2026-01-01T00:00:01Z"}
    },
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(test: Callable[[str, Dashboard, ClientSession], Awaitable[None]]) -> None:
    """Run `test` against a dashboard on 127.0.0.1 whose Store holds one RUNNING run."""

    async def main() -> None:
        port = free_port()
        credentials = ClusterCredentials(server="https://127.0.0.1:9", where="test")
        store = Store()
        store.replace("flowruns", [RUN])
        store.replace("deployments", [])
        dashboard = Dashboard(ClusterApi(KubeRestClient(credentials), "ns"), store, "ctx")
        runner = web.AppRunner(build_app(dashboard))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with ClientSession(timeout=ClientTimeout(total=10)) as session:
                await test(f"http://127.0.0.1:{port}", dashboard, session)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_a_request_for_another_host_name_is_refused() -> None:
    async def test(url: str, dashboard: Dashboard, session: ClientSession) -> None:
        async with session.get(f"{url}/runs", headers={"Host": "evil.example"}) as response:
            assert response.status == 421
            assert "answers only as http://127.0.0.1 or localhost" in await response.text()
        rebound = {"Host": "127.0.0.1.evil.example:80"}
        async with session.get(f"{url}/runs", headers=rebound) as response:
            assert response.status == 421
        forwarded = {"Host": "localhost:8080"}  # kubectl port-forward 8080:4200
        async with session.get(f"{url}/runs", headers=forwarded) as response:
            assert response.status == 200
        async with session.get(f"{url}/runs") as response:
            assert response.status == 200

    serve(test)


def test_an_action_without_the_pages_token_or_from_another_origin_is_refused() -> None:
    async def test(url: str, dashboard: Dashboard, session: ClientSession) -> None:
        action = f"{url}/runs/ns/r/cancel"
        async with session.post(action, data={"csrf": "guess"}) as response:
            assert response.status == 403
            assert "reload the page and try again" in await response.text()
        token = {"csrf": dashboard.csrf_token}
        for origin in ("http://evil.example", "https://localhost.evil.example", "null"):
            headers = {"Origin": origin}
            async with session.post(action, data=token, headers=headers) as response:
                assert response.status == 403
                assert await response.text() == "cross-site request refused\n"

    serve(test)


def test_pages_carry_the_token_and_forbid_inline_scripts_and_framing() -> None:
    async def test(url: str, dashboard: Dashboard, session: ClientSession) -> None:
        async with session.get(f"{url}/runs/ns/r") as response:
            page = await response.text()
            policy = response.headers["Content-Security-Policy"]
        assert f'name="csrf" value="{dashboard.csrf_token}"' in page
        assert "frame-ancestors 'none'" in policy and "script-src" not in policy
        assert "<script>" not in page  # only <script src=...>
        assert "Some Events could not be read: the API server https://127.0.0.1:9 cannot" in page

    serve(test)


def test_the_live_fragment_has_the_version_the_page_was_rendered_with() -> None:
    async def test(url: str, dashboard: Dashboard, session: ClientSession) -> None:
        async with session.get(f"{url}/runs?state=RUNNING") as response:
            page = await response.text()
        version = re.search(r'data-version="([0-9a-f]+)"', page)
        assert version is not None
        assert 'data-live="/runs?state=RUNNING"' in page
        async with session.get(f"{url}/runs?state=RUNNING&fragment=live") as response:
            fragment = await response.text()
            assert response.headers["X-Live-Version"] == version.group(1)
        assert "<html" not in fragment and "<header" not in fragment
        assert 'data-run="r"' in fragment

    serve(test)


def test_unknown_pages_and_filters_say_what_is_wrong() -> None:
    async def test(url: str, dashboard: Dashboard, session: ClientSession) -> None:
        async with session.get(f"{url}/nowhere") as response:
            assert response.status == 404
            assert "Nothing at /nowhere." in await response.text()
        async with session.get(f"{url}/runs?page=0") as response:
            assert response.status == 400
            assert "page 0 is out of range; pages start at 1" in await response.text()
        async with session.get(f"{url}/runs/ns/gone") as response:
            assert response.status == 404
            assert "FlowRun gone is not in namespace ns" in await response.text()

    serve(test)


def test_a_store_change_reaches_an_open_event_stream() -> None:
    async def test(url: str, dashboard: Dashboard, session: ClientSession) -> None:
        async with session.get(f"{url}/events") as response:
            assert response.headers["Content-Type"] == "text/event-stream"
            assert (
                await response.content.readuntil(b"\n\n")
                == b"retry: 1000\nevent: hello\ndata: {}\n\n"
            )
            metadata: dict[str, Any] = {**RUN_METADATA, "name": "r2"}
            changed: dict[str, Any] = {**RUN, "metadata": metadata}
            dashboard.store.apply("flowruns", "ADDED", changed)
            line = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 1.0)
        assert line == b'data: [{"kind": "flowruns", "namespace": "ns", "name": "r2"}]\n\n'

    serve(test)
