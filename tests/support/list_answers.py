"""What a lister called with `_preload_content=False` answers a list request with: an HTTP
response whose body is read in pieces (ListWatch decodes it as it reads)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


class ListAnswer:
    def __init__(self, body: dict[str, Any], piece: int = 7) -> None:
        """`piece`: bytes per read, small so items straddle reads as on a real connection."""
        self.data = json.dumps(body).encode()
        self._piece = piece
        self.released = False

    def stream(self, amt: int | None = None, decode_content: Any = None) -> Iterator[bytes]:
        for at in range(0, len(self.data), self._piece):
            yield self.data[at : at + self._piece]

    def release_conn(self) -> None:
        self.released = True


def list_answer(items: list[dict[str, Any]], version: str = "10", **meta: str) -> ListAnswer:
    return ListAnswer({"metadata": {"resourceVersion": version, **meta}, "items": items})
