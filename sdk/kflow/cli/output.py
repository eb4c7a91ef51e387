"""`-o json|yaml`: the one way `kflow flow-run ls|inspect` print documents, local or cluster."""

from __future__ import annotations

import json
from typing import Any

FORMATS = ("json", "yaml")


def render(document: Any, output: str) -> str:
    """The document as JSON (indented) or YAML (keys in their order), ending in a newline."""
    if output == "json":
        return json.dumps(document, indent=2) + "\n"
    import yaml

    return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
