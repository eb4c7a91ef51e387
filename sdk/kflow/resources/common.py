"""Pieces shared by both resources: API group, timestamps, truncation, conditions, model config."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

GROUP = "kflow.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


TRUNCATION_MARKER = "… (truncated)"


def format_timestamp(
    value: datetime, *, timespec: Literal["microseconds", "seconds"] = "microseconds"
) -> str:
    """RFC 3339 in UTC with a `Z`, the way Kubernetes itself writes times.

    Every time kflow writes into a resource goes through here; `timespec="seconds"` is for
    times quoted in messages people read. A naive time is taken as UTC, as `parse_timestamp`
    does.
    """
    return _as_utc(value).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 time as written by Kubernetes or by `format_timestamp`."""
    return _as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _as_utc(value: datetime) -> datetime:
    # A naive time in a resource is ambiguous; the API server only ever hands out UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def truncate(text: str, limit: int) -> str:
    """Shorten `text` to at most `limit` characters, ending in a marker so a reader knows.

    The CRD bounds every message and name; cutting here keeps a write from being refused.
    """
    if len(text) <= limit:
        return text
    if limit <= len(TRUNCATION_MARKER):
        return text[:limit]
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


Timestamp = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
"""An aware UTC datetime that serialises as RFC 3339 with `Z`."""


class SpecModel(BaseModel):
    """Specs are user input: an unknown field is a mistake to report, not to drop."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=False
    )


class StatusModel(BaseModel):
    """Status is written by two parties; tolerate a field this side does not know yet."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(StatusModel):
    """A Kubernetes-style condition (`kubectl describe` and `kubectl wait` read these)."""

    type: Annotated[str, Field(max_length=316)]
    status: ConditionStatus
    reason: Annotated[str, Field(max_length=1024)] | None = None
    message: Annotated[str, Field(max_length=32768)] | None = None
    last_transition_time: Timestamp
    observed_generation: Annotated[int, Field(ge=0)] | None = None
