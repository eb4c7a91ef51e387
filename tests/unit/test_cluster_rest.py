"""The flow process's own API client: errors, watch lines, connection reuse and re-tokening,
checked against a tiny HTTP server on 127.0.0.1 (the real API server is the integration tier's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kflow.cluster.credentials import ClusterCredentials
from kflow.cluster.flowrun_api import FlowRunApi
from kflow.cluster.rest import (
    MERGE_PATCH,
    ApiError,
    KubeRestClient,
    WatchStreamError,
    api_error,
    decode_watch_line,
)
from kflow.cluster.status_writer import StatusWriter
from kflow.resources.status_patch import StateEntry
from kflow.states import StateType
from kflow.transitions import is_accepted


def test_watch_lines_become_events_and_blank_lines_nothing() -> None:
    line = b'{"type": "MODIFIED", "object": {"metadata": {"resourceVersion": "7"}}}\n'
    assert decode_watch_line(line) == ("MODIFIED", {"metadata": {"resourceVersion": "7"}})
    assert decode_watch_line(b"\n") is None


def test_a_watch_error_event_raises_with_its_code() -> None:
    gone = {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "code": 410,
            "reason": "Expired",
            "message": "too old resource version: 5 (90)",
        },
    }
    with pytest.raises(ApiError) as raised:
        decode_watch_line(json.dumps(gone).encode())
    assert (raised.value.status, raised.value.reason) == (410, "Expired")
    assert "too old" in raised.value.message


def test_a_cut_off_watch_line_is_a_transport_error() -> None:
    with pytest.raises(WatchStreamError):
        decode_watch_line(b'{"type": "MODIFIED", "obj')


def test_api_errors_carry_the_status_message() -> None:
    body = json.dumps({"kind": "Status", "reason": "Conflict", "message": "object was modified"})
    error = api_error(409, "Conflict", body.encode())
    assert (error.status, error.reason, error.message) == (409, "Conflict", "object was modified")
    assert api_error(502, "Bad Gateway", b"<html>proxy</html>").message == "<html>proxy</html>"


@dataclass
class RotatingToken:
    tokens: list[str]
    invalidated: int = 0

    def authorization(self) -> str | None:
        return f"Bearer {self.tokens[0]}"

    def invalidate(self) -> None:
        self.invalidated += 1
        self.tokens.pop(0)


@dataclass
class Seen:
    requests: list[tuple[str, str, int, dict[str, str], bytes]] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)
    """The client port of each connection accepted, in order."""


def serve(seen: Seen) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def setup(self) -> None:
            super().setup()
            seen.connections.append(self.client_address[1])

        def _record(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            port = self.client_address[1]
            seen.requests.append((self.command, self.path, port, dict(self.headers), body))
            return body

        def _json(self, status: int, document: object, close: bool = False) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            # Closing without saying so: the client's next request on it finds it dead.
            self.close_connection = close

        def do_GET(self) -> None:
            self._record()
            if self.path.startswith("/apis/kflow.dev/v1alpha1/namespaces/ns/flowruns?"):
                self._watch()
            elif self.path.endswith("/flowruns/missing"):
                self._json(404, {"kind": "Status", "reason": "NotFound", "message": "nope"})
            elif self.path == "/secure" and self.headers["Authorization"] != "Bearer fresh":
                self._json(401, {"kind": "Status", "reason": "Unauthorized", "message": "x"})
            else:
                self._json(200, {"path": self.path}, close=self.path == "/then-close")

        def do_PATCH(self) -> None:
            body = self._record()
            self._json(200, json.loads(body))

        def _watch(self) -> None:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            events = [
                {"type": "ADDED", "object": {"metadata": {"resourceVersion": "2"}}},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "3"}}},
                {"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "old"}},
            ]
            for event in events:
                line = json.dumps(event).encode() + b"\n"
                # An event split over two chunks, as a proxy may deliver it.
                for piece in (line[:10], line[10:]):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server


@pytest.fixture
def local_api() -> Iterator[tuple[KubeRestClient, Seen, RotatingToken]]:
    seen = Seen()
    server = serve(seen)
    token = RotatingToken(["stale", "fresh"])
    host, port = server.server_address[:2]
    credentials = ClusterCredentials(server=f"http://{host!s}:{port}", where="test", token=token)
    client = KubeRestClient(credentials, timeout=5)
    yield client, seen, token
    client.close()
    server.shutdown()
    server.server_close()


def test_requests_reuse_one_connection_per_thread(
    local_api: tuple[KubeRestClient, Seen, RotatingToken],
) -> None:
    client, seen, _ = local_api
    assert client.get("/a") == {"path": "/a"}
    assert client.get("/b", query={"x": "1 2"}) == {"path": "/b?x=1+2"}
    assert len({r[2] for r in seen.requests}) == 1
    other: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: other.append(client.get("/c")))
    thread.start()
    thread.join(5)
    assert other == [{"path": "/c"}]
    assert seen.requests[-1][2] != seen.requests[0][2]


def test_the_status_writer_is_connected_before_the_flow_proposes_running(
    local_api: tuple[KubeRestClient, Seen, RotatingToken],
) -> None:
    """The RUNNING write, which the flow waits on, does not wait for a connection (a TLS
    handshake to a real API server): the writer's thread connects as it starts."""
    client, seen, _ = local_api
    initial = {"metadata": {"name": "run", "resourceVersion": "1"}, "status": {}}
    writer = StatusWriter(FlowRunApi(client, "ns", "run"), is_accepted, initial=initial)
    writer.start()
    try:
        deadline = time.monotonic() + 5
        while not seen.connections:
            assert time.monotonic() < deadline, "the writer never connected"
            time.sleep(0.01)
        assert seen.requests == [], "connected ahead: nothing was requested yet"
        running = StateEntry(StateType.RUNNING, "Running", None, datetime.now(UTC))
        outcome = writer.propose_state(running).result(5)
        assert outcome is not None and outcome.accepted
        [(method, _, port, _, _)] = seen.requests
        assert method == "PATCH" and seen.connections == [port], "written on that connection"
    finally:
        writer.close()


def test_a_connection_the_server_closed_is_replaced(
    local_api: tuple[KubeRestClient, Seen, RotatingToken],
) -> None:
    client, seen, _ = local_api
    client.get("/then-close")
    assert client.get("/after") == {"path": "/after"}
    assert seen.requests[0][2] != seen.requests[1][2]


def test_merge_patch_sends_its_content_type(
    local_api: tuple[KubeRestClient, Seen, RotatingToken],
) -> None:
    client, seen, _ = local_api
    api = FlowRunApi(client, "ns", "run")
    echoed = api.patch_status({"state": {"type": "RUNNING"}}, "41")
    assert echoed == {
        "metadata": {"resourceVersion": "41"},
        "status": {"state": {"type": "RUNNING"}},
    }
    method, path, _, headers, _ = seen.requests[-1]
    assert (method, path) == ("PATCH", "/apis/kflow.dev/v1alpha1/namespaces/ns/flowruns/run/status")
    assert headers["Content-Type"] == MERGE_PATCH


def test_not_found_is_an_api_error_and_a_missing_deployment_none(
    local_api: tuple[KubeRestClient, Seen, RotatingToken],
) -> None:
    client, _, _ = local_api
    api = FlowRunApi(client, "ns", "missing")
    with pytest.raises(ApiError) as raised:
        api.get()
    assert (raised.value.status, raised.value.message) == (404, "nope")


def test_a_401_fetches_the_token_again_once(
    local_api: tuple[KubeRestClient, Seen, RotatingToken],
) -> None:
    client, seen, token = local_api
    assert client.get("/secure") == {"path": "/secure"}
    assert token.invalidated == 1
    assert [r[3]["Authorization"] for r in seen.requests] == ["Bearer stale", "Bearer fresh"]


def test_watch_streams_events_then_raises_the_error_event(
    local_api: tuple[KubeRestClient, Seen, RotatingToken],
) -> None:
    client, seen, _ = local_api
    api = FlowRunApi(client, "ns", "run")
    events: list[tuple[str, dict[str, Any]]] = []
    with pytest.raises(ApiError) as raised:
        for event in api.watch("1", timeout_seconds=5):
            events.append(event)
    assert [kind for kind, _ in events] == ["ADDED", "BOOKMARK"]
    assert raised.value.status == 410
    query = seen.requests[-1][1].split("?", 1)[1]
    for part in (
        "fieldSelector=metadata.name%3Drun",
        "resourceVersion=1",
        "allowWatchBookmarks=true",
        "watch=true",
        "timeoutSeconds=5",
    ):
        assert part in query


def test_kflow_execute_never_imports_kubernetes(tmp_path: Path) -> None:
    """`kflow execute` runs once per flow run; the kubernetes package costs ~0.5 CPU-s to
    import. The command runs for real here, up to reading its FlowRun (404: exit 2)."""
    seen = Seen()
    server = serve(seen)
    host, port = server.server_address[:2]
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        json.dumps(
            {
                "clusters": [{"name": "c", "cluster": {"server": f"http://{host!s}:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    probe = (
        "import sys\n"
        "from kflow.cli import main\n"
        "code = main(['execute'])\n"
        "import kflow.engine, kflow.flows\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes')\n"
        "print(code, ','.join(loaded))\n"
    )
    environment = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "KFLOW_FLOW_RUN_NAMESPACE": "ns",
        "KFLOW_FLOW_RUN_NAME": "missing",
    }
    environment.pop("KUBERNETES_SERVICE_HOST", None)
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env=environment,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert [r[1] for r in seen.requests] == [
        "/apis/kflow.dev/v1alpha1/namespaces/ns/flowruns/missing"
    ]
    assert done.stdout.split("\n")[-2] == "2 ", done.stderr
