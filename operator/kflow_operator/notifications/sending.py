"""One delivery: the target's Secret read, its payload built and sent, and any error put in
words that name no secret (blocking: called from a worker thread).

The operator reads only the Secrets a notification names, in the run's own namespace, and only
when it sends: `webhook.urlFrom.secretKeyRef` and `email.credentialsFrom.secretRef`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kflow.resources.notifications import EmailTarget, WebhookFormat, WebhookTarget

from kflow_operator.notifications.errors import DeliveryError
from kflow_operator.notifications.mail import send_mail
from kflow_operator.notifications.payloads import (
    RunFacts,
    generic_payload,
    mail_body,
    mail_subject,
    slack_payload,
)
from kflow_operator.notifications.redaction import redact
from kflow_operator.notifications.targets import Target
from kflow_operator.notifications.webhook import post_json

SecretReader = Callable[[str, str], Mapping[str, str] | None]
"""(namespace, name) → the Secret's decoded data, None when it does not exist; raises with a
message fit for a user when it cannot be read."""

DEFAULT_TIMEOUT_SECONDS = 10.0


def deliver(
    target: Target,
    facts: RunFacts,
    read_secret: SecretReader,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> str | None:
    """None when delivered; else why not, with every secret read redacted."""
    secrets: list[str] = []
    try:
        if target.spec.webhook is not None:
            _send_webhook(target, target.spec.webhook, facts, read_secret, secrets, timeout)
        elif target.spec.email is not None:
            _send_mail(target.spec.email, facts, read_secret, secrets, timeout)
    except DeliveryError as error:
        return redact(str(error), secrets)
    except Exception as error:
        return redact(f"{type(error).__name__}: {error}", secrets)
    return None


def _secret(read_secret: SecretReader, namespace: str, name: str, field: str) -> Mapping[str, str]:
    data = read_secret(namespace, name)
    if data is None:
        raise DeliveryError(f"Secret {namespace}/{name} (named by {field}) does not exist")
    return data


def _send_webhook(
    target: Target,
    webhook: WebhookTarget,
    facts: RunFacts,
    read_secret: SecretReader,
    secrets: list[str],
    timeout: float,
) -> None:
    ref = webhook.url_from.secret_key_ref
    field = "webhook.urlFrom.secretKeyRef"
    data = _secret(read_secret, facts.namespace, ref.name, field)
    secrets.extend(data.values())
    url = (data.get(ref.key) or "").strip()
    if not url:
        raise DeliveryError(
            f"Secret {facts.namespace}/{ref.name} has no key {ref.key!r} (named by {field})"
        )
    secrets.append(url)
    document = (
        slack_payload(facts)
        if webhook.format is WebhookFormat.SLACK
        else generic_payload(facts, target.id)
    )
    post_json(url, document, timeout)


def _send_mail(
    email: EmailTarget,
    facts: RunFacts,
    read_secret: SecretReader,
    secrets: list[str],
    timeout: float,
) -> None:
    credentials: tuple[str, str] | None = None
    if email.credentials_from is not None:
        name = email.credentials_from.secret_ref.name
        field = "email.credentialsFrom.secretRef"
        data = _secret(read_secret, facts.namespace, name, field)
        secrets.extend(data.values())
        missing = [key for key in ("username", "password") if not data.get(key)]
        if missing:
            raise DeliveryError(
                f"Secret {facts.namespace}/{name} (named by {field}) lacks the key(s) "
                f"{', '.join(missing)}"
            )
        credentials = (data["username"], data["password"])
    send_mail(email, credentials, mail_subject(facts), mail_body(facts), timeout)
