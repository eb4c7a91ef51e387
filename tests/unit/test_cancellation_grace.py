"""How long a cancelled run gets between the stop request and the kill: the FlowRun's own grace
period, else its Deployment's, else the operator's --default-grace-period."""

from __future__ import annotations

from typing import Any

from kflow.resources import DeploymentSpec, FlowRunSpec
from kflow_operator.decisions.cancellation import grace_period


def deployment(**spec: Any) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {"entrypoint": "flows.py:main", "infrastructure": {"type": "process"}, **spec}
    )


def flow_run(**spec: Any) -> FlowRunSpec:
    return FlowRunSpec.model_validate({"deploymentRef": {"name": "d"}, **spec})


def test_the_flow_runs_own_grace_period_wins() -> None:
    own = flow_run(cancelGracePeriodSeconds=2)
    assert grace_period(own, deployment(cancelGracePeriodSeconds=7), default=90) == 2
    assert grace_period(own, deployment(), default=90) == 2


def test_then_the_deployments() -> None:
    assert grace_period(flow_run(), deployment(cancelGracePeriodSeconds=7), default=90) == 7
    assert grace_period(flow_run(), deployment(cancelGracePeriodSeconds=0), default=90) == 0


def test_then_the_operators_default() -> None:
    assert grace_period(flow_run(), deployment(), default=90) == 90
    assert grace_period(flow_run(), None, default=5) == 5


def test_the_operators_default_is_thirty_seconds_unless_configured() -> None:
    assert grace_period(flow_run(), deployment()) == 30
