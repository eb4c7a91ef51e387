"""Infrastructure identifiers: `scope:id` formatting and parsing, process identity."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from kflow_operator.identifiers import (
    InfrastructureId,
    ProcessId,
    format_pid,
    host_scope,
    own_process_id,
    parse_pid,
    read_proc_stat,
)


@pytest.mark.parametrize(
    ("scope", "ident"),
    [
        ("host/4f0c-boot", "1234@5678"),
        ("unix:///var/run/docker.sock", "0123abcd"),
        ("tcp://10.0.0.1:2375", "deadbeef"),
        ("7b6c-kube-system-uid", "ns/job-name"),
    ],
)
def test_pid_round_trip(scope: str, ident: str) -> None:
    assert parse_pid(format_pid(scope, ident)) == (scope, ident)
    assert InfrastructureId("docker", scope, ident).pid == f"{scope}:{ident}"


@pytest.mark.parametrize("bad", ["", "no-colon", ":id", "scope:"])
def test_bad_pids_are_refused_with_an_example(bad: str) -> None:
    with pytest.raises(ValueError, match="is not `scope:id`"):
        parse_pid(bad)


def test_ids_cannot_contain_colons() -> None:
    with pytest.raises(ValueError, match="cannot contain ':'"):
        format_pid("scope", "a:b")


def test_process_id_parse() -> None:
    assert ProcessId.parse("12@34") == ProcessId(12, 34)
    assert ProcessId(12, 34).format() == "12@34"
    with pytest.raises(ValueError, match="PID@START_TICKS"):
        ProcessId.parse("12")


def test_host_scope_names_host_and_boot() -> None:
    host, _, boot = host_scope().partition("/")
    assert host == os.uname().nodename
    assert len(boot) == 36


def test_a_process_is_told_apart_from_a_later_one_with_its_pid() -> None:
    me = own_process_id()
    stat = read_proc_stat(me.pid)
    assert stat is not None and stat.start_ticks == me.start_ticks and stat.state in "RS"


def test_zombies_show_their_exit_status() -> None:
    child = subprocess.Popen(["sh", "-c", "exit 7"])
    try:
        deadline = time.monotonic() + 5
        while (stat := read_proc_stat(child.pid)) is not None and stat.state != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            os.sched_yield()
        assert stat is not None and stat.exit_code is not None
        assert os.waitstatus_to_exitcode(stat.exit_code) == 7
    finally:
        child.wait()
    assert read_proc_stat(child.pid) is None


def test_only_dead_peers_of_this_host_are_pruned() -> None:
    from kflow_operator.identifiers import ProcessId
    from kflow_operator.peers import dead_local_peers

    listed = [
        "host/boot/10@100",  # this host, dead
        "host/boot/11@110",  # this host, alive
        "other/boot/10@100",  # another host: ages out by its lifetime
        "root@host/20261122/abc",  # Kopf's own identity format: never touched
    ]
    alive = {ProcessId(11, 110)}
    assert dead_local_peers(listed, "host/boot", lambda p: p in alive) == ["host/boot/10@100"]
