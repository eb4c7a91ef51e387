"""The `--metrics-address HOST:PORT` endpoint: Prometheus text on any path (`/metrics`)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from prometheus_client import start_http_server

from kflow_operator.acting import is_active
from kflow_operator.metrics.instruments import REGISTRY
from kflow_operator.metrics.replica import set_build_info
from kflow_operator.metrics.run_facts import RunSummary
from kflow_operator.metrics.run_gauges import Bodies, RunGauges, Summaries
from kflow_operator.metrics.thread_pools import PoolGauges
from kflow_operator.object_index import ObjectIndex
from kflow_operator.operator_context import OperatorContext

IndexOf = Callable[[], ObjectIndex | None]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """`HOST:PORT`, `[IPv6]:PORT` or `:PORT` (every interface); for argparse."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected HOST:PORT, e.g. 0.0.0.0:8081 or 127.0.0.1:9090"
        )
    return Address(host or "0.0.0.0", int(port))


def _summaries_of(index: IndexOf) -> Summaries:
    """The run summaries of an index that may not exist yet (the informers start with Kopf)."""

    def summaries() -> Iterable[RunSummary]:
        found = index()
        return cast(list[RunSummary], found.summaries()) if found is not None else ()

    return summaries


def _bodies_of(index: IndexOf) -> Bodies:
    """The bodies of an index that may not exist yet."""

    def bodies() -> Iterable[Mapping[str, Any]]:
        found = index()
        return found.bodies() if found is not None else ()

    return bodies


def serve(address: Address, context: OperatorContext) -> None:
    """Serve the registry on `address` from a daemon thread; the run gauges read the
    context's indexes once its informers exist (before that they report no runs)."""

    def runs() -> ObjectIndex | None:
        return context.informers.flowruns if context.informers is not None else None

    def deployments() -> ObjectIndex | None:
        return context.informers.deployments if context.informers is not None else None

    REGISTRY.register(RunGauges(_summaries_of(runs), _bodies_of(deployments), is_active))
    REGISTRY.register(PoolGauges())
    set_build_info()
    listen(address)


def listen(address: Address) -> None:
    """Serve the registry from a daemon thread; an address that cannot be bound ends the
    operator with a message naming it (no traceback)."""
    try:
        start_http_server(address.port, address.host, registry=REGISTRY)
    except OSError as error:
        raise SystemExit(
            f"kflow-operator: cannot serve metrics on {address} ({error.strerror or error}); "
            "choose another --metrics-address HOST:PORT"
        ) from error
    logger.info("Serving Prometheus metrics on http://%s/metrics.", address)
