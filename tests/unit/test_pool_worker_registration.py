"""The WorkPool daemon is registered without Kopf's finalizer: a pool needs no clean-up, and a
finalizer held every pool deletion while no operator ran (helm uninstall --wait hung on it)."""

from __future__ import annotations

from kflow_operator.handlers import workpools
from kopf._core.intents import registries


def test_the_pool_daemon_puts_no_finalizer_on_pools() -> None:
    spawning = registries.get_default_registry()._spawning.get_all_handlers()
    mine = [handler for handler in spawning if handler.fn is workpools.keep_pool_status]
    assert len(mine) == 1
    assert mine[0].requires_finalizer is False
