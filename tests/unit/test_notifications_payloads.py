"""What a notification says: the generic document's fields, a Slack message that Slack's
incoming webhooks accept (block types and size limits checked here), and the mail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from kflow.states import StateType
from kflow_operator.notifications.payloads import (
    RunFacts,
    generic_payload,
    mail_body,
    mail_subject,
    parameters_summary,
    slack_payload,
)
from kflow_operator.notifications.transitions import Transition

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def facts(**changes: Any) -> RunFacts:
    base: dict[str, Any] = {
        "namespace": "team-a",
        "name": "nightly-20261204",
        "uid": "0b5e-uid",
        "transition": Transition(StateType.FAILED, "Failed", "ValueError: <bad> & worse", T0),
        "run_name": "brave-otter",
        "flow_name": "etl",
        "deployment": "nightly",
        "work_pool": "k8s",
        "scheduled_time": T0 - timedelta(minutes=10),
        "start_time": T0 - timedelta(minutes=9),
        "end_time": T0,
        "parameters": {"region": "eu", "size": 3},
        "dashboard_url": "https://kflow.example.com/",
    }
    return RunFacts(**{**base, **changes})


def test_the_generic_document_names_the_run_its_state_times_and_parameters() -> None:
    assert generic_payload(facts(), "ops") == {
        "schema": "kflow.dev/notification/v1",
        "target": "ops",
        "flowRun": {
            "namespace": "team-a",
            "name": "nightly-20261204",
            "uid": "0b5e-uid",
            "runName": "brave-otter",
            "flowName": "etl",
        },
        "deployment": "nightly",
        "workPool": "k8s",
        "state": {
            "type": "FAILED",
            "name": "Failed",
            "message": "ValueError: <bad> & worse",
            "timestamp": "2026-12-04T12:00:00.000000Z",
        },
        "scheduledTime": "2026-12-04T11:50:00.000000Z",
        "startTime": "2026-12-04T11:51:00.000000Z",
        "endTime": "2026-12-04T12:00:00.000000Z",
        "parameters": {"values": {"region": "eu", "size": 3}, "omitted": 0},
        "dashboardUrl": "https://kflow.example.com/runs/team-a/nightly-20261204",
    }


def test_without_a_dashboard_there_is_no_link_and_missing_times_are_null() -> None:
    document = generic_payload(facts(dashboard_url=None, start_time=None, end_time=None), "x")
    assert "dashboardUrl" not in document
    assert document["startTime"] is None and document["endTime"] is None


def test_parameters_are_bounded_in_number_and_size() -> None:
    many = {f"p{i:02}": i for i in range(25)} | {"blob": "x" * 1000}
    summary = parameters_summary(many)
    assert len(summary["values"]) == 20 and summary["omitted"] == 6
    assert summary["values"]["blob"].endswith("… (truncated)")
    assert len(summary["values"]["blob"]) == 200
    assert summary["values"]["p00"] == 0
    document = generic_payload(facts(parameters=many, transition=_huge()), "x")
    assert len(json.dumps(document)) < 10_000


def _huge() -> Transition:
    return Transition(StateType.CRASHED, "Crashed", "m" * 50_000, T0)


# Slack's limits for incoming-webhook messages (api.slack.com/reference/block-kit/blocks).
SLACK_TEXT_OBJECT_TYPES = {"plain_text", "mrkdwn"}


def check_text_object(obj: dict[str, Any], limit: int, plain_only: bool = False) -> None:
    assert set(obj) <= {"type", "text", "emoji", "verbatim"}
    assert obj["type"] in ({"plain_text"} if plain_only else SLACK_TEXT_OBJECT_TYPES)
    assert isinstance(obj["text"], str) and 1 <= len(obj["text"]) <= limit


def check_slack_message(message: dict[str, Any]) -> None:
    assert set(message) <= {"text", "blocks", "attachments", "thread_ts", "mrkdwn"}
    assert "text" in message or "blocks" in message
    if "text" in message:
        assert isinstance(message["text"], str) and message["text"]
    blocks = message.get("blocks", [])
    assert len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert set(block) <= {"type", "text", "block_id"}
            check_text_object(block["text"], 150, plain_only=True)
        elif kind == "section":
            assert set(block) <= {"type", "text", "fields", "accessory", "block_id"}
            assert "text" in block or "fields" in block
            if "text" in block:
                check_text_object(block["text"], 3000)
            fields = block.get("fields", [])
            assert len(fields) <= 10
            for item in fields:
                check_text_object(item, 2000)
        elif kind == "context":
            assert set(block) <= {"type", "elements", "block_id"}
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                check_text_object(element, 3000)
        else:
            assert kind == "divider" and set(block) <= {"type", "block_id"}


def test_the_slack_message_fits_slacks_incoming_webhook_schema() -> None:
    message = slack_payload(facts())
    check_slack_message(message)
    assert message["text"].startswith("FAILED: FlowRun team-a/nightly-20261204 (brave-otter)")
    assert message["blocks"][0]["text"]["text"] == (
        "FAILED: FlowRun team-a/nightly-20261204 (brave-otter)"
    )
    section = message["blocks"][1]
    assert section["text"]["text"] == "ValueError: &lt;bad&gt; &amp; worse"
    labels = [field["text"].split("\n")[0] for field in section["fields"]]
    assert labels == [
        "*Namespace*",
        "*Deployment*",
        "*Work pool*",
        "*State*",
        "*Scheduled*",
        "*Started*",
        "*Ended*",
    ]
    link = message["blocks"][-1]["elements"][0]["text"]
    assert link == "<https://kflow.example.com/runs/team-a/nightly-20261204|Open in the dashboard>"


def test_the_slack_message_stays_within_the_limits_whatever_the_run_says() -> None:
    many = {f"p{i}": "v" * 500 for i in range(40)}
    long_name = "r" * 253
    message = slack_payload(
        facts(name=long_name, run_name=long_name, parameters=many, transition=_huge())
    )
    check_slack_message(message)
    check_slack_message(slack_payload(facts(parameters={}, dashboard_url=None)))


def test_a_state_name_other_than_its_type_leads_the_title() -> None:
    late = Transition(StateType.SCHEDULED, "Late", "Late: missed its start", T0)
    assert facts(transition=late, run_name=None).title == "Late: FlowRun team-a/nightly-20261204"


def test_the_mail_says_the_same() -> None:
    assert mail_subject(facts()) == "[kflow] FAILED: FlowRun team-a/nightly-20261204 (brave-otter)"
    body = mail_body(facts())
    assert "ValueError: <bad> & worse" in body
    assert "Deployment: nightly" in body and "Work pool: k8s" in body
    assert '"region": "eu"' in body
    assert "Dashboard: https://kflow.example.com/runs/team-a/nightly-20261204" in body
