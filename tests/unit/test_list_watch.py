"""The Job launcher's list-then-watch picture: a re-list after an expired watch (410 Gone,
504 "Too large resource version", a dropped connection) reports every deletion it missed, with
the last state seen of the deleted object."""

from __future__ import annotations

import threading
from typing import Any
from unittest import mock

import pytest
import urllib3
from kflow_operator.kubeapi.list_watch import (
    LIST_PAGE,
    RETRY_AFTER_LIMIT_SECONDS,
    RETRY_SECONDS,
    Change,
    Failing,
    KnownObjects,
    ListWatch,
    WatchBehind,
    WatchExpired,
    resume_pause,
)
from kflow_operator.object_index import ObjectIndex
from kubernetes.client.exceptions import ApiException

from tests.support.list_answers import ListAnswer, list_answer


def pod(uid: str, version: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "uid": uid,
            "name": f"pod-{uid}",
            "resourceVersion": version,
            "managedFields": [{"manager": "kubelet"}],
        },
        "status": status,
    }


def kinds(changes: list[Change]) -> list[tuple[str, str]]:
    return [(c.type, c.object["metadata"]["uid"]) for c in changes]


def test_first_list_reports_everything_as_added() -> None:
    known = KnownObjects()
    changes = known.relist([pod("a", "1"), pod("b", "2")], "10")
    assert kinds(changes) == [("ADDED", "a"), ("ADDED", "b")]
    assert known.resource_version == "10"
    assert "managedFields" not in known.objects["a"]["metadata"]


def test_relist_reports_deletions_missed_while_not_watching_with_their_last_state() -> None:
    known = KnownObjects()
    known.relist([pod("a", "1"), pod("b", "2"), pod("c", "3")], "10")
    evicting = pod(
        "a", "11", conditions=[{"type": "DisruptionTarget", "reason": "EvictionByEvictionAPI"}]
    )
    known.apply({"type": "MODIFIED", "object": evicting})
    # the watch expires (504); meanwhile pod a is deleted, b changes, d appears
    changes = known.relist([pod("b", "12"), pod("c", "3"), pod("d", "13")], "20")
    assert kinds(changes) == [("DELETED", "a"), ("MODIFIED", "b"), ("ADDED", "d")]
    last = changes[0].object
    assert last["status"]["conditions"][0]["reason"] == "EvictionByEvictionAPI"
    assert known.resource_version == "20"
    assert set(known.objects) == {"b", "c", "d"}


def test_relist_with_nothing_changed_reports_nothing() -> None:
    known = KnownObjects()
    known.relist([pod("a", "1")], "10")
    assert known.relist([pod("a", "1")], "30") == []
    assert known.resource_version == "30"


def test_watch_events_update_the_picture_and_its_resource_version() -> None:
    known = KnownObjects()
    known.relist([pod("a", "1")], "10")
    added = known.apply({"type": "ADDED", "object": pod("b", "11")})
    assert added is not None and added.type == "ADDED"
    deleted = known.apply({"type": "DELETED", "object": pod("a", "12")})
    assert deleted is not None and deleted.type == "DELETED"
    assert set(known.objects) == {"b"} and known.resource_version == "12"
    bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "40"}}}
    assert known.apply(bookmark) is None
    assert known.resource_version == "40"
    # an object deleted through the watch is not reported again by the next re-list
    assert known.relist([pod("b", "11")], "41") == []


@pytest.mark.parametrize(
    ("code", "reason", "message"),
    [
        (410, "Expired", "too old resource version: 5 (120)"),
        (504, "Timeout", "Too large resource version: 200, current: 150"),
        (500, "InternalError", "etcd went away"),
    ],
)
def test_an_error_event_ends_the_watch_so_that_it_lists_again(
    code: int, reason: str, message: str
) -> None:
    known = KnownObjects()
    known.relist([pod("a", "1")], "10")
    status = {"kind": "Status", "code": code, "reason": reason, "message": message}
    with pytest.raises(WatchExpired, match=str(code)):
        known.apply({"type": "ERROR", "object": status})
    assert known.resource_version == "10", "an error event moves nothing"
    assert set(known.objects) == {"a"}


def test_a_watch_ahead_of_the_servers_cache_is_asked_for_again_without_listing() -> None:
    """etcd 3.4 answers 504 "Too large resource version" until a pod changes; re-listing then
    only made the next watch fail the same way, twice a second."""
    known = KnownObjects()
    known.relist([pod("a", "1")], "10")
    status = {"code": 504, "reason": "Timeout", "message": "Too large resource version"}
    with pytest.raises(WatchBehind):
        known.apply({"type": "ERROR", "object": status})
    gone = {"code": 410, "reason": "Expired", "message": "too old resource version"}
    with pytest.raises(WatchExpired) as expired:
        known.apply({"type": "ERROR", "object": gone})
    assert not isinstance(expired.value, WatchBehind)

    closed = threading.Event()
    calls: list[str] = []

    def lister(**kwargs: Any) -> Any:
        if not kwargs.get("watch"):
            calls.append("list")
            return list_answer([])
        calls.append("watch")
        if calls.count("watch") == 3:
            closed.set()
        raise ApiException(status=504, reason="Too large resource version")

    with mock.patch("kflow_operator.kubeapi.list_watch.BEHIND_RETRY_SECONDS", 0.01):
        ListWatch("pods", lister, "", lambda change: None, closed).run()
    assert calls == ["list", "watch", "watch", "watch"]


def too_many(retry_after: str | None = None) -> ApiException:
    error = ApiException(status=429, reason="Too Many Requests")
    error.headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return error


def test_an_overloaded_server_and_a_lost_connection_keep_the_watch_position() -> None:
    """A 429 used to re-list: thousands of objects asked of a server that had just said it was
    overloaded, each list tens of MiB in the operator's memory."""
    assert resume_pause(too_many(), 0) == RETRY_SECONDS[0]
    assert resume_pause(too_many("3"), 0) == 3.0
    assert resume_pause(too_many("3600"), 0) == RETRY_AFTER_LIMIT_SECONDS
    assert resume_pause(too_many("soon"), 2) == RETRY_SECONDS[2]
    assert resume_pause(ConnectionRefusedError(), 9) == RETRY_SECONDS[-1]
    assert resume_pause(urllib3.exceptions.ProtocolError("dropped"), 0) == RETRY_SECONDS[0]
    assert (
        resume_pause(
            urllib3.exceptions.ReadTimeoutError(
                urllib3.HTTPConnectionPool("127.0.0.1"), "/", "quiet"
            ),
            0,
        )
        is not None
    )
    for status in (410, 403, 500):
        assert resume_pause(ApiException(status=status), 0) is None
    assert resume_pause(ValueError("bad JSON"), 0) is None


def test_a_watch_refused_with_429_is_asked_for_again_from_where_it_was() -> None:
    closed = threading.Event()
    asked: list[tuple[str, str | None]] = []

    def lister(**kwargs: Any) -> Any:
        if not kwargs.get("watch"):
            asked.append(("list", None))
            return list_answer([])
        asked.append(("watch", kwargs.get("resource_version")))
        if len(asked) == 4:
            closed.set()
        raise too_many("0")

    with mock.patch("kflow_operator.kubeapi.list_watch.RETRY_SECONDS", (0.01,)):
        ListWatch("pods", lister, "", lambda change: None, closed).run()
    assert asked == [("list", None), ("watch", "10"), ("watch", "10"), ("watch", "10")]


def test_a_list_that_fails_is_made_again_and_the_watch_says_since_when_it_fails() -> None:
    """Without a list there is no position to resume from: a refused connection or an API
    error before it asks for the list again, however resumable the same error is later. Whoever
    relies on the picture (a benchmark's waits) can tell a quiet watch from one that cannot
    reach the server; a watch ahead of the server's cache is not failing."""
    closed = threading.Event()
    refusals: list[Exception] = [ConnectionRefusedError("no API server"), too_many("0")]
    asked: list[tuple[str, str | None, Failing | None]] = []

    def lister(**kwargs: Any) -> Any:
        call = "watch" if kwargs.get("watch") else "list"
        asked.append((call, kwargs.get("resource_version"), watch.failing))
        if refusals:
            raise refusals.pop(0)
        if kwargs.get("watch"):
            closed.set()
            raise ApiException(status=504, reason="Too large resource version")
        return list_answer([])

    watch = ListWatch("pods", lister, "", lambda change: None, closed)
    with mock.patch("kflow_operator.kubeapi.list_watch.RETRY_SECONDS", (0.01,)):
        watch.run()
    assert [(call, version) for call, version, _ in asked] == [
        ("list", "0"),
        ("list", "0"),
        ("list", "0"),
        ("watch", "10"),
    ]
    first, second, third, fourth = (failing for _, _, failing in asked)
    assert first is None
    assert second is not None and str(second.error) == "no API server"
    assert third is not None and third.error is not second.error
    assert third.since == second.since
    assert fourth is None, "the list came in"
    assert watch.failing is None, "a 504 behind the cache is no failure"


def test_a_watch_feeding_an_index_keeps_only_what_the_index_keeps() -> None:
    """The FlowRun watch kept every run's task runs and result beside the index, which drops
    them: a second copy of the largest part of each run."""
    index = ObjectIndex(drop_status=("taskRuns", "result"))
    known = KnownObjects(index.kept)
    run: dict[str, Any] = {
        "metadata": {"uid": "r", "namespace": "ns", "name": "r", "resourceVersion": "1"},
        "status": {"state": {"type": "RUNNING"}, "taskRuns": [{"name": "t"}] * 3, "result": {}},
    }
    known.relist([run], "1")
    known.apply(
        {
            "type": "MODIFIED",
            "object": {**run, "metadata": {**run["metadata"], "resourceVersion": "2"}},
        }
    )
    assert known.objects["r"]["status"] == {"state": {"type": "RUNNING"}}
    deleted = known.relist([], "3")
    assert [c.type for c in deleted] == ["DELETED"]
    assert deleted[0].object["status"] == {"state": {"type": "RUNNING"}}


def page(names: list[str], token: str | None) -> ListAnswer:
    return list_answer([pod(name, "5") for name in names], **({"continue": token} if token else {}))


def test_a_list_is_read_in_pages_and_watched_from_its_revision() -> None:
    """One unpaged list of tens of thousands of FlowRuns was decoded at once."""
    closed = threading.Event()
    asked: list[dict[str, Any]] = []
    seen: list[tuple[str, str]] = []

    def lister(**kwargs: Any) -> Any:
        asked.append(kwargs)
        if kwargs.get("watch"):
            closed.set()
            raise ApiException(status=504, reason="Too large resource version")
        if kwargs.get("_continue") is None:
            return page(["a", "b"], "next")
        return page(["c"], None)

    with mock.patch("kflow_operator.kubeapi.list_watch.BEHIND_RETRY_SECONDS", 0.01):
        ListWatch(
            "pods", lister, "", lambda c: seen.append((c.type, c.object["metadata"]["uid"])), closed
        ).run()
    assert [(k.get("limit"), k.get("_continue"), k.get("watch")) for k in asked] == [
        (LIST_PAGE, None, None),
        (LIST_PAGE, "next", None),
        (None, None, True),
    ]
    assert asked[-1]["resource_version"] == "10"
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]
    # The first page from the API server's watch cache; a continued page carries its version
    # in the token (the API server refuses both).
    assert (asked[0].get("resource_version"), asked[0].get("resource_version_match")) == ("0", None)
    assert "resource_version" not in asked[1]


def test_listing_again_never_asks_for_a_picture_older_than_the_one_reported() -> None:
    closed = threading.Event()
    lists: list[tuple[str | None, str | None]] = []
    gone = [ApiException(status=410, reason="Gone")]

    def lister(**kwargs: Any) -> Any:
        if not kwargs.get("watch"):
            lists.append((kwargs.get("resource_version"), kwargs.get("resource_version_match")))
            return list_answer([pod("a", "5")], version=str(10 + len(lists)))
        if gone:
            raise gone.pop()
        closed.set()
        raise ApiException(status=504, reason="Too large resource version")

    with (
        mock.patch("kflow_operator.kubeapi.list_watch.RETRY_SECONDS", (0.01,)),
        mock.patch("kflow_operator.kubeapi.list_watch.BEHIND_RETRY_SECONDS", 0.01),
    ):
        ListWatch("pods", lister, "", lambda change: None, closed).run()
    assert lists == [("0", None), ("11", "NotOlderThan")]
