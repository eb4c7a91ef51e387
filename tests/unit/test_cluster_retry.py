"""Which API failures the flow process retries."""

from __future__ import annotations

import pytest
import urllib3
from kflow.cluster.flowrun_api import is_transient, retrying
from kubernetes import client


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (client.ApiException(status=500), True),
        (client.ApiException(status=503), True),
        (client.ApiException(status=429), True),
        (client.ApiException(status=404), False),
        (client.ApiException(status=403), False),
        (client.ApiException(status=409), False),
        (ConnectionResetError(), True),
        (urllib3.exceptions.ProtocolError("cut"), True),
        (ValueError("bug"), False),
    ],
)
def test_transient_failures(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_retrying_outlasts_transient_failures_and_not_others() -> None:
    failures = [ConnectionResetError(), client.ApiException(status=503)]

    def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    assert retrying(flaky, timeout=5) == "ok"

    def forbidden() -> str:
        raise client.ApiException(status=403)

    with pytest.raises(client.ApiException):
        retrying(forbidden, timeout=5)
