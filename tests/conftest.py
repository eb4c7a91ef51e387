"""Session fixtures giving tests a real cluster: `kubeconfig`, `node_cluster`, `docker_engine`.

A user's own cluster wins: with `KUBECONFIG` set (e.g. kind), tests use it untouched. Otherwise
the local cluster from `tests.cluster` is started on demand. Concurrent sessions share it: the
last one to finish stops the tiers sessions started (never what a person started with
`cluster-up`); set `KFLOW_KEEP_CLUSTER=1` to keep them running.

The slow, one-off preparation (building the Kubernetes binaries, making images) runs once after
collection, outside any test's timeout, and only when a selected test needs a cluster; unit-only
runs never touch it. Starting the daemons afterwards takes seconds.

A cluster that cannot be had fails the tests that need it, with the reason — never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster import (
    cluster,
    control_plane,
    node,
    paths,
    sessions,
)
from tests.cluster import docker_engine as docker_tier
from tests.cluster.versions import KUBERNETES_VERSION

# Captured at import, before any fixture exports our own kubeconfig to child processes.
# Our own admin kubeconfig exported by hand still means "the local cluster" (start it if down).
_USER_KUBECONFIG = (
    None
    if os.environ.get("KUBECONFIG") in (None, "", str(paths.admin_kubeconfig()))
    else os.environ["KUBECONFIG"]
)
_TIER1_FIXTURES = {"kubeconfig", "node_cluster"}
_OWN_CONTROL_PLANE_FIXTURES = {"chaos"}
"""Tests that start an etcd and API server of their own (tests/chaos): they need the control
plane's binaries even where KUBECONFIG names a user's cluster."""
_NODE_FIXTURES = {"node_cluster"}
_DOCKER_FIXTURES = {"docker_engine"}
_LIFECYCLE_MODULE = "tests/e2e/test_cluster_lifecycle.py"


@dataclass
class _LocalCluster:
    """This session's use of the shared local cluster (see tests.cluster.sessions)."""

    leased: bool = False
    preparation_error: str | None = None

    def bring_up(self, tier: str) -> cluster.UpResult:
        if self.preparation_error:
            pytest.fail(self.preparation_error, pytrace=False)
        if os.geteuid() != 0:
            pytest.fail(
                "the local cluster needs root (it creates network links, iptables rules and "
                "cgroups); run the suite as root, or point KUBECONFIG at your own cluster "
                "(see docs/local-cluster.md for kind)",
                pytrace=False,
            )
        with sessions.cluster_lock():
            sessions.take_lease()
            self.leased = True
            before = cluster.status().processes
            try:
                result = cluster.up(tier)
            except Exception as error:
                pytest.fail(
                    f"could not bring up the local cluster (tier {tier}): {error}\n"
                    f"state and logs: {paths.state_dir()}",
                    pytrace=False,
                )
            finally:
                after = cluster.status().processes
                sessions.add_started(
                    [name for name, pid in after.items() if pid and not before.get(name)]
                )
        return result

    def tear_down(self) -> None:
        """Stop what sessions started, once no other session still uses the cluster."""
        if not self.leased:
            return
        sessions.drop_lease()
        with sessions.cluster_lock():
            if os.environ.get("KFLOW_KEEP_CLUSTER") == "1":
                sessions.forget_started()
                return
            if sessions.other_leases():
                return
            started = sessions.started_by_sessions()
            if docker_tier.DOCKERD.name in started:
                cluster.down("docker")
            if started & {p.name for p in control_plane.PROCESSES}:
                cluster.down("control-plane")
            elif started & {p.name for p in node.PROCESSES}:
                cluster.down("node")
            sessions.forget_started()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the harness lifecycle tests last: they stop and restart the local cluster."""
    items.sort(key=lambda item: item.nodeid.startswith(_LIFECYCLE_MODULE))


def _needs(items: list[pytest.Item], fixtures: set[str]) -> bool:
    return any(fixtures & set(getattr(item, "fixturenames", ())) for item in items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build binaries and images before the first test, so no test timeout covers a cold build."""
    needs_local_cluster = _needs(session.items, _TIER1_FIXTURES) and _USER_KUBECONFIG is None
    needs_tier1 = needs_local_cluster or _needs(session.items, _OWN_CONTROL_PLANE_FIXTURES)
    needs_node = _needs(session.items, _NODE_FIXTURES) and _USER_KUBECONFIG is None
    needs_docker = _needs(session.items, _DOCKER_FIXTURES)
    if not (needs_tier1 or needs_docker) or os.geteuid() != 0:
        return
    if session.config.option.collectonly:
        return
    state = _state(session.config)
    capture = session.config.pluginmanager.getplugin("capturemanager")
    reporter = session.config.pluginmanager.getplugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"local cluster: preparing Kubernetes {KUBERNETES_VERSION} binaries and images "
            f"(cached in {paths.cache_root()})"
        )
    tier = "all" if needs_node or (needs_tier1 and needs_docker) else "control-plane"
    if not needs_tier1:
        tier = "docker"
    try:
        with capture.global_and_fixture_disabled():
            cluster.prepare(tier)
    except Exception as error:
        state.preparation_error = f"preparing the local cluster failed: {error}"


_STATE_KEY = pytest.StashKey[_LocalCluster]()


def _state(config: pytest.Config) -> _LocalCluster:
    if _STATE_KEY not in config.stash:
        config.stash[_STATE_KEY] = _LocalCluster()
    return config.stash[_STATE_KEY]


@pytest.fixture(scope="session")
def _local_cluster(request: pytest.FixtureRequest) -> Iterator[_LocalCluster]:
    state = _state(request.config)
    yield state
    state.tear_down()


@pytest.fixture(scope="session")
def kubeconfig(_local_cluster: _LocalCluster) -> Path:
    """Admin kubeconfig of a running API server (tier 1); exported as KUBECONFIG."""
    if _USER_KUBECONFIG is not None:
        return Path(_USER_KUBECONFIG)
    result = _local_cluster.bring_up("control-plane")
    assert result.kubeconfig is not None
    os.environ["KUBECONFIG"] = str(result.kubeconfig)
    return result.kubeconfig


@pytest.fixture(scope="session")
def node_cluster(_local_cluster: _LocalCluster, kubeconfig: Path) -> Path:
    """Kubeconfig of a cluster whose node runs pods (tier 2); the user's cluster if set."""
    if _USER_KUBECONFIG is not None:
        return kubeconfig
    _local_cluster.bring_up("node")
    return kubeconfig


@pytest.fixture(scope="session")
def docker_engine(_local_cluster: _LocalCluster) -> str:
    """DOCKER_HOST of a running Docker engine (the user's if one answers); exported."""
    if host := docker_tier.running_host():
        docker_tier.load_python_base(host)
        os.environ["DOCKER_HOST"] = host
        return host
    result = _local_cluster.bring_up("docker")
    assert result.docker_host is not None
    os.environ["DOCKER_HOST"] = result.docker_host
    return result.docker_host
