"""The thread task runner's own pool and the task-run completion it hands results through
(kflow.completion): what ThreadPoolExecutor and concurrent.futures.Future gave, for less."""

from __future__ import annotations

import functools
import threading

import pytest
from kflow.completion import Completion
from kflow.task_runners import ThreadPoolTaskRunner

from tests.support.waiting import wait_until


def test_a_completion_wakes_every_waiter_and_runs_each_callback_once() -> None:
    done: Completion[str] = Completion()
    with pytest.raises(TimeoutError):
        done.wait(0.01)
    assert not done.done()
    seen: list[str] = []
    waiters = [threading.Thread(target=lambda: seen.append(done.wait(10))) for _ in range(5)]
    for waiter in waiters:
        waiter.start()
    calls: list[int] = []
    done.add_done_callback(lambda: calls.append(1))
    done.set("final")
    for waiter in waiters:
        waiter.join(10)
    assert seen == ["final"] * 5 and done.wait(0) == "final" and done.done()
    done.add_done_callback(lambda: calls.append(2))  # already set: runs at once
    assert sorted(calls) == [1, 2]


def test_idle_threads_are_reused_and_the_bound_holds() -> None:
    runner = ThreadPoolTaskRunner(max_workers=2)
    release = threading.Event()
    started = threading.Semaphore(0)
    names: list[str] = []

    def held() -> None:
        names.append(threading.current_thread().name)
        started.release()
        release.wait(10)

    for _ in range(3):
        runner.submit(held)
    assert started.acquire(timeout=10) and started.acquire(timeout=10)
    assert not started.acquire(timeout=0.2), "a third thread ran past max_workers=2"
    release.set()
    assert started.acquire(timeout=10), "the queued call never ran"
    runner.shutdown(wait=True)
    assert len(set(names)) == 2

    sequential = ThreadPoolTaskRunner()
    for _ in range(20):
        finished = threading.Event()
        sequential.submit(finished.set)
        assert finished.wait(10)
        wait_until("the thread idle again", lambda: sequential._idle == 1, timeout=10)
    threads = len(sequential._threads)
    sequential.shutdown(wait=True)
    assert threads == 1, f"{threads} threads for calls that never overlapped"


def test_shutdown_runs_what_was_queued_before_it() -> None:
    runner = ThreadPoolTaskRunner(max_workers=1)
    ran: list[int] = []
    gate = threading.Event()
    runner.submit(lambda: gate.wait(10))
    for i in range(5):
        runner.submit(functools.partial(ran.append, i))
    gate.set()
    runner.shutdown(wait=True)
    assert ran == [0, 1, 2, 3, 4]
