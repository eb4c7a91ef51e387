"""Reading a list's pages ahead: the continue token from the raw tail, the next page asked for
before the caller has the current one, and a misread tail never costs a page."""

from __future__ import annotations

import json
import threading
from typing import Any

from kflow_operator.kubeapi.list_pages import continue_token, decoded_pages


def server_page(names: list[str], token: str | None) -> bytes:
    """Laid out as the API server writes a list: apiVersion, items, kind, metadata."""
    meta: dict[str, Any] = {"resourceVersion": "10"}
    if token:
        meta["continue"] = token
    items = [{"metadata": {"name": n, "continue": "not-this"}} for n in names]
    return json.dumps(
        {"apiVersion": "v1", "items": items, "kind": "List", "metadata": meta},
        separators=(",", ":"),
    ).encode()


def test_the_token_is_read_from_the_lists_own_metadata_at_the_tail() -> None:
    assert continue_token(server_page(["a"], "next")) == "next"
    assert continue_token(server_page(["a"], None)) is None
    assert continue_token(server_page([], "next") + b"\n") == "next"


def test_a_page_laid_out_otherwise_gives_no_token() -> None:
    metadata_first = json.dumps(
        {"metadata": {"continue": "next"}, "items": [{"metadata": {"name": "a"}}]}
    ).encode()
    assert continue_token(metadata_first) is None, "the last 'metadata' is an item's"
    assert continue_token(b'{"items":[]}') is None
    assert continue_token(b'{"items":[],"metadata":{"continue":') is None


def test_the_next_page_is_asked_for_before_the_caller_has_this_one() -> None:
    asked: list[str | None] = []
    second_asked = threading.Event()
    pages = {None: server_page(["a", "b"], "p2"), "p2": server_page(["c"], None)}

    def fetch(token: str | None) -> bytes:
        asked.append(token)
        if token == "p2":
            second_asked.set()
        return pages[token]

    listing = decoded_pages(fetch, "test-ahead")
    first = next(listing)
    assert second_asked.wait(5), "the second page was not asked for while the first was read"
    rest = list(listing)
    names = [i["metadata"]["name"] for page in [first, *rest] for i in page["items"]]
    assert names == ["a", "b", "c"]
    assert asked == [None, "p2"]


def test_a_misread_tail_is_corrected_from_the_decoded_page() -> None:
    """The list's metadata not last: nothing read ahead, the decoded page's token followed."""
    asked: list[str | None] = []

    def fetch(token: str | None) -> bytes:
        asked.append(token)
        meta = {"continue": "p2"} if token is None else {}
        item = {"metadata": {"name": str(token)}}
        return json.dumps({"metadata": meta, "items": [item]}).encode()

    assert [p["items"][0]["metadata"]["name"] for p in decoded_pages(fetch, "t")] == ["None", "p2"]
    assert asked == [None, "p2"]
