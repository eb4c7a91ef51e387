"""Notifications end to end: a real API server, `kflow-operator` as a child process, and the
receivers on 127.0.0.1 (tests.support.notification_receivers.py). What a user observes: the
delivery itself (how many, what it says), the run's status.notifications, its Events, and that
no URL or credential ever shows in the operator's log, the status or the Events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kflow.resources.status_patch import StateEntry, build_state_patch
from kflow.states import StateType
from kubernetes import client

from tests.cluster.kubectl import KubectlError
from tests.integration.conftest import (
    Cluster,
    OperatorFactory,
    OperatorProcess,
    wait_until,
)
from tests.support.notification_receivers import SmtpServer, WebhookReceiver

pytestmark = pytest.mark.integration

PATIENCE = 90
"""Seconds to wait for what the operator does, including retries with backoff."""

TOKEN = "T0KEN-s3cr3t-XyZ"
PASSWORD = "pa55-w0rd-QqQ"
HOOK_PATH = f"/services/{TOKEN}"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    made = WebhookReceiver()
    yield made
    made.stop()


def secret(cluster: Cluster, name: str, data: dict[str, str], marked: bool = True) -> None:
    labels = {"kflow.dev/notifications": "true"} if marked else None
    cluster.core.create_namespaced_secret(
        cluster.namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name=name, labels=labels), string_data=data),
    )


def webhook(states: list[str], fmt: str = "generic") -> dict[str, Any]:
    return {
        "states": states,
        "webhook": {"urlFrom": {"secretKeyRef": {"name": "hook", "key": "url"}}, "format": fmt},
    }


def shell_deployment(cluster: Cluster, name: str, script: str, **spec: Any) -> None:
    cluster.deployment(
        name,
        {
            "entrypoint": "flows.py:main",
            "parameters": {"region": "eu", "size": 3},
            "infrastructure": {"type": "process", "command": ["/bin/sh", "-c", script]},
            **spec,
        },
    )


def records(cluster: Cluster, run: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (cluster.get_flowrun(run).get("status") or {}).get(
        "notifications"
    ) or []
    return found


def wait_phase(cluster: Cluster, run: str, phase: str, timeout: float = PATIENCE) -> dict[str, Any]:
    found: dict[str, Any] = wait_until(
        f"a notification of {run} {phase}",
        lambda: next((r for r in records(cluster, run) if r["phase"] == phase), None),
        timeout,
    )
    return found


def finished(cluster: Cluster, run: str) -> bool:
    return not cluster.get_flowrun(run)["metadata"].get("finalizers")


def assert_no_secrets(cluster: Cluster, run: str, *operators: OperatorProcess) -> None:
    shown = [operator.log() for operator in operators]
    shown.append(json.dumps(cluster.get_flowrun(run)))
    shown += [f"{e.reason} {e.message}" for e in cluster.events(run)]
    for text in shown:
        for secret_text in (TOKEN, PASSWORD):
            assert secret_text not in text, f"{secret_text!r} leaked into: {text[-2000:]}"


@pytest.mark.parametrize(
    ("notification", "refusal"),
    [
        (
            {"states": ["FAILED"]},
            "each notification needs exactly one of `webhook` or `email`",
        ),
        (
            {"states": ["FAILED"], "email": {"from": "a@b.c", "to": ["d@e.f"]}},
            "spec.notifications[0].email.host: Required value",
        ),
        ({"states": [], "webhook": webhook([])["webhook"]}, "should have at least 1 items"),
        (
            {"states": ["Failed"], "webhook": webhook([])["webhook"]},
            'Unsupported value: "Failed": supported values: "FAILED", "CRASHED", "CANCELLED", '
            '"COMPLETED", "Late", "TimedOut"',
        ),
    ],
)
def test_a_bad_notification_is_refused_by_the_api_server_naming_the_field(
    cluster: Cluster, notification: dict[str, Any], refusal: str
) -> None:
    manifest = {
        "apiVersion": "kflow.dev/v1alpha1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": cluster.namespace},
        "spec": {
            "entrypoint": "flows.py:main",
            "infrastructure": {"type": "process"},
            "notifications": [notification],
        },
    }
    with pytest.raises(KubectlError) as refused:
        cluster.apply(manifest)
    assert refusal in str(refused.value)
    assert "spec.notifications[0]" in str(refused.value)


def test_two_targets_of_one_name_are_refused(cluster: Cluster) -> None:
    twice = [{"name": "ops", **webhook(["FAILED"])}, {"name": "ops", **webhook(["CRASHED"])}]
    with pytest.raises(KubectlError) as refused:
        cluster.apply(
            {
                "apiVersion": "kflow.dev/v1alpha1",
                "kind": "WorkPool",
                "metadata": {"name": "p", "namespace": cluster.namespace},
                "spec": {"type": "process", "notifications": twice},
            }
        )
    assert "spec.notifications: Invalid value" in str(refused.value)
    assert "notification names must be unique" in str(refused.value)


def test_a_crashed_run_notifies_its_deployment_webhook_once(
    cluster: Cluster, operator: OperatorProcess, receiver: WebhookReceiver
) -> None:
    receiver.start()
    secret(cluster, "hook", {"url": receiver.url(HOOK_PATH)})
    shell_deployment(
        cluster, "d", "exit 3", notifications=[webhook(["CRASHED", "FAILED", "COMPLETED"])]
    )
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "parameters": {"size": 5}})
    sent = wait_phase(cluster, "r", "Sent")
    wait_until("the operator done with the run", lambda: finished(cluster, "r"), PATIENCE)

    assert len(receiver.received) == 1
    delivery = receiver.received[0]
    assert delivery.path == HOOK_PATH
    document = delivery.document
    run = cluster.get_flowrun("r")
    assert document["schema"] == "kflow.dev/notification/v1"
    assert document["target"] == "deployment[0]"
    assert document["flowRun"] == {
        "namespace": cluster.namespace,
        "name": "r",
        "uid": run["metadata"]["uid"],
        "runName": None,
        "flowName": None,
    }
    assert document["deployment"] == "d"
    assert document["workPool"] is None
    assert document["state"]["type"] == "CRASHED"
    assert "exited with code 3" in document["state"]["message"]
    assert document["endTime"] == run["status"]["endTime"]
    assert document["parameters"] == {"values": {"region": "eu", "size": 5}, "omitted": 0}
    assert "dashboardUrl" not in document
    assert sent["target"] == "deployment[0]"
    assert (sent["state"], sent["stateName"], sent["attempts"]) == ("CRASHED", "Crashed", 1)
    assert sent["transitionTime"] == run["status"]["state"]["timestamp"]
    assert "lastError" not in sent and "nextAttemptTime" not in sent
    assert_no_secrets(cluster, "r", operator)


def test_a_receiver_down_then_up_gets_the_pools_notification_once_after_a_retry(
    cluster: Cluster, operator: OperatorProcess, receiver: WebhookReceiver
) -> None:
    """The pool's notifications apply to a Deployment that sets none; the first attempt finds
    nobody listening, the retry (after 2 s) finds the receiver."""
    secret(cluster, "hook", {"url": receiver.url(HOOK_PATH)})
    cluster.apply(
        {
            "apiVersion": "kflow.dev/v1alpha1",
            "kind": "WorkPool",
            "metadata": {"name": "pool", "namespace": cluster.namespace},
            "spec": {"type": "process", "notifications": [{"name": "ops", **webhook(["CRASHED"])}]},
        }
    )
    shell_deployment(cluster, "d", "exit 4", workPool={"name": "pool"})
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    failing = wait_phase(cluster, "r", "Pending")
    assert failing["target"] == "ops"
    assert failing["attempts"] == 1
    assert "Connection refused" in failing["lastError"]
    assert failing["nextAttemptTime"] > failing["transitionTime"]
    wait_until(
        "a Warning NotificationFailed on the run",
        lambda: any(
            e.type == "Warning" and e.reason == "NotificationFailed" for e in cluster.events("r")
        ),
        PATIENCE,
    )
    assert not receiver.received
    receiver.start()
    sent = wait_phase(cluster, "r", "Sent")
    wait_until("the operator done with the run", lambda: finished(cluster, "r"), PATIENCE)
    assert len(receiver.received) == 1
    assert receiver.received[0].document["workPool"] == "pool"
    assert receiver.received[0].document["target"] == "ops"
    assert sent["attempts"] >= 2
    assert cluster.state("r") == "CRASHED"
    assert_no_secrets(cluster, "r", operator)


def test_a_transition_the_operator_did_not_live_to_send_is_sent_once_after_its_restart(
    cluster: Cluster, operators: OperatorFactory, receiver: WebhookReceiver
) -> None:
    """The operator is SIGKILLed before the run fails; the run's FAILED is written as the flow
    process writes it; the next operator finds it un-notified and sends it, once, to Slack."""
    receiver.start()
    secret(cluster, "hook", {"url": receiver.url(HOOK_PATH)})
    shell_deployment(cluster, "d", "exec sleep 120", notifications=[webhook(["FAILED"], "slack")])
    first = operators.start("--dashboard-url", "https://kflow.example.com/")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    cluster.wait_state("r", "PENDING", timeout=PATIENCE)
    first.sigkill()
    status = cluster.get_flowrun("r")["status"]
    failed = StateEntry(StateType.FAILED, "Failed", "the flow broke", datetime.now(UTC))
    cluster.patch_flowrun_status("r", build_state_patch(status, [failed]).patch)
    assert not receiver.received and not records(cluster, "r")

    second = operators.start("--dashboard-url", "https://kflow.example.com/")
    wait_phase(cluster, "r", "Sent")
    assert len(receiver.received) == 1
    message = receiver.received[0].document
    assert "the flow broke" in message["text"]
    assert message["blocks"][0]["type"] == "header"
    link = f"https://kflow.example.com/runs/{cluster.namespace}/r"
    assert any(link in json.dumps(block) for block in message["blocks"])
    assert_no_secrets(cluster, "r", first, second)


def test_an_operator_killed_after_sending_but_before_recording_sends_again_at_least_once(
    cluster: Cluster, operators: OperatorFactory, receiver: WebhookReceiver
) -> None:
    """The one window of the protocol: the receiver got the notification, the operator died
    before it wrote `Sent`. The next operator sends it again (at least once, never lost) and
    records it; both copies name the same transition."""
    receiver.holding.set()
    receiver.start()
    secret(cluster, "hook", {"url": receiver.url(HOOK_PATH)})
    shell_deployment(cluster, "d", "exit 6", notifications=[webhook(["CRASHED"])])
    first = operators.start()
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    wait_until("the first copy received", lambda: receiver.received, PATIENCE)
    first.sigkill()
    receiver.holding.clear()
    receiver.release.set()
    assert not records(cluster, "r")

    second = operators.start()
    sent = wait_phase(cluster, "r", "Sent")
    assert len(receiver.received) == 2
    copies = [r.document["state"] for r in receiver.received]
    assert copies[0] == copies[1]
    assert sent["attempts"] == 1 and sent["transitionTime"] == copies[0]["timestamp"]
    assert_no_secrets(cluster, "r", first, second)


def test_a_target_that_keeps_failing_is_given_up_with_a_warning_and_the_run_is_unaffected(
    cluster: Cluster, operators: OperatorFactory, receiver: WebhookReceiver
) -> None:
    secret(cluster, "hook", {"url": receiver.url(HOOK_PATH)})
    shell_deployment(cluster, "d", "exit 0", notifications=[webhook(["CRASHED"])])
    operator = operators.start("--notification-retry", "3")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    gave_up = wait_phase(cluster, "r", "GaveUp")
    assert gave_up["attempts"] >= 2
    assert "Connection refused" in gave_up["lastError"]
    assert "nextAttemptTime" not in gave_up
    wait_until(
        "a Warning NotificationGaveUp on the run",
        lambda: [e for e in cluster.events("r") if e.reason == "NotificationGaveUp"],
        PATIENCE,
    )
    wait_until("the operator done with the run", lambda: finished(cluster, "r"), PATIENCE)
    assert cluster.state("r") == "CRASHED"
    assert not receiver.received
    assert_no_secrets(cluster, "r", operator)


def test_a_secret_not_marked_for_notifications_is_not_used(
    cluster: Cluster, operator: OperatorProcess, receiver: WebhookReceiver
) -> None:
    """Whoever may write a Deployment must not be able to have any Secret of the namespace
    used (an SMTP login sent to their own server): only labelled Secrets are."""
    receiver.start()
    secret(cluster, "hook", {"url": receiver.url(HOOK_PATH)}, marked=False)
    shell_deployment(cluster, "d", "exit 7", notifications=[webhook(["CRASHED"])])
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    pending = wait_phase(cluster, "r", "Pending")
    assert pending["lastError"] == (
        f"Secret {cluster.namespace}/hook is not marked for kflow "
        f"notifications: label it with `kubectl label secret -n {cluster.namespace} hook "
        "kflow.dev/notifications=true`"
    )
    assert not receiver.received
    cluster.kubectl.run("label", "secret", "hook", "kflow.dev/notifications=true")
    wait_phase(cluster, "r", "Sent")
    assert len(receiver.received) == 1
    assert_no_secrets(cluster, "r", operator)


def test_a_mail_reaches_an_smtp_server_without_starttls_with_the_secrets_credentials(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    smtp = SmtpServer(username="kflow-bot", password=PASSWORD)
    smtp.start()
    try:
        secret(cluster, "smtp", {"username": "kflow-bot", "password": PASSWORD})
        email = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "from": "kflow@example.com",
            "to": ["oncall@example.com", "team@example.com"],
            "credentialsFrom": {"secretRef": {"name": "smtp"}},
        }
        shell_deployment(
            cluster, "d", "exit 5", notifications=[{"states": ["CRASHED"], "email": email}]
        )
        cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
        wait_phase(cluster, "r", "Sent")
        wait_until("the operator done with the run", lambda: finished(cluster, "r"), PATIENCE)
        assert len(smtp.handler.mails) == 1
        assert smtp.handler.logins == ["kflow-bot"]
        mail = smtp.handler.mails[0]
        assert mail["Subject"] == f"[kflow] CRASHED: FlowRun {cluster.namespace}/r"
        assert mail["To"] == "oncall@example.com, team@example.com"
        body = mail.get_payload(decode=True)
        assert isinstance(body, bytes)
        assert "exited with code 5" in body.decode()
        assert_no_secrets(cluster, "r", operator)
    finally:
        smtp.stop()
