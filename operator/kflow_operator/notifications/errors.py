"""Why a delivery failed, in words that name no secret once redacted."""

from __future__ import annotations

import urllib.error


class DeliveryError(Exception):
    """A delivery attempt failed; the text may still quote a secret until redacted."""


class SecretUnreadable(DeliveryError):
    """A Secret a notification names may not (or could not) be read, or is not marked for
    notifications; the message says what to do."""


def describe(error: BaseException) -> str:
    """The useful part of a network error (urllib wraps the socket error in `reason`)."""
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason
    text = str(error) or type(error).__name__
    return text if type(error).__name__ in text else f"{type(error).__name__}: {text}"
