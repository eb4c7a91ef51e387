"""One string object for repeated strings of kept objects (shared_strings.py), and the list and
watch of the operator's index sharing them as objects arrive."""

from __future__ import annotations

import json
import threading
from typing import Any
from unittest import mock

from kflow_operator.kubeapi.list_watch import ListWatch
from kflow_operator.shared_strings import LONGEST, share_fresh, share_strings
from kubernetes.client.exceptions import ApiException

from tests.support.list_answers import list_answer


def decoded(name: str) -> dict[str, Any]:
    """A body as the JSON decoder makes it: every string its own object."""
    body = {
        "metadata": {"name": name, "namespace": "team-a"},
        "status": {"state": {"type": "FAILED", "message": "x" * (LONGEST + 1)}},
        "spec": {"tags": ["nightly", "etl"]},
    }
    result: dict[str, Any] = json.loads(json.dumps(body))
    return result


def key_object(body: dict[str, Any], key: str) -> str:
    return next(k for k in body if k == key)


def test_share_strings_shares_short_values_in_place_and_leaves_keys() -> None:
    first, second = decoded("a"), decoded("b")
    status = first["status"]
    for body in (first, second):
        share_strings(body)
    assert first["status"] is status, "in place: readers keep the objects they hold"
    assert first["metadata"]["namespace"] is second["metadata"]["namespace"]
    assert first["spec"]["tags"][0] is second["spec"]["tags"][0]
    long_a, long_b = first["status"]["state"]["message"], second["status"]["state"]["message"]
    assert long_a == long_b and long_a is not long_b, "long values are not hashed"
    assert key_object(first, "metadata") is not key_object(second, "metadata")


def test_share_fresh_shares_keys_too_keeping_dicts_and_order() -> None:
    first, second = decoded("a"), decoded("b")
    metadata = first["metadata"]
    for body in (first, second):
        share_fresh(body)
    assert first["metadata"] is metadata
    assert list(first) == ["metadata", "status", "spec"]
    assert key_object(first, "metadata") is key_object(second, "metadata")
    assert key_object(first["status"]["state"], "type") is key_object(
        second["status"]["state"], "type"
    )
    assert first["metadata"]["namespace"] is second["metadata"]["namespace"]
    assert first == decoded("a")


def test_a_listed_and_a_watched_object_share_their_keys() -> None:
    """Each list item and watch event is decoded on its own: without sharing, every kept
    object held its own copy of every key (27 MiB more at 20,000 FlowRuns)."""
    closed = threading.Event()
    seen: list[dict[str, Any]] = []

    class OneEvent:
        def stream(self, amt: int | None = None, decode_content: Any = None) -> Any:
            event = {"type": "ADDED", "object": {**decoded("c"), "metadata": {"name": "c"}}}
            yield json.dumps(event).encode() + b"\n"

        def release_conn(self) -> None:
            closed.set()

    def lister(**kwargs: Any) -> Any:
        if not kwargs.get("watch"):
            return list_answer([decoded("a"), decoded("b")])
        if closed.is_set():
            raise ApiException(status=504, reason="Too large resource version")
        return OneEvent()

    with mock.patch("kflow_operator.kubeapi.list_watch.BEHIND_RETRY_SECONDS", 0.01):
        ListWatch("runs", lister, "", lambda change: seen.append(change.object), closed).run()
    assert [body["metadata"]["name"] for body in seen] == ["a", "b", "c"]
    keys = {id(key_object(body, "status")) for body in seen}
    assert len(keys) == 1, "one 'status' key object for all three"
