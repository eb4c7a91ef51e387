"""The thread task runner's own pool and the task-run completion it hands results through
(kflow.completion): what ThreadPoolExecutor and concurrent.futures.Future gave, for less."""

from __future__ import annotations

import functools
import threading

import pytest
from kflow import flow, task
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


def test_many_short_calls_share_a_few_threads() -> None:
    """A thread woken for the queue takes what was queued while it waited for the GIL: 1,000
    no-op calls submitted in a burst started ~44 threads when each queued call counted as
    needing a thread of its own."""
    runner = ThreadPoolTaskRunner()
    finished = threading.Semaphore(0)
    for _ in range(1000):
        runner.submit(finished.release)
    for _ in range(1000):
        assert finished.acquire(timeout=10)
    threads = len(runner._threads)
    runner.shutdown(wait=True)
    assert threads <= 15, f"{threads} threads for 1,000 calls that never block"


@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "idle-thread"])
def test_calls_that_block_run_side_by_side(warm: bool) -> None:
    """Twenty calls that can only finish together: each needs a thread of its own, also when
    a woken idle thread took the first of them and the others queued behind it (the
    watchdog's case)."""
    runner = ThreadPoolTaskRunner()
    if warm:
        ran = threading.Event()
        runner.submit(ran.set)
        assert ran.wait(10)
        wait_until("the thread idle", lambda: runner._idle == 1, timeout=10)
    count = 20
    barrier = threading.Barrier(count, timeout=20)
    met = threading.Semaphore(0)

    def meet() -> None:
        barrier.wait()
        met.release()

    for _ in range(count):
        runner.submit(meet)
    for _ in range(count):
        assert met.acquire(timeout=20), "a call waited for calls that could not finish"
    watchdog = runner._watchdog
    runner.shutdown(wait=True)
    assert watchdog is None or not watchdog.is_alive(), "the watchdog outlived shutdown"


@pytest.mark.usefixtures("backend")
def test_mapped_tasks_that_wait_for_each_other_all_finish() -> None:
    """What a flow sees: tasks mapped after a first one ran run side by side (each waits at a
    barrier until all sixteen are there), whichever thread took the first of them."""
    barrier = threading.Barrier(16, timeout=20)

    @task
    def meet(i: int) -> int:
        if i >= 0:
            barrier.wait()
        return i

    @flow
    def fan_out() -> list[int]:
        meet.submit(-1).result()
        return [future.result() for future in meet.map(range(16))]

    assert fan_out() == list(range(16))
