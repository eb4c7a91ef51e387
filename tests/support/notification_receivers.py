"""What the notification tests deliver to, on 127.0.0.1: a webhook receiver (http.server in a
thread) that records every POST, and an SMTP server (aiosmtpd) that keeps every mail."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.operator_process import free_port


@dataclass
class Received:
    path: str
    document: dict[str, Any]


HOLD_LIMIT_SECONDS = 60


@dataclass
class WebhookReceiver:
    """Answers 200 to every POST once started; until then its port refuses connections (a
    receiver that is down). While `holding` is set it records a POST and then keeps the sender
    waiting for its answer until `release` is set (at most HOLD_LIMIT_SECONDS)."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        received = self.received
        holding, release = self.holding, self.release

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                document = json.loads(self.rfile.read(length))
                received.append(Received(self.path, document))
                if holding.is_set():
                    release.wait(HOLD_LIMIT_SECONDS)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@dataclass
class MailHandler:
    mails: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.mails.append(message_from_bytes(content))
        return "250 OK"


@dataclass
class SmtpServer:
    """aiosmtpd on 127.0.0.1 without TLS (so no STARTTLS is offered), accepting one login."""

    username: str
    password: str
    handler: MailHandler = field(default_factory=MailHandler)
    port: int = field(default_factory=free_port)
    controller: Controller | None = None

    def start(self) -> None:
        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (
                data.login.decode(),
                data.password.decode(),
            ) == (self.username, self.password)
            if ok:
                self.handler.logins.append(data.login.decode())
            return AuthResult(success=ok)

        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
