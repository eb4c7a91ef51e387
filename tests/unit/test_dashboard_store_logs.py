"""The dashboard's Store (what pages read) and its log tails of process runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kflow.dashboard.logs import TAIL_BYTES, TAIL_LINES, file_tail, last_lines
from kflow.dashboard.store import Change, Store


def run(name: str, version: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "resourceVersion": version, "managedFields": [{}]}
    return {"metadata": meta, "spec": {}}


def test_watch_events_replace_add_and_delete_objects_without_managed_fields() -> None:
    store = Store()
    store.replace("flowruns", [run("a", "1")])
    store.apply("flowruns", "ADDED", run("b", "2"))
    store.apply("flowruns", "DELETED", run("a", "3"))
    assert [o["metadata"]["name"] for o in store.objects("flowruns")] == ["b"]
    assert "managedFields" not in store.objects("flowruns")[0]["metadata"]
    assert store.synced == {"flowruns": True, "deployments": False}


def test_a_created_object_is_known_at_once_but_never_replaces_a_watched_one() -> None:
    store = Store()
    store.created("flowruns", run("new", "5"))
    assert store.get("flowruns", "ns", "new") is not None
    store.apply("flowruns", "MODIFIED", run("new", "7"))
    store.created("flowruns", run("new", "5"))
    found = store.get("flowruns", "ns", "new")
    assert found is not None and found["metadata"]["resourceVersion"] == "7"


def test_subscribers_get_each_changed_object_once_per_batch() -> None:
    async def main() -> list[Change]:
        store = Store()
        subscription = store.subscribe()
        for version in ("1", "2", "3"):
            store.apply("flowruns", "MODIFIED", run("a", version))
        store.apply("deployments", "ADDED", run("d", "4"))
        store.fail("flowruns", "403 Forbidden")
        store.fail("flowruns", "403 Forbidden")  # the same problem again is no news
        return await asyncio.wait_for(subscription.next_batch(), 1)

    assert asyncio.run(main()) == [
        Change("flowruns", "ns", "a"),
        Change("deployments", "ns", "d"),
        Change("flowruns", "", ""),
    ]


def test_a_log_file_tail_is_its_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("".join(f"line {i}\n" for i in range(TAIL_LINES + 50)))
    tail = file_tail(log)
    assert tail.problem is None and tail.source == f"file {log}"
    assert tail.lines[0] == "line 50" and tail.lines[-1] == f"line {TAIL_LINES + 49}"


def test_a_huge_log_file_is_read_from_its_end_only(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(b"x" * (TAIL_BYTES * 3) + b"\nthe end\n")
    assert file_tail(log).lines == ("the end",)
    assert last_lines("partial\nwhole\n", cut=True) == ("whole",)


def test_a_log_file_on_another_host_is_explained(tmp_path: Path) -> None:
    tail = file_tail(tmp_path / "elsewhere.log")
    assert tail.lines == ()
    assert tail.problem is not None and "host of the operator that started them" in tail.problem
