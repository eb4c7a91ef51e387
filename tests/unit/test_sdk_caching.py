"""Task caching: a run whose cache key has a live entry ends `Cached` without running its body,
in this process, in another process sharing KFLOW_HOME, until its expiration, unless
refresh_cache; the policies combine as in Prefect; a key that cannot be made leaves the run
uncached with one error line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kflow import flow, get_run_context, task
from kflow.backend import MemoryBackend
from kflow.cache_policies import (
    DEFAULT,
    FLOW_PARAMETERS,
    INPUTS,
    NO_CACHE,
    NONE,
    RUN_ID,
    TASK_SOURCE,
    CompoundCachePolicy,
    Inputs,
)
from kflow.context import TaskRunContext
from kflow.engine import task_cache
from kflow.exceptions import NotSupportedError
from kflow.history.queries import History
from kflow.states import State
from kflow.tasks import task_input_hash

from tests.support.passed_futures import resolved_on_entry

pytestmark = pytest.mark.usefixtures("backend")


def final_task_states(backend: MemoryBackend) -> list[State[Any]]:
    runs = sorted(backend.task_runs.values(), key=lambda run: (run.task_key, run.dynamic_key))
    return [backend.task_run_states[run.id][-1] for run in runs]


def test_a_second_call_with_the_same_inputs_is_cached_and_the_body_does_not_run() -> None:
    calls: list[int] = []

    @task(cache_policy=INPUTS)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @flow
    def squares() -> list[int]:
        return [square(2), square(2), square(3), square.submit(2).result()]

    assert squares() == [4, 4, 9, 4]
    assert calls == [2, 3]


def test_a_cache_hit_ends_completed_named_cached_without_running(backend: MemoryBackend) -> None:
    @task(cache_key_fn=lambda context, parameters: "fixed")
    def answer() -> int:
        return 42

    @flow
    def twice() -> None:
        answer()
        answer()

    twice()
    first, second = final_task_states(backend)
    assert (first.type.value, first.name) == ("COMPLETED", "Completed")
    assert (second.type.value, second.name, second.result()) == ("COMPLETED", "Cached", 42)
    assert str(second) == "Cached(type=COMPLETED)"
    second_run = next(run for run in backend.task_runs.values() if run.dynamic_key == 1)
    assert [s.type.value for s in backend.task_run_states[second_run.id]] == ["COMPLETED"]


def test_the_cache_survives_the_flow_run_and_serves_the_next_one() -> None:
    calls: list[str] = []

    @task(cache_policy=INPUTS + TASK_SOURCE)
    def fetch(url: str) -> str:
        calls.append(url)
        return url.upper()

    @flow
    def crawl(url: str) -> str:
        return fetch(url)

    assert crawl("a") == "A"
    assert crawl("a") == "A"
    assert crawl("b") == "B"
    assert calls == ["a", "b"]


CACHED_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import timedelta
    from kflow import flow, task
    from kflow.cache_policies import INPUTS, TASK_SOURCE

    @task(cache_policy=INPUTS + TASK_SOURCE, cache_expiration=timedelta(hours=1))
    def expensive(x: int) -> int:
        with open(sys.argv[1], "a") as body_runs:
            body_runs.write(f"{x}\\n")
        return x * 10

    @flow
    def pipeline(x: int) -> int:
        return expensive(x)

    print(pipeline(7))
    """
)


def run_script(script: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")}
    env["KFLOW_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_second_process_with_the_same_kflow_home_gets_the_cached_result(tmp_path: Path) -> None:
    script = tmp_path / "cached_flow.py"
    script.write_text(CACHED_SCRIPT)
    body_runs = tmp_path / "body-runs.txt"
    home = tmp_path / "home"

    first = run_script(script, home, str(body_runs))
    second = run_script(script, home, str(body_runs))

    assert first.stdout.strip() == second.stdout.strip() == "70"
    assert body_runs.read_text().splitlines() == ["7"], "the second run ran the body again"
    assert "Finished in state Cached(type=COMPLETED)" in second.stderr
    history = History.at(home)
    newest_first = history.flow_runs()
    assert len(newest_first) == 2
    states = [history.task_runs(run.id)[0].state for run in reversed(newest_first)]
    assert [(s.type, s.name) for s in states if s is not None] == [
        ("COMPLETED", "Completed"),
        ("COMPLETED", "Cached"),
    ]


def test_an_expired_entry_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(task_cache, "clock", lambda: now[0])
    calls: list[int] = []

    @task(cache_policy=INPUTS, cache_expiration=timedelta(minutes=10))
    def stamp(x: int) -> int:
        calls.append(x)
        return len(calls)

    @flow
    def once() -> int:
        return stamp(1)

    assert once() == 1
    now[0] += 599
    assert once() == 1, "an entry 599 s old is within its 10 minutes"
    now[0] += 2
    assert once() == 2, "an entry 601 s old has expired: the body runs again"
    assert once() == 2, "... and its new result is cached anew"
    assert calls == [1, 1]


def test_an_entry_expires_in_real_time_too() -> None:
    calls: list[int] = []

    @task(cache_policy=INPUTS, cache_expiration=timedelta(milliseconds=50))
    def stamp(x: int) -> int:
        calls.append(x)
        return len(calls)

    @flow
    def once() -> int:
        return stamp(1)

    assert once() == 1
    written = time.time()  # the entry was written before the flow returned
    deadline = time.monotonic() + 10
    while time.time() < written + 0.05:  # until the entry is certainly past its expiry
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert once() == 2


def test_refresh_cache_runs_the_body_and_replaces_the_entry() -> None:
    calls: list[str] = []

    def body(x: int) -> int:
        calls.append("run")
        return len(calls)

    cached = task(cache_key_fn=lambda context, parameters: "shared")(body)
    refreshed = task(cache_key_fn=lambda context, parameters: "shared", refresh_cache=True)(body)

    @flow
    def use(t: Any) -> int:
        return int(t(1))

    assert use(cached) == 1
    assert use(cached) == 1
    assert use(refreshed) == 2, "refresh_cache ignores the entry"
    assert use(cached) == 2, "... and replaces it"
    assert cached.with_options(refresh_cache=True).refresh_cache is True


def test_policies_combine_and_subtract_as_in_prefect() -> None:
    assert isinstance(INPUTS + TASK_SOURCE, CompoundCachePolicy)
    assert repr(INPUTS + TASK_SOURCE + RUN_ID) == "INPUTS + TASK_SOURCE + RUN_ID"
    assert repr(DEFAULT) == repr(INPUTS + TASK_SOURCE + RUN_ID)
    assert repr(INPUTS - "client") == "Inputs(exclude=['client'])"
    assert repr(TASK_SOURCE + INPUTS - "client") == "TASK_SOURCE + Inputs(exclude=['client'])"
    assert NONE + INPUTS is INPUTS
    assert INPUTS + NONE is INPUTS
    assert NO_CACHE is NONE
    with pytest.raises(TypeError, match="only an input's name"):
        INPUTS - 3  # type: ignore[operator]
    with pytest.raises(NotSupportedError, match="configure"):
        INPUTS.configure(key_storage="/tmp/keys")


def keys_by_policy(policy: Any, calls: list[tuple[int, int]], flow_param: int) -> list[str]:
    """The cache keys `policy` gives the task calls `calls` in a run with `flow_param`."""
    keys: list[str] = []

    def body(a: int, b: int) -> None:
        ctx = get_run_context()
        assert isinstance(ctx, TaskRunContext)
        key = policy.compute_key(ctx, dict(ctx.parameters), ctx.flow_run.parameters)
        keys.append(key)

    probe = task(body)

    @flow
    def run(p: int) -> None:
        for a, b in calls:
            probe(a, b)

    run(flow_param)
    return keys


def test_what_each_policy_hashes() -> None:
    calls = [(1, 2), (1, 3), (1, 2)]
    one, two, three = keys_by_policy(INPUTS, calls, 0)
    assert one == three != two
    a, b, c = keys_by_policy(INPUTS - "b", calls, 0)
    assert a == b == c, "b is left out"
    assert len(set(keys_by_policy(TASK_SOURCE, calls, 0))) == 1
    assert keys_by_policy(FLOW_PARAMETERS, calls, 5) != keys_by_policy(FLOW_PARAMETERS, calls, 6)
    assert len(set(keys_by_policy(FLOW_PARAMETERS, calls, 5))) == 1
    first_run = keys_by_policy(RUN_ID, calls, 0)
    assert len(set(first_run)) == 1 and first_run != keys_by_policy(RUN_ID, calls, 0)
    assert keys_by_policy(NONE, calls, 0) == [None, None, None]
    assert len(set(keys_by_policy(DEFAULT, calls, 0))) == 2


def test_run_id_scopes_the_cache_to_one_flow_run() -> None:
    calls: list[int] = []

    @task(cache_policy=DEFAULT)
    def work(x: int) -> int:
        calls.append(x)
        return x

    @flow
    def twice() -> None:
        work(1)
        work(1)

    twice()
    twice()
    assert calls == [1, 1], "cached within a run, not across runs"


def test_flow_parameters_policy_caches_per_flow_parameters() -> None:
    calls: list[str] = []

    @task(cache_policy=FLOW_PARAMETERS)
    def setup() -> str:
        calls.append("setup")
        return "ok"

    @flow
    def job(region: str) -> str:
        return setup()

    job("eu")
    job("eu")
    job("us")
    assert calls == ["setup", "setup"]


def test_inputs_hash_the_same_across_processes_for_sets_and_dicts(tmp_path: Path) -> None:
    script = tmp_path / "key.py"
    script.write_text(
        "from kflow.hashing import hash_objects\n"
        "print(hash_objects({'b': {'x', 'y', 'z'}, 'a': [1, 2.5, None], 'c': b'raw'}))\n"
    )
    keys = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        keys.add(done.stdout.strip())
    assert len(keys) == 1, keys


def test_an_input_that_cannot_be_hashed_leaves_the_run_uncached_with_one_error_line(
    backend: MemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    import threading

    calls: list[int] = []

    @task(cache_policy=INPUTS)
    def guarded(lock: Any, x: int) -> int:
        calls.append(x)
        return x

    @flow
    def run() -> None:
        lock = threading.Lock()
        guarded(lock, 1)
        guarded(lock, 1)

    run()
    assert calls == [1, 1], "both ran: no key, no cache"
    assert [s.name for s in final_task_states(backend)] == ["Completed", "Completed"]
    errors = [r.getMessage() for r in caplog.records if "computing cache key" in r.getMessage()]
    assert len(errors) == 2
    assert "task input 'lock'" in errors[0]
    assert "INPUTS - 'lock'" in errors[0]
    assert "cache_policy=NONE" in errors[0]
    assert "Traceback" not in errors[0]


def test_leaving_an_unhashable_input_out_makes_the_run_cacheable() -> None:
    import threading

    calls: list[int] = []

    @task(cache_policy=INPUTS - "lock")
    def guarded(lock: Any, x: int) -> int:
        calls.append(x)
        return x

    @flow
    def run() -> None:
        guarded(threading.Lock(), 1)
        guarded(threading.Lock(), 1)

    run()
    assert calls == [1]


def test_task_input_hash_is_prefects_cache_key_fn() -> None:
    calls: list[int] = []

    @task(cache_key_fn=task_input_hash)
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    @flow
    def called() -> list[int]:
        return [double(x) for x in (1, 2, 1, 2)]

    @flow
    def mapped() -> list[int]:
        return double.map([1, 2, 1, 2]).result()

    assert called() == [2, 4, 2, 4]
    assert calls == [1, 2]
    assert mapped() == [2, 4, 2, 4]
    assert calls == [1, 2], "the mapped runs are served from the cache"


def test_task_input_hash_gives_no_key_for_inputs_it_cannot_hash() -> None:
    import threading

    seen: list[Any] = []

    @task
    def probe(lock: Any) -> None:
        ctx = get_run_context()
        assert isinstance(ctx, TaskRunContext)
        seen.append(task_input_hash(ctx, dict(ctx.parameters)))

    @flow
    def run() -> None:
        probe(threading.Lock())

    run()
    assert seen == [None]


def test_cache_key_fn_gets_the_task_run_context_and_the_inputs() -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
        seen.append((context.task.name, context.task_run.name, dict(parameters)))
        return f"{context.task.name}-{parameters['x']}"

    @task(cache_key_fn=key)
    def inc(x: int) -> int:
        return x + 1

    @task
    def one() -> int:
        return 1

    @flow
    def run() -> int:
        return inc(resolved_on_entry(one.submit()))

    assert run() == 2
    assert seen == [("inc", seen[0][1], {"x": 1})], "the future arrives as its value"
    assert seen[0][1].startswith("inc-")


def test_a_cache_key_fn_that_raises_or_returns_a_non_string_runs_the_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def broken(context: Any, parameters: Any) -> str:
        raise KeyError("prompt_version")

    @task(cache_key_fn=broken)
    def a(x: int) -> int:
        calls.append(x)
        return x

    @task(cache_key_fn=lambda context, parameters: 42)  # type: ignore[arg-type, return-value]
    def b(x: int) -> int:
        calls.append(x)
        return x

    @flow
    def run() -> None:
        a(1)
        a(1)
        b(2)
        b(2)

    run()
    assert calls == [1, 1, 2, 2]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "KeyError: 'prompt_version'" in messages
    assert "it must return a string, or None for no caching" in messages


def test_options_are_checked_and_follow_prefect_precedence() -> None:
    def body(x: int) -> int:
        return x

    with pytest.warns(UserWarning, match="cache_key_fn is used"):
        both = task(cache_policy=INPUTS, cache_key_fn=task_input_hash)(body)
    assert type(both.cache_policy).__name__ == "CacheKeyFnPolicy"
    with pytest.warns(UserWarning, match="persist_result=False"):
        off = task(cache_policy=INPUTS, persist_result=False)(body)
    assert off.cache_policy is None
    assert task(cache_policy=NONE)(body).cache_policy is None
    with pytest.raises(TypeError, match=r"must come from kflow\.cache_policies"):
        task(cache_policy="inputs")(body)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="must be a function"):
        task(cache_key_fn="key")(body)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"must be a datetime\.timedelta"):
        task(cache_policy=INPUTS, cache_expiration=60)(body)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="longer than zero"):
        task(cache_policy=INPUTS, cache_expiration=timedelta(0))(body)
    kept = task(cache_policy=Inputs(exclude=["y"]), cache_expiration=timedelta(hours=1))(body)
    copy = kept.with_options(name="copy")
    assert repr(copy.cache_policy) == repr(kept.cache_policy)
    assert copy.cache_expiration == timedelta(hours=1)


def test_a_cache_hit_costs_under_a_millisecond(backend: MemoryBackend) -> None:
    @task(cache_policy=INPUTS + TASK_SOURCE)
    def cheap(x: int) -> int:
        return x

    @flow
    def hits(n: int) -> float:
        cheap(1)  # the miss that writes the entry
        start = time.perf_counter()
        for _ in range(n):
            cheap(1)
        return (time.perf_counter() - start) / n

    per_hit = hits(200)
    assert sum(1 for s in final_task_states(backend) if s.name == "Cached") == 200
    assert per_hit < 0.001, f"{per_hit * 1e6:.0f} us per cache hit"


KEY_SCRIPT = textwrap.dedent(
    """
    from kflow import task

    @task
    def shaped(rows: list[str]) -> list[str]:
        return [row.strip() for row in rows if row not in {"skip", "ignore", "drop"}]

    print(shaped.task_key)
    """
)


def test_a_task_key_is_the_same_in_every_process(tmp_path: Path) -> None:
    """Task keys name persisted results and feed task_input_hash: a comprehension (a nested code
    object) or a set literal in the body must not make them differ between processes."""
    script = tmp_path / "key.py"
    script.write_text(KEY_SCRIPT)
    keys = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        keys.add(done.stdout.strip())
    assert len(keys) == 1, keys
    assert keys.pop().startswith("shaped-")
