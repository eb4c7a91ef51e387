"""One delivery, against receivers on 127.0.0.1: the Secret read (and only it), the payload
sent, and errors that never quote the URL or a credential."""

from __future__ import annotations

import json
import smtplib
import urllib.error
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from kflow.resources import DeploymentSpec
from kflow.states import StateType
from kflow_operator.notifications.errors import SecretUnreadable, describe
from kflow_operator.notifications.payloads import RunFacts
from kflow_operator.notifications.redaction import REDACTED, redact
from kflow_operator.notifications.sending import deliver
from kflow_operator.notifications.targets import Target, run_targets
from kflow_operator.notifications.transitions import Transition

from tests.support.notification_receivers import SmtpServer

TOKEN = "T0KEN-s3cr3t"
FACTS = RunFacts(
    namespace="ns",
    name="r",
    uid="u",
    transition=Transition(StateType.FAILED, "Failed", "boom", datetime(2026, 1, 1, tzinfo=UTC)),
)


def target(notification: dict[str, Any]) -> Target:
    spec = DeploymentSpec.model_validate(
        {
            "entrypoint": "f.py:main",
            "infrastructure": {"type": "process"},
            "notifications": [{"states": ["FAILED"], **notification}],
        }
    )
    return run_targets(spec, None)[0]


def hook(fmt: str = "generic") -> Target:
    ref = {"name": "hook", "key": "url"}
    return target({"webhook": {"urlFrom": {"secretKeyRef": ref}, "format": fmt}})


class Secrets:
    """A SecretReader over a dict, recording what was read."""

    def __init__(self, secrets: Mapping[str, Mapping[str, str]]) -> None:
        self.secrets = secrets
        self.read: list[tuple[str, str]] = []

    def __call__(self, namespace: str, name: str) -> Mapping[str, str] | None:
        self.read.append((namespace, name))
        return self.secrets.get(name)


@pytest.fixture
def answers() -> Iterator[tuple[list[Any], list[int], int]]:
    """A webhook receiver answering with the status code at the head of `codes` (200 after)."""
    received: list[Any] = []
    codes: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append((self.path, json.loads(self.rfile.read(length))))
            self.send_response(codes.pop(0) if codes else 200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield received, codes, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_webhook_gets_the_document_at_the_url_from_the_secret(
    answers: tuple[list[Any], list[int], int],
) -> None:
    received, _, port = answers
    secrets = Secrets({"hook": {"url": f"http://127.0.0.1:{port}/hooks/{TOKEN}\n"}})
    assert deliver(hook(), FACTS, secrets) is None
    assert secrets.read == [("ns", "hook")]
    ((path, document),) = received
    assert path == f"/hooks/{TOKEN}"
    assert document["state"]["type"] == "FAILED" and document["target"] == "deployment[0]"
    assert deliver(hook("slack"), FACTS, secrets) is None
    assert "blocks" in received[1][1]


def test_a_refusing_webhook_is_an_error_that_does_not_quote_the_url(
    answers: tuple[list[Any], list[int], int],
) -> None:
    _, codes, port = answers
    codes.append(503)
    secrets = Secrets({"hook": {"url": f"http://127.0.0.1:{port}/hooks/{TOKEN}"}})
    assert deliver(hook(), FACTS, secrets) == "the webhook answered HTTP 503 Service Unavailable"


def test_an_unreachable_webhook_names_the_cause_not_the_url() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    secrets = Secrets({"hook": {"url": f"http://127.0.0.1:{port}/hooks/{TOKEN}"}})
    error = deliver(hook(), FACTS, secrets)
    assert error == (
        "could not reach the webhook: ConnectionRefusedError: [Errno 111] Connection refused"
    )


def test_a_malformed_url_never_shows_in_the_error() -> None:
    for url in (f"http://127.0.0.1:notaport/{TOKEN}", f"ftp://example.com/{TOKEN}", TOKEN):
        error = deliver(hook(), FACTS, Secrets({"hook": {"url": url}}))
        assert error is not None and TOKEN not in error and "notaport" not in error


def test_a_missing_secret_or_key_says_which_field_names_it() -> None:
    assert deliver(hook(), FACTS, Secrets({})) == (
        "Secret ns/hook (named by webhook.urlFrom.secretKeyRef) does not exist"
    )
    assert deliver(hook(), FACTS, Secrets({"hook": {"other": TOKEN}})) == (
        "Secret ns/hook has no key 'url' (named by webhook.urlFrom.secretKeyRef)"
    )


def test_a_secret_that_cannot_be_read_is_an_error_not_a_crash() -> None:
    def forbidden(namespace: str, name: str) -> Mapping[str, str] | None:
        raise PermissionError(f"the operator may not read Secret {namespace}/{name}")

    assert deliver(hook(), FACTS, forbidden) == (
        "PermissionError: the operator may not read Secret ns/hook"
    )


def mail_target(port: int, credentials: bool = True) -> Target:
    email: dict[str, Any] = {"host": "127.0.0.1", "port": port, "from": "k@x.io", "to": ["a@x.io"]}
    if credentials:
        email["credentialsFrom"] = {"secretRef": {"name": "smtp"}}
    return target({"email": email})


def test_a_mail_is_sent_with_the_secrets_credentials_and_a_wrong_password_is_not_echoed() -> None:
    smtp = SmtpServer(username="bot", password=TOKEN)
    smtp.start()
    try:
        good = Secrets({"smtp": {"username": "bot", "password": TOKEN}})
        assert deliver(mail_target(smtp.port), FACTS, good) is None
        assert smtp.handler.logins == ["bot"]
        assert smtp.handler.mails[0]["Subject"] == "[kflow] FAILED: FlowRun ns/r"
        wrong = Secrets({"smtp": {"username": "bot", "password": "not-" + TOKEN}})
        error = deliver(mail_target(smtp.port), FACTS, wrong, timeout=2)
        assert error is not None and error.startswith(f"SMTP server 127.0.0.1:{smtp.port}")
        assert TOKEN not in error and not smtp.handler.logins[1:]
        lacking = Secrets({"smtp": {"username": "bot"}})
        assert deliver(mail_target(smtp.port), FACTS, lacking) == (
            "Secret ns/smtp (named by email.credentialsFrom.secretRef) lacks the key(s) password"
        )
    finally:
        smtp.stop()


def test_starttls_is_used_when_the_server_offers_it() -> None:
    """A server that offers STARTTLS gets the upgrade attempted (here it fails the handshake:
    the test server has no certificate, and an unverified server is never trusted)."""
    offered: list[bool] = []

    class Offering(smtplib.SMTP):
        def has_extn(self, opt: str) -> bool:
            offered.append(opt == "starttls")
            return opt == "starttls" or super().has_extn(opt)

    smtp = SmtpServer(username="bot", password=TOKEN)
    smtp.start()
    real = smtplib.SMTP
    smtplib.SMTP = Offering  # type: ignore[misc]
    try:
        error = deliver(mail_target(smtp.port, credentials=False), FACTS, Secrets({}))
    finally:
        smtplib.SMTP = real  # type: ignore[misc]
        smtp.stop()
    assert offered and offered[0]
    assert error is not None and error.startswith(f"SMTP server 127.0.0.1:{smtp.port}: ")
    assert not smtp.handler.mails


def test_redaction_covers_the_secret_its_quoted_forms_and_any_url() -> None:
    url = f"https://user:pw-{TOKEN}@hooks.example.com/services/{TOKEN}?k={TOKEN}"
    text = (
        f"failed for {url} (path /services/{TOKEN}, quoted {TOKEN.replace('-', '%2D')}) "
        "see http://other.example.com/x"
    )
    cleaned = redact(text, [url])
    assert TOKEN not in cleaned and "pw-" not in cleaned
    assert "<url>" in cleaned and REDACTED in cleaned
    assert redact("nothing secret here", [url, ""]) == "nothing secret here"


def test_describe_unwraps_urllibs_reason() -> None:
    wrapped = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    assert describe(wrapped) == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert describe(TimeoutError("timed out")) == "TimeoutError: timed out"


def test_a_secret_the_operator_may_not_use_is_reported_in_its_own_words() -> None:
    def unmarked(namespace: str, name: str) -> Mapping[str, str] | None:
        raise SecretUnreadable(f"Secret {namespace}/{name} is not marked for kflow notifications")

    assert (
        deliver(hook(), FACTS, unmarked) == "Secret ns/hook is not marked for kflow notifications"
    )
