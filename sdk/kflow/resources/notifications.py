"""Failure notifications: `spec.notifications[]` of a Deployment or WorkPool, and the record of
each delivery in a FlowRun's `status.notifications[]` (docs/notifications.md).

A target never holds a secret itself: the webhook URL and the SMTP credentials are read from
Secrets by the operator when it sends, so neither ever lands in a resource, an Event or a log.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from kflow.resources.common import SpecModel, StatusModel, Timestamp

NOTIFICATIONS_LIMIT = 10
"""Targets per Deployment or WorkPool."""
NOTIFICATION_RECORDS_LIMIT = 32
"""Deliveries a FlowRun's status remembers (targets × notified transitions)."""
NOTIFICATION_ERROR_LIMIT = 1024

SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
TARGET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SecretName = Annotated[str, Field(min_length=1, max_length=253, pattern=SECRET_NAME_PATTERN)]
EmailAddress = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]


class NotifiedState(StrEnum):
    """What a target is notified of: a state type, or the name of a state."""

    FAILED = "FAILED"
    CRASHED = "CRASHED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    LATE = "Late"
    TIMED_OUT = "TimedOut"


class WebhookFormat(StrEnum):
    SLACK = "slack"
    """A Slack incoming-webhook message (`text` plus `blocks`)."""
    GENERIC = "generic"
    """kflow's own JSON document (docs/notifications.md)."""


class SecretKeyRef(SpecModel):
    """One key of a Secret in the run's namespace."""

    name: SecretName
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN)]


class UrlFrom(SpecModel):
    secret_key_ref: SecretKeyRef


class WebhookTarget(SpecModel):
    url_from: UrlFrom
    format: WebhookFormat = WebhookFormat.GENERIC


class SecretRef(SpecModel):
    """A whole Secret in the run's namespace."""

    name: SecretName


class CredentialsFrom(SpecModel):
    secret_ref: SecretRef
    """A Secret with the keys `username` and `password`."""


class EmailTarget(SpecModel):
    """Mail through an SMTP server; STARTTLS is used whenever the server offers it."""

    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    from_: Annotated[EmailAddress, Field(alias="from")]
    to: Annotated[list[EmailAddress], Field(min_length=1, max_length=50)]
    credentials_from: CredentialsFrom | None = None


class NotificationSpec(SpecModel):
    """One target and the states it is told about."""

    name: Annotated[str, Field(min_length=1, max_length=63, pattern=TARGET_NAME_PATTERN)] | None = (
        None
    )
    """How the run's status names this target; default `deployment[i]` / `workpool[i]`."""
    states: Annotated[list[NotifiedState], Field(min_length=1, max_length=len(NotifiedState))]
    """Not `on`: YAML 1.1, which kubectl speaks, reads an unquoted `on:` key as `true`."""
    webhook: WebhookTarget | None = None
    email: EmailTarget | None = None

    @model_validator(mode="after")
    def _one_target(self) -> NotificationSpec:
        """The same rule as the CRD's CEL validation."""
        if (self.webhook is None) == (self.email is None):
            raise ValueError("each notification needs exactly one of `webhook` or `email`")
        return self


Notifications = Annotated[list[NotificationSpec], Field(max_length=NOTIFICATIONS_LIMIT)]


class DeliveryPhase(StrEnum):
    PENDING = "Pending"
    """Not delivered yet; the next attempt is at `nextAttemptTime`."""
    SENT = "Sent"
    GAVE_UP = "GaveUp"
    """Every attempt within the retry window failed; `lastError` says why."""


class NotificationRecord(StatusModel):
    """One target told (or being told) of one state transition of the run."""

    target: Annotated[str, Field(min_length=1, max_length=128)]
    state: Annotated[str, Field(max_length=16)]
    """The transition's state type."""
    state_name: Annotated[str, Field(max_length=64)]
    transition_time: Timestamp
    """The state's timestamp: with target, state and name, what identifies a delivery."""
    phase: DeliveryPhase
    attempts: Annotated[int, Field(ge=0)] = 0
    sent_at: Timestamp | None = None
    last_error: Annotated[str, Field(max_length=NOTIFICATION_ERROR_LIMIT)] | None = None
    next_attempt_time: Timestamp | None = None
