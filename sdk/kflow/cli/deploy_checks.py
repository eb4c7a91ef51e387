"""The checks every kflow.yaml entry goes through (deployments and work pools alike): keys
nobody knows, with the nearest known one suggested, and what a pydantic model refuses, each
reported once on the line of the field it is in."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel


@dataclass
class Problems:
    """The problems of one deployment, each located by the field (dotted path) it is in."""

    path: Path
    deployment: str
    lines: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    kind: str = "deployment"
    """What the entry is, as the problem lines name it: `deployment` or `work pool`."""

    def add(self, where: str, message: str) -> None:
        self.lines.append(f"{self.path}: {self.kind} {self.deployment}: {where}: {message}")
        self.fields.append(where)

    def covers(self, where: str) -> bool:
        """Whether a problem was already reported in this field, inside it or around it
        (a second validator's view of the same mistake would only repeat it)."""
        return any(_nested(where, seen) or _nested(seen, where) for seen in self.fields)


def _nested(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith((outer + ".", outer + "["))


def keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def check_keys(
    mapping: Mapping[str, Any], known: Sequence[str], prefix: str, problems: Problems
) -> None:
    for key in mapping:
        if key not in known:
            problems.add(join(prefix, str(key)), unknown_key(str(key), known))


def unknown_key(key: str, known: Sequence[str]) -> str:
    """The problem line of a key nobody knows: the nearest known key, or all of them."""
    if to_camel(key) in known:
        return f"unknown key; did you mean `{to_camel(key)}`? (spec fields are camelCase)"
    lowered = {candidate.lower(): candidate for candidate in known}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean `{lowered[close[0]]}`?"
    return f"unknown key; expected one of: {', '.join(known)}"


def check_model(
    model: type[BaseModel],
    data: Mapping[str, Any],
    prefix: str,
    problems: Problems,
    checked: set[str] | frozenset[str] = frozenset(),
) -> None:
    """Report what the pydantic model refuses and no earlier check reported; fields in
    `checked` were validated item by item already (only their length is left)."""
    try:
        model.model_validate(dict(data))
    except ValidationError as error:
        for problem in error.errors():
            loc = problem["loc"]
            if len(loc) > 1 and loc[0] in checked:
                continue
            where = join(prefix, _dotted(loc)) or "spec"
            if problems.covers(where):
                continue
            if problem["type"] == "extra_forbidden":
                owner = _model_at(model, loc[:-1])
                problems.add(where, unknown_key(str(loc[-1]), keys_of(owner) if owner else []))
                continue
            message = str(problem["msg"]).removeprefix("Value error, ")
            value = problem.get("input")
            if not isinstance(value, dict | list):
                message += f" (got {value!r})"
            problems.add(where, message)


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The nested model a pydantic error location points into (list indexes skipped)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or isinstance(part, int):
            continue
        info = next(
            (i for name, i in current.model_fields.items() if (i.alias or name) == part), None
        )
        current = _first_model(info.annotation) if info is not None else None
    return current


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _first_model(argument)
        if found is not None:
            return found
    return None


def _dotted(loc: Sequence[int | str]) -> str:
    """`schedules[0].cron` for the location ("schedules", 0, "cron")."""
    text = ""
    for part in loc:
        text = f"{text}[{part}]" if isinstance(part, int) else join(text, part)
    return text


def join(prefix: str, key: str) -> str:
    if not prefix or not key:
        return prefix or key
    return f"{prefix}{key}" if key.startswith("[") else f"{prefix}.{key}"
