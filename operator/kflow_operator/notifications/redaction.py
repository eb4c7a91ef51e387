"""Secrets out of texts: what an error from urllib, smtplib or the Kubernetes client says may
quote the webhook URL or a credential, and such a text goes to the run's status, its Events
and the operator's log."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

REDACTED = "<redacted>"
PIECE_MIN_LENGTH = 3
"""Shorter parts of a URL are left alone: redacting `a` or `80` everywhere would garble a text
without hiding anything."""
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def secret_forms(secret: str) -> set[str]:
    """The ways a secret may show up in a text: as is, percent-quoted, and for a URL each of its
    parts (an error may quote just the host and port, a path segment or a query value)."""
    forms = {secret, quote(secret, safe=""), quote(secret)}
    if "://" in secret:
        rest = secret.split("://", 1)[1]
        forms.add(rest)
        netloc, _, tail = rest.partition("/")
        forms.add(netloc)
        pieces = re.split(r"[:@/?&=#]", rest)
        forms.update(piece for piece in pieces if len(piece) >= PIECE_MIN_LENGTH)
        forms.add("/" + tail)
    return {form for form in forms if form and form != "/"}


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret replaced, and any URL left replaced too (it may be
    the secret one in a form not foreseen)."""
    forms = set().union(*(secret_forms(s) for s in secrets if s))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return URL.sub("<url>", text)
