"""POST a JSON document to a webhook (blocking: called from a worker thread)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

from kflow_operator.notifications.errors import DeliveryError, describe

ANSWER_LIMIT_BYTES = 65536


def post_json(url: str, document: dict[str, Any], timeout: float) -> None:
    """Deliver `document`; DeliveryError (which may still quote the URL: the caller redacts)
    unless the receiver answers 2xx."""
    if not url.startswith(("http://", "https://")):
        raise DeliveryError("the webhook URL must start with http:// or https://")
    request = urllib.request.Request(
        url,
        data=json.dumps(document).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "kflow-operator"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(ANSWER_LIMIT_BYTES)
    except urllib.error.HTTPError as error:
        raise DeliveryError(f"the webhook answered HTTP {error.code} {error.reason}") from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise DeliveryError(f"could not reach the webhook: {describe(error)}") from None
