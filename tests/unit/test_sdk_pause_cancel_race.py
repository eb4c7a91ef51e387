"""A sync pause that sees the cancel flag before the canceller raises into its thread ends the
body with exactly one CancelInterrupt: a second one, left pending, used to land in the engine's
final state write and skip the on_cancellation hooks."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from kflow.engine import cancellation
from kflow.engine.interrupts import CancelInterrupt, raise_in_thread
from kflow.engine.pausing import _cancelled_while_paused


def paused_context() -> Any:
    return SimpleNamespace(async_task=None)


def test_the_pause_raises_when_nobody_else_claimed_its_thread() -> None:
    me = threading.get_ident()
    try:
        with pytest.raises(CancelInterrupt):
            _cancelled_while_paused(paused_context())
        assert not cancellation.claim_thread(me), "the pause claimed its thread"
    finally:
        cancellation.release_thread(me)


def test_when_the_canceller_claimed_the_thread_only_its_interrupt_is_raised() -> None:
    me = threading.get_ident()
    assert cancellation.claim_thread(me)  # the canceller got there first ...
    canceller = threading.Timer(0.05, raise_in_thread, (me, CancelInterrupt))
    try:
        canceller.start()  # ... and raises into this thread a moment later
        with pytest.raises(CancelInterrupt):
            _cancelled_while_paused(paused_context())
        canceller.join()
        time.sleep(0.05)  # a second, pending interrupt would surface here
    finally:
        cancellation.release_thread(me)
