"""Every Kubernetes API request the operator's API layer (kubeapi/) makes, counted and timed.

The generated clients all end in one call, `rest_client.request(method, url, …)`, which returns
the HTTP response whatever its status (errors are raised later, from it). Wrapping that one call
of each client the API layer makes sees every request, with no change to any call site.
Kopf's own requests (its watches, peering, posting Events) go through Kopf's client and are not
counted here.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kflow_operator.metrics import instruments

NO_ANSWER = "<error>"
"""The code label of a request that got no HTTP answer (connection refused, timeout, TLS)."""

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def verb_and_resource(method: str, url: str) -> tuple[str, str]:
    """Kubernetes' verb and the resource (with its subresource) a request is for, from its
    method and URL: GET is `get` for one object, `list` for a collection, `watch` with
    ?watch=true. `/api/v1/namespaces/ns/pods/name/log` → ("get", "pods/log")."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["api"]:
        segments = segments[2:]
    elif segments[:1] == ["apis"]:
        segments = segments[3:]
    if segments[:1] == ["namespaces"] and len(segments) >= 3:
        segments = segments[2:]
    resource = segments[0] if segments else ""
    named = len(segments) >= 2
    if len(segments) >= 3:
        resource = f"{resource}/{segments[2]}"
    method = method.upper()
    if method == "GET":
        if parse_qs(parts.query).get("watch", [""])[0].lower() in ("true", "1"):
            return "watch", resource
        return ("get" if named else "list"), resource
    if method == "DELETE" and not named:
        return "deletecollection", resource
    return _VERBS.get(method, method.lower()), resource


def record(method: str, url: str, code: str, seconds: float) -> None:
    verb, resource = verb_and_resource(method, url)
    instruments.API_REQUESTS.labels(verb, resource, code).inc()
    instruments.API_LATENCY.labels(verb, resource).observe(seconds)


def timed(request: Callable[..., Any]) -> Callable[..., Any]:
    """`request` (a RESTClientObject's), recording each call's verb, code and latency."""

    @functools.wraps(request)
    def timed_request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        code = NO_ANSWER
        try:
            response = request(method, url, *args, **kwargs)
            code = str(getattr(response, "status", NO_ANSWER))
            return response
        except Exception as error:
            status = getattr(error, "status", None)
            if isinstance(status, int) and status > 0:
                code = str(status)
            raise
        finally:
            record(method, url, code, time.perf_counter() - started)

    return timed_request


def instrument(api_client: Any) -> Any:
    """The same client, its requests now recorded. Returns it, for use in a factory."""
    rest_client = api_client.rest_client
    rest_client.request = timed(rest_client.request)
    return api_client
