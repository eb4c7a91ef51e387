"""HTML built from templates whose every substituted value is escaped unless it is already
markup, so a run name, a parameter or a state message can never add an element to a page.

`html("<b>$name</b>", name=user_text)` escapes `user_text`; a value that is `Markup` (the
result of an earlier `html()` call, or `join()`) goes in as it is. There is no other way to
put text into a page in the dashboard.
"""

from __future__ import annotations

import html as _html
from collections.abc import Iterable
from string import Template
from urllib.parse import urlencode


class Markup(str):
    """Text that is already HTML (built by `html()` from escaped parts)."""

    __slots__ = ()


def escape(value: object) -> Markup:
    """`value` as HTML text: markup unchanged, anything else stringified and escaped (quotes
    too, so it is safe inside attribute values)."""
    if isinstance(value, Markup):
        return value
    return Markup(_html.escape("" if value is None else str(value), quote=True))


def html(template: str, **values: object) -> Markup:
    """Substitute `$name` placeholders with escaped values."""
    return Markup(Template(template).substitute({k: escape(v) for k, v in values.items()}))


def join(parts: Iterable[object], separator: str = "") -> Markup:
    """Escaped parts joined into one piece of markup."""
    return Markup(escape(separator).join(escape(part) for part in parts))


def query_string(values: dict[str, str | int | None]) -> str:
    """`?a=1&b=x` from the values that are set ('' when none is), for links that keep the
    page's filters; escape() it when it goes into an attribute."""
    kept = {k: str(v) for k, v in values.items() if v not in (None, "")}
    return f"?{urlencode(kept)}" if kept else ""
