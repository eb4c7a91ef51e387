"""--work-pool: which runs an operator serves, and which peering object it stands in."""

from __future__ import annotations

from kflow_operator.main import parse_args, settings_from
from kflow_operator.settings import OperatorSettings


def settings(*argv: str) -> OperatorSettings:
    return settings_from(parse_args(list(argv)))


def test_without_work_pool_an_operator_serves_every_pool_and_runs_of_none() -> None:
    everything = settings()
    assert everything.serves_pool(None)
    assert everything.serves_pool("gpu")
    assert everything.peering_name == "kflow"


def test_with_work_pool_only_those_pools() -> None:
    gpu = settings("--work-pool", "gpu", "--work-pool", "cpu")
    assert gpu.serves_pool("gpu") and gpu.serves_pool("cpu")
    assert not gpu.serves_pool("other")
    assert not gpu.serves_pool(None)


def test_one_peering_object_per_set_of_pools() -> None:
    a_b = settings("--work-pool", "b", "--work-pool", "a").peering_name
    assert a_b == settings("--work-pool", "a", "--work-pool", "b").peering_name == "kflow-pool-a.b"
    # Pool names hold no '.', so {a-b} and {a, b} never share an object.
    assert settings("--work-pool", "a-b").peering_name == "kflow-pool-a-b"
    assert settings("--work-pool", "a").peering_name != a_b


def test_a_long_set_of_pools_is_hashed_into_a_valid_name() -> None:
    names = [f"pool-{i:02d}-{'x' * 20}" for i in range(5)]
    argv = [arg for name in names for arg in ("--work-pool", name)]
    name = settings(*argv).peering_name
    assert name.startswith("kflow-pool-") and len(name) <= 63
    backwards = [arg for name in reversed(names) for arg in ("--work-pool", name)]
    assert name == settings(*backwards).peering_name
    assert name != settings(*argv[:-2]).peering_name
