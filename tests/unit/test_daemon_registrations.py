"""Our Kopf daemons are registered without Kopf's finalizer: neither a Deployment nor a pool
needs clean-up when it goes, a finalizer held their deletion while no operator ran (helm
uninstall --wait hung on pools), and adding it cost one PATCH per object, each on its own TLS
connection, which is where most of the operator's memory went with hundreds of Deployments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kflow_operator.handlers import deployments, workpools
from kopf._core.intents import registries


@pytest.mark.parametrize(
    "daemon",
    [workpools.keep_pool_status, deployments.schedule_deployment],
    ids=["pool", "deployment"],
)
def test_the_daemon_puts_no_finalizer_on_its_objects(daemon: Callable[..., Any]) -> None:
    spawning = registries.get_default_registry()._spawning.get_all_handlers()
    mine = [handler for handler in spawning if handler.fn is daemon]
    assert len(mine) == 1
    assert mine[0].requires_finalizer is False


def test_every_daemon_of_ours_is_registered_without_the_finalizer() -> None:
    """A daemon added later must make the same choice on purpose, not by Kopf's default."""
    spawning = registries.get_default_registry()._spawning.get_all_handlers()
    ours = [h for h in spawning if h.fn.__module__.startswith("kflow_operator.")]
    assert ours and all(h.requires_finalizer is False for h in ours), ours
