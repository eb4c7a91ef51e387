"""Where a forked child writes its run's UID so /proc/PID/environ names its FlowRun, as an
exec'd child's does (the owner check reads it), and which runs cannot use the slot."""

from __future__ import annotations

import pytest
from kflow_operator.launchers.environ_slot import (
    PLACEHOLDER,
    SLOT_LENGTH,
    env_start,
    filling,
    fits,
    slot_offset,
)
from kflow_operator.launchers.fork_request import EXEC, EXECUTE, plan

UID = "6f1c2a0e-3d4b-4c5d-9e8f-0a1b2c3d4e5f"
SCRIPT = ["/venv/bin/kflow", "execute"]


def test_the_slot_is_the_placeholders_value_and_nothing_else() -> None:
    environ = f"PATH=/bin\0KFLOW_FLOW_RUN_UID={PLACEHOLDER}\0HOME=/h\0".encode()
    offset = slot_offset(environ)
    assert offset == len("PATH=/bin\0KFLOW_FLOW_RUN_UID=")
    assert environ[offset : offset + SLOT_LENGTH] == PLACEHOLDER.encode()
    assert slot_offset(f"KFLOW_FLOW_RUN_UID={PLACEHOLDER}".encode()) == len("KFLOW_FLOW_RUN_UID=")


@pytest.mark.parametrize(
    "environ",
    [
        b"PATH=/bin\0",
        f"KFLOW_FLOW_RUN_UID={UID}\0".encode(),
        f"XKFLOW_FLOW_RUN_UID={PLACEHOLDER}\0".encode(),
        f"KFLOW_FLOW_RUN_UID={PLACEHOLDER}-\0".encode(),
    ],
)
def test_no_slot_unless_the_whole_entry_is_the_placeholder(environ: bytes) -> None:
    assert slot_offset(environ) is None


def test_the_filling_makes_the_entry_name_the_run_and_only_it() -> None:
    environ = f"A=1\0KFLOW_FLOW_RUN_UID={PLACEHOLDER}\0B=2\0".encode()
    offset = slot_offset(environ)
    assert offset is not None
    value = filling(UID)
    assert len(value) == SLOT_LENGTH
    patched = environ[:offset] + value + environ[offset + SLOT_LENGTH :]
    entries = patched.split(b"\0")
    assert f"KFLOW_FLOW_RUN_UID={UID}".encode() in entries
    assert [e for e in entries if e] == [b"A=1", f"KFLOW_FLOW_RUN_UID={UID}".encode(), b"B=2"]
    assert filling(None) == b"\0" * SLOT_LENGTH, "no UID: the entry names no run"


def test_a_uid_longer_than_the_slot_is_refused_and_its_run_execd() -> None:
    assert fits(UID) and fits("x" * SLOT_LENGTH) and not fits("x" * (SLOT_LENGTH + 1))
    with pytest.raises(ValueError, match="at most 64 bytes"):
        filling("x" * (SLOT_LENGTH + 1))
    server_env = {"PATH": "/usr/bin"}
    env = {**server_env, "KFLOW_FLOW_RUN_UID": UID}
    assert plan(SCRIPT, SCRIPT, env, None, server_env).mode == EXECUTE
    long_uid = {**env, "KFLOW_FLOW_RUN_UID": "x" * (SLOT_LENGTH + 1)}
    assert plan(SCRIPT, SCRIPT, long_uid, None, server_env).mode == EXEC


def test_env_start_is_field_50_of_proc_stat_even_with_a_parenthesis_in_the_name() -> None:
    fields = [str(n) for n in range(3, 53)]
    stat = "42 (a) b) " + " ".join(fields)
    assert env_start(stat) == 50
