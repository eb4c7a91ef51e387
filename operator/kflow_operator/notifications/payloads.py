"""What a notification says: kflow's generic JSON document, a Slack incoming-webhook message, and
a mail. All three are built from the same RunFacts and are bounded in size whatever the run's
message or parameters (docs/notifications.md documents the generic document field by field)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kflow.resources.common import format_timestamp, truncate

from kflow_operator.notifications.transitions import Transition

SCHEMA = "kflow.dev/notification/v1"
PARAMETERS_SHOWN = 20
PARAMETER_VALUE_LIMIT = 200
MESSAGE_LIMIT = 2000
SLACK_HEADER_LIMIT = 150
SLACK_SECTION_LIMIT = 3000
SLACK_FIELD_LIMIT = 2000


@dataclass(frozen=True)
class RunFacts:
    """The run as a notification describes it."""

    namespace: str
    name: str
    uid: str
    transition: Transition
    run_name: str | None = None
    flow_name: str | None = None
    deployment: str | None = None
    work_pool: str | None = None
    scheduled_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dashboard_url: str | None = None
    """The operator's --dashboard-url; None when it knows of no dashboard."""

    @property
    def dashboard_link(self) -> str | None:
        if not self.dashboard_url:
            return None
        return f"{self.dashboard_url.rstrip('/')}/runs/{self.namespace}/{self.name}"

    @property
    def title(self) -> str:
        state = self.transition
        label = state.type.value if state.name.upper() == state.type.value else state.name
        return f"{label}: FlowRun {self.namespace}/{self.name}" + (
            f" ({self.run_name})" if self.run_name else ""
        )


def parameters_summary(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """At most PARAMETERS_SHOWN parameters (by name); a value whose JSON is longer than
    PARAMETER_VALUE_LIMIT becomes that JSON, cut short."""
    names = sorted(parameters)
    values: dict[str, Any] = {}
    for name in names[:PARAMETERS_SHOWN]:
        value = parameters[name]
        text = json.dumps(value, default=str, separators=(",", ":"))
        values[truncate(str(name), 128)] = (
            value if len(text) <= PARAMETER_VALUE_LIMIT else truncate(text, PARAMETER_VALUE_LIMIT)
        )
    return {"values": values, "omitted": max(0, len(names) - PARAMETERS_SHOWN)}


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def generic_payload(facts: RunFacts, target: str) -> dict[str, Any]:
    state = facts.transition
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "target": target,
        "flowRun": {
            "namespace": facts.namespace,
            "name": facts.name,
            "uid": facts.uid,
            "runName": facts.run_name,
            "flowName": facts.flow_name,
        },
        "deployment": facts.deployment,
        "workPool": facts.work_pool,
        "state": {
            "type": state.type.value,
            "name": state.name,
            "message": truncate(state.message, MESSAGE_LIMIT) if state.message else None,
            "timestamp": format_timestamp(state.timestamp),
        },
        "scheduledTime": _time(facts.scheduled_time),
        "startTime": _time(facts.start_time),
        "endTime": _time(facts.end_time),
        "parameters": parameters_summary(facts.parameters),
    }
    if facts.dashboard_link:
        document["dashboardUrl"] = facts.dashboard_link
    return document


def _slack_escape(text: str) -> str:
    """Slack's mrkdwn gives &, < and > a meaning; its docs ask for these three escapes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _facts_lines(facts: RunFacts) -> list[tuple[str, str]]:
    lines = [
        ("Namespace", facts.namespace),
        ("Deployment", facts.deployment or "—"),
        ("Work pool", facts.work_pool or "—"),
        ("State", f"{facts.transition.type.value} ({facts.transition.name})"),
    ]
    for label, value in (
        ("Scheduled", facts.scheduled_time),
        ("Started", facts.start_time),
        ("Ended", facts.end_time),
    ):
        if value is not None:
            lines.append((label, format_timestamp(value, timespec="seconds")))
    return lines


def slack_payload(facts: RunFacts) -> dict[str, Any]:
    """An incoming-webhook message: `text` (the notification and fallback) plus `blocks`."""
    message = facts.transition.message or "(no message)"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(facts.title, SLACK_HEADER_LIMIT)},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": truncate(_slack_escape(message), SLACK_SECTION_LIMIT),
            },
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": truncate(f"*{label}*\n{_slack_escape(value)}", SLACK_FIELD_LIMIT),
                }
                for label, value in _facts_lines(facts)
            ],
        },
    ]
    summary = parameters_summary(facts.parameters)
    if summary["values"]:
        text = json.dumps(summary["values"], default=str, indent=1)
        more = f"\n… and {summary['omitted']} more" if summary["omitted"] else ""
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": truncate(
                        f"*Parameters*\n```{_slack_escape(text)}```{more}", SLACK_SECTION_LIMIT
                    ),
                },
            }
        )
    if facts.dashboard_link:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"<{facts.dashboard_link}|Open in the dashboard>"}
                ],
            }
        )
    fallback = f"{facts.title}: {message}"
    return {"text": truncate(fallback, SLACK_SECTION_LIMIT), "blocks": blocks}


def mail_subject(facts: RunFacts) -> str:
    return truncate(f"[kflow] {facts.title}", 200)


def mail_body(facts: RunFacts) -> str:
    lines = [facts.title, "", truncate(facts.transition.message or "(no message)", MESSAGE_LIMIT)]
    lines += ["", *(f"{label}: {value}" for label, value in _facts_lines(facts))]
    summary = parameters_summary(facts.parameters)
    if summary["values"]:
        lines += ["", "Parameters:", json.dumps(summary["values"], default=str, indent=2)]
        if summary["omitted"]:
            lines.append(f"… and {summary['omitted']} more")
    if facts.dashboard_link:
        lines += ["", f"Dashboard: {facts.dashboard_link}"]
    return "\n".join(lines) + "\n"
