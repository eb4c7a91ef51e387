"""Decoding a list response while it is read (kubeapi/list_stream.py): whatever the pieces the
body comes in, the items and the list's own members are exactly what json.loads gives."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from kflow_operator.kubeapi.list_stream import ListDecodeError, ListDecoder


def server_list(count: int, token: str | None = None) -> dict[str, Any]:
    """Laid out as the API server writes a custom resource list: apiVersion, items, kind,
    metadata; items with strings to split, numbers, nesting and non-ASCII text."""
    meta: dict[str, Any] = {"resourceVersion": "4711"}
    if token:
        meta["continue"] = token
    items = [
        {
            "metadata": {"name": f"run-{i}", "uid": f"u{i}", "generation": i * 1000 + 7},
            "status": {"state": {"type": "FAILED", "message": "Deployment «d» not found"}},
            "spec": {"parameters": {"x": [1.5, None, True, {"y": "z" * i}]}},
        }
        for i in range(count)
    ]
    return {
        "apiVersion": "kflow.dev/v1alpha1",
        "items": items,
        "kind": "FlowRunList",
        "metadata": meta,
    }


def decode(body: bytes, cuts: list[int]) -> tuple[list[Any], dict[str, Any]]:
    decoder = ListDecoder()
    items: list[Any] = []
    last = 0
    for cut in [*cuts, len(body)]:
        items.extend(decoder.feed(body[last:cut]))
        last = cut
    items.extend(decoder.close())
    return items, decoder.members


@pytest.mark.parametrize("seed", range(20))
def test_any_pieces_give_what_json_loads_gives(seed: int) -> None:
    chooser = random.Random(seed)
    whole = server_list(chooser.randint(0, 30), chooser.choice([None, "next-page"]))
    indent = chooser.choice([None, 1])
    body = json.dumps(whole, indent=indent, ensure_ascii=False).encode() + b"\n"
    cuts = sorted(chooser.sample(range(1, len(body)), min(len(body) - 1, chooser.randint(1, 60))))
    items, members = decode(body, cuts)
    assert items == whole["items"]
    assert members == {k: v for k, v in whole.items() if k != "items"}


def test_every_single_byte_split_of_a_small_list() -> None:
    whole = {
        "metadata": {"resourceVersion": "12", "remainingItemCount": 350},
        "items": [{"n": 1.25e3}],
    }
    body = json.dumps(whole, separators=(",", ":")).encode()
    for cut in range(1, len(body)):
        assert decode(body, [cut]) == (whole["items"], {"metadata": whole["metadata"]}), cut


def test_a_number_cut_at_the_end_of_a_piece_is_not_taken_early() -> None:
    decoder = ListDecoder()
    assert decoder.feed(b'{"items":[1') == []
    assert decoder.feed(b"2") == []
    assert decoder.feed(b"3,4]") == [123, 4]
    assert decoder.feed(b',"limit":5') == []
    assert decoder.feed(b"00}") == []
    assert decoder.close() == []
    assert decoder.members == {"limit": 500}


def test_items_come_out_as_soon_as_they_are_complete() -> None:
    decoder = ListDecoder()
    assert decoder.feed(b'{"kind":"List","items":[{"a":1},{"b"') == [{"a": 1}]
    assert decoder.feed(b":2}]}") == [{"b": 2}]
    decoder.close()
    assert decoder.members == {"kind": "List"}


def test_an_empty_list() -> None:
    assert decode(b'{"items":[],"metadata":{}}', []) == ([], {"metadata": {}})
    assert decode(b"{}", []) == ([], {})


@pytest.mark.parametrize(
    "body",
    [b"", b'{"items":[{"a":1}', b'{"items":[{"a":1}]', b"[1,2]", b'{"items":[1 2]}', b'{"a":1}x'],
)
def test_a_cut_or_broken_body_is_an_error(body: bytes) -> None:
    decoder = ListDecoder()
    with pytest.raises(ListDecodeError):
        decoder.feed(body)
        decoder.close()


def test_a_multibyte_character_split_between_pieces() -> None:
    body = '{"items":["ä€𝄞"]}'.encode()
    for cut in range(1, len(body)):
        assert decode(body, [cut])[0] == ["ä€𝄞"], cut
