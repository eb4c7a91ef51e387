"""The sentence a run page shows for a section its reader may not read."""

from __future__ import annotations

from kflow.cluster.rest import ApiError
from kflow.dashboard.refusals import events_refusal, is_refused, pod_logs_refusal


def test_each_refusal_names_the_namespace_and_the_right_to_ask_for() -> None:
    assert pod_logs_refusal("team-a", finding_pod=False) == (
        "You may not read this run's pod logs in namespace team-a: ask for get on pods/log."
    )
    assert pod_logs_refusal("team-a", finding_pod=True).endswith(
        "in namespace team-a: ask for list on pods."
    )
    assert events_refusal("team-a", finding_pods=False).endswith(
        "in namespace team-a: ask for list on events."
    )
    assert events_refusal("team-a", finding_pods=True).endswith("ask for list on pods.")


def test_only_a_403_is_a_refusal() -> None:
    assert is_refused(ApiError(403, "Forbidden", "pods is forbidden"))
    assert not is_refused(ApiError(401, "Unauthorized"))
    assert not is_refused(ApiError(404, "NotFound"))
