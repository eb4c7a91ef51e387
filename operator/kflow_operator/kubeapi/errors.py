"""What the API server's answers mean to the operator, decided once.

A 404 on a read means "not there" (None); a write at a resourceVersion answered 404 or 409 means
"not the object the decision was made on" (None: re-read, decide again). Refusals a user must act
on (a Job the server rejects, a missing right) become `Refused`, carrying the server's own words;
every other error propagates as it is, to be retried by whoever called.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import TypeVar

from kubernetes.client.exceptions import ApiException

T = TypeVar("T")

NOT_FOUND = 404
CONFLICT = 409
"""Also AlreadyExists: a create whose name is taken."""
FORBIDDEN = 403
INVALID = (400, 422)


class Refused(Exception):
    """The API server refused a request for a reason someone must act on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        """The server's own words (its Status message), else the HTTP reason."""


def api_message(error: ApiException) -> str:
    """The API server's own words for a refusal (its Status message), else the HTTP reason."""
    try:
        return str(json.loads(error.body or "").get("message"))
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)


def none_on(statuses: Collection[int], call: Callable[[], T]) -> T | None:
    """`call()`, or None when the server answers with one of `statuses`."""
    try:
        return call()
    except ApiException as error:
        if error.status in statuses:
            return None
        raise


def unless_missing(call: Callable[[], T]) -> T | None:
    """`call()`, or None when the object is not there (404)."""
    return none_on((NOT_FOUND,), call)


def unless_moved(call: Callable[[], T]) -> T | None:
    """`call()` made at a resourceVersion, or None when the object is gone (404) or changed
    since it was read (409)."""
    return none_on((NOT_FOUND, CONFLICT), call)


def refused_on(statuses: Collection[int], call: Callable[[], T]) -> T:
    """`call()`; the listed statuses raise `Refused` with the server's words."""
    try:
        return call()
    except ApiException as error:
        if error.status in statuses:
            raise Refused(int(error.status), api_message(error)) from error
        raise
