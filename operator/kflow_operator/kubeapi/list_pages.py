"""The pages of one list, the next asked for while the caller decodes the one it has.

Restarting over 50,000 FlowRuns is a hundred pages (93 MB); asked for one after the other, the
API server waited while the operator decoded a page, and the operator waited while the server
read the next. The list's continue token is read from the tail of the raw page, where the API
server writes the list's metadata, so the next request can go out before the page is decoded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

PageFetch = Callable[[str | None], bytes]
"""The raw body of the list page that a continue token (None: the first) names."""

_LIST_META = b'"metadata":'
_DECODER = json.JSONDecoder()


def continue_token(page: bytes) -> str | None:
    """The continue token of a raw list page when its metadata comes last (as the API server
    writes it); None when there is none or the page is not laid out so (then nothing is read
    ahead and the decoded page says)."""
    at = page.rfind(_LIST_META)
    if at < 0:
        return None
    try:
        text = page[at + len(_LIST_META) :].decode().lstrip()
        meta, end = _DECODER.raw_decode(text)
    except ValueError:
        return None
    if text[end:].strip() != "}" or not isinstance(meta, dict):
        return None  # an item's metadata, or something after the list's own
    token = meta.get("continue")
    return token if isinstance(token, str) and token else None


def decoded_pages(fetch: PageFetch, thread_name: str) -> Iterator[dict[str, Any]]:
    """Every page of the list, decoded, in order; the fetches run on one thread of their own
    (whatever client `fetch` uses is used from that thread only)."""
    with ThreadPoolExecutor(1, thread_name_prefix=thread_name) as ahead:
        pending: Future[bytes] | None = ahead.submit(fetch, None)
        while pending is not None:
            raw = pending.result()
            guess = continue_token(raw)
            pending = ahead.submit(fetch, guess) if guess else None
            page: dict[str, Any] = json.loads(raw)
            del raw
            token = (page.get("metadata") or {}).get("continue") or None
            if token != guess:
                # The tail was misread: the page read ahead (if any) is not the next one.
                pending = ahead.submit(fetch, token) if token else None
            yield page
