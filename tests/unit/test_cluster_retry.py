"""Which API failures the flow process retries."""

from __future__ import annotations

import http.client
import ssl

import pytest
from kflow.cluster.flowrun_api import is_transient, retrying
from kflow.cluster.rest import ApiError, WatchStreamError


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ApiError(500, "Reason"), True),
        (ApiError(503, "Reason"), True),
        (ApiError(429, "Reason"), True),
        (ApiError(404, "Reason"), False),
        (ApiError(403, "Reason"), False),
        (ApiError(409, "Reason"), False),
        (ConnectionResetError(), True),
        (http.client.RemoteDisconnected("cut"), True),
        (http.client.IncompleteRead(b"partial"), True),
        (WatchStreamError("cut mid-event"), True),
        (ssl.SSLError("handshake"), True),
        (TimeoutError(), True),
        (ValueError("bug"), False),
    ],
)
def test_transient_failures(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_retrying_outlasts_transient_failures_and_not_others() -> None:
    failures = [ConnectionResetError(), ApiError(503, "Reason")]

    def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    assert retrying(flaky, timeout=5) == "ok"

    def forbidden() -> str:
        raise ApiError(403, "Reason")

    with pytest.raises(ApiError):
        retrying(forbidden, timeout=5)
