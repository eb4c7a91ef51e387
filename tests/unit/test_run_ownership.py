"""A FlowRun status names infrastructure the run does not own (issue #18): a container or Job
of another run (ownership.py), or a scope no operator here serves (decisions/scope.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kflow_operator.decisions.actions import ReportScope, Wait
from kflow_operator.decisions.lifecycle import decide
from kflow_operator.decisions.run_writes import scope
from kflow_operator.decisions.scope import FOREIGN_SCOPE, scope_report
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.infrastructure import RUNNING, ObservedPhase
from kflow_operator.launchers.docker.names import LABEL_UID as DOCKER_UID_LABEL
from kflow_operator.launchers.kubernetes_job.names import LABEL_UID as JOB_UID_LABEL
from kflow_operator.launchers.ownership import RUN_UID_LABEL, belongs, not_the_runs

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OWN = "host-a/boot-1"


def test_both_container_launchers_label_the_run_uid_the_check_reads() -> None:
    assert DOCKER_UID_LABEL == JOB_UID_LABEL == RUN_UID_LABEL == "kflow.dev/flow-run-uid"


def test_only_the_runs_own_label_makes_a_container_or_job_its() -> None:
    assert belongs({RUN_UID_LABEL: "u-1", "other": "x"}, "u-1")
    assert not belongs({RUN_UID_LABEL: "u-2"}, "u-1"), "another run's"
    assert not belongs({}, "u-1"), "nobody's (not a kflow container)"
    assert not belongs(None, "u-1")
    assert not belongs({"kflow.dev/flow-run-name": "r"}, "u-1"), "a name proves nothing"
    assert belongs({}, None), "the launcher's own launch: nothing to confirm"


def test_what_is_not_the_runs_reads_as_gone_saying_why_and_what_to_do() -> None:
    seen = not_the_runs("Job team/nightly-1")
    assert seen.phase is ObservedPhase.MISSING and seen.gone
    text = seen.describe()
    assert text.startswith("is gone (Job team/nightly-1 is not this run's: ")
    assert "status.infrastructure was changed" in text
    assert "Run the flow again in a new FlowRun" in text


def run(scope_: str = "host-b/boot-9", cancel: bool = False, **status: Any) -> SupervisedRun:
    return SupervisedRun.from_body(
        {
            "metadata": {"namespace": "ns", "name": "r", "uid": "u-1", "resourceVersion": "9"},
            "spec": {"deploymentRef": {"name": "d"}, "cancel": cancel},
            "status": {
                "state": {"type": "RUNNING", "name": "Running", "timestamp": "2026-06-01T11:59Z"},
                "infrastructure": {
                    "type": "process",
                    "scope": scope_,
                    "id": "7@70",
                    "pid": f"{scope_}:7@70",
                },
                **status,
            },
        }
    )


def with_condition(action: ReportScope) -> SupervisedRun:
    written = scope(run(), action, NOW)
    return run(conditions=written.fields["conditions"])


def test_a_foreign_scope_is_reported_once_naming_both_scopes_and_what_to_do() -> None:
    action = decide(run(), None, False, NOW, own_scope=OWN)
    assert isinstance(action, ReportScope) and action.foreign
    assert "'host-b/boot-9'" in action.message and f"{OWN!r}" in action.message
    assert "delete the FlowRun" in action.message
    assert "set status.infrastructure back" in action.message
    reported = with_condition(action)
    condition = reported.condition(FOREIGN_SCOPE)
    assert condition is not None and condition.status == "True"
    assert condition.reason == "ForeignScope" and condition.message == action.message
    assert decide(reported, None, False, NOW, own_scope=OWN) == Wait(), "said once"
    conditions = reported.status.model_dump(mode="json", by_alias=True)["conditions"]
    cancelled = run(cancel=True, conditions=conditions)
    assert decide(cancelled, None, False, NOW, own_scope=OWN) == Wait(), "left to its scope"


def test_a_write_of_the_condition_posts_a_warning_event() -> None:
    action = scope_report(run(), False, OWN)
    assert action is not None
    written = scope(run(), action, NOW)
    assert [(e.type, e.reason) for e in written.events] == [("Warning", "ForeignScope")]
    assert written.state is None, "the state is not the operator's to write here"


def test_an_operator_without_a_launcher_of_the_type_says_so() -> None:
    action = scope_report(run(), False, None)
    assert action is not None and "this operator runs no process infrastructure" in action.message


def test_the_condition_clears_once_the_scope_is_this_operators_again() -> None:
    reported = with_condition(ReportScope(True, "m"))
    back = run(OWN, conditions=reported.status.model_dump(mode="json", by_alias=True)["conditions"])
    action = decide(back, RUNNING, True, NOW, own_scope=OWN)
    assert action == ReportScope(
        False, f"The run's infrastructure is in this operator's scope {OWN!r} again."
    )
    cleared = scope(back, action, NOW)
    assert cleared.fields["conditions"][0]["status"] == "False"
    assert cleared.fields["conditions"][0]["reason"] == "InScope"
    assert cleared.events == ()
    assert scope_report(run(OWN), True, OWN) is None, "nothing to say when never foreign"
