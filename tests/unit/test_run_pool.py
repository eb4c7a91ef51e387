from kflow.resources.pools import run_pool


def test_the_runs_own_pool_wins_over_its_deployments() -> None:
    assert run_pool({"workPool": {"name": "gpu"}}, {"workPool": {"name": "cpu"}}) == "gpu"


def test_a_run_without_a_pool_takes_its_deployments() -> None:
    assert run_pool({"deploymentRef": {"name": "d"}}, {"workPool": {"name": "cpu"}}) == "cpu"


def test_no_pool_anywhere_is_none() -> None:
    assert run_pool({}, None) is None
    assert run_pool({}, {"infrastructure": {"type": "process"}}) is None
    assert run_pool({"workPool": {}}, {"workPool": None}) is None
