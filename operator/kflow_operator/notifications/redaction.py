"""Secrets out of texts: what an error from urllib, smtplib or the Kubernetes client says may
quote the webhook URL or a credential, and such a text goes to the run's status, its Events
and the operator's log."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

REDACTED = "<redacted>"
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def secret_forms(secret: str) -> set[str]:
    """The ways a secret may show up in a text: as is, percent-quoted, and for a URL its
    parts that carry the secret (path and query, user information)."""
    forms = {secret, quote(secret, safe=""), quote(secret)}
    if "://" in secret:
        parts = urlsplit(secret)
        forms.add(secret.split("://", 1)[1])
        if len(parts.path) > 1:
            forms.add(parts.path)
        if parts.query:
            forms.add(parts.query)
        if parts.password:
            forms.add(parts.password)
    return {form for form in forms if form}


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret replaced, and any URL left replaced too (it may be
    the secret one in a form not foreseen)."""
    forms = set().union(*(secret_forms(s) for s in secrets if s))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return URL.sub("<url>", text)
