"""Running state hooks: `hook(flow, flow_run, state)` / `hook(task, task_run, state)`.

A hook that raises is logged and does not change the run's state (a broken Slack webhook must
not turn a completed run into a failed one).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from kflow.logging import RunLogger


def run_hooks(hooks: Iterable[Any], owner: Any, run: Any, state: Any, logger: RunLogger) -> None:
    for hook in hooks:
        name = getattr(hook, "__name__", repr(hook))
        logger.info("Running hook %r in response to entering state %r", name, state.name)
        try:
            outcome = hook(owner, run, state)
            if hasattr(outcome, "__await__"):
                await_outside_loop(outcome)
        except Exception:
            logger.error("An error was encountered while running hook %r", name, exc_info=True)
        else:
            logger.info("Hook %r finished running successfully", name)


def await_outside_loop(awaitable: Any) -> Any:
    """Run an awaitable (an async hook's) to completion and return its value, in a helper
    thread when an event loop already runs in this one."""
    import asyncio

    async def wrapper() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrapper())
    failure: list[BaseException] = []
    value: list[Any] = []

    def target() -> None:
        try:
            value.append(asyncio.run(wrapper()))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="kflow-hook")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return value[0]
