"""The custom-objects API answers with the decoded JSON, which the kubernetes client types as
`object`: a test reading a FlowRun or a Deployment from it checks it got a JSON object (or a
list of them) and has it typed from then on."""

from __future__ import annotations

from typing import Any


def json_object(answer: object) -> dict[str, Any]:
    """One object (a get, create or patch answer)."""
    assert isinstance(answer, dict), f"expected a JSON object, got {answer!r}"
    return answer


def items_of(listing: object) -> list[dict[str, Any]]:
    """The objects of a list answer."""
    items = json_object(listing)["items"]
    assert isinstance(items, list), f"expected a list of items, got {items!r}"
    return items
