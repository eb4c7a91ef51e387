"""The harness itself: `up` is idempotent and fast when warm; `down` leaves nothing behind.

The down test stops the local cluster in the middle of a session: tests/conftest.py runs this
module last, the test waits (holding the cluster lock) until no other pytest session uses the
cluster, and it restores what was running before it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.cluster import cgroups, cluster, network, paths, sessions, topology
from tests.cluster import docker_engine as docker_tier

pytestmark = pytest.mark.e2e


@pytest.fixture
def local_cluster(node_cluster: Path, docker_engine: str) -> Path:
    if node_cluster != paths.admin_kubeconfig():
        pytest.skip("harness lifecycle tests apply only to the local cluster, not KUBECONFIG's")
    return node_cluster


def test_up_twice_keeps_the_same_daemons_and_is_fast(local_cluster: Path) -> None:
    before = cluster.status()
    started = time.monotonic()
    cluster.up("all")
    elapsed = time.monotonic() - started
    after = cluster.status()
    assert after.processes == before.processes
    assert after.apiserver_ready and after.node_ready
    assert elapsed < 20, f"warm `up` took {elapsed:.1f}s"


def _wait_until_no_other_session_uses_the_cluster(timeout: float = 300) -> None:
    """Stopping the cluster under another session's tests would break them: wait, bounded.

    In CI this session is alone. On a shared developer machine other sessions may keep the
    cluster busy for longer; then the test steps aside (with the reason) rather than sabotage
    them — except with CI=true, where it fails.
    """
    deadline = time.monotonic() + timeout
    while others := sessions.other_leases():
        if time.monotonic() > deadline:
            reason = f"other pytest sessions (pids {others}) kept using the local cluster"
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        time.sleep(1)


def test_down_leaves_nothing_it_started(local_cluster: Path) -> None:
    with sessions.cluster_lock():
        _wait_until_no_other_session_uses_the_cluster()
        _down_then_restore()


def _down_then_restore() -> None:
    before = cluster.status()
    ours_docker = before.processes[docker_tier.DOCKERD.name] is not None
    try:
        cluster.down("all")
        after = cluster.status()
        assert after.leftovers() == []
        assert not network.link_exists(topology.DUMMY_INTERFACE)
        assert not network.link_exists(topology.CNI_BRIDGE)
        if ours_docker:
            assert not network.link_exists(docker_tier.OWN_BRIDGE)
            assert network.owned_chains(docker_tier.DOCKER_CHAIN_PREFIXES) == {}
            assert cgroups.trees(docker_tier.CGROUP_NAME) == []
        remaining = sorted(str(p) for p in paths.state_dir().rglob("*"))[:20]
        assert not paths.state_dir().exists(), f"state directory not removed: {remaining}"
    finally:
        cluster.up("all" if ours_docker else "node")
