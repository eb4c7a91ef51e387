"""Host networking the harness owns: the node's dummy interface and its teardown.

Everything here is named so `down` can find it again: the `kflow0` dummy link, the CNI bridge,
and the iptables chains kube-proxy and the CNI plugins create (`KUBE-*`, `CNI-*`).
"""

from __future__ import annotations

import shlex
import subprocess

from tests.cluster import topology

_TABLES = ("filter", "nat", "mangle")
# kube-proxy and the kubelet program both address families.
_COMMANDS = ("iptables", "ip6tables")


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc


def link_exists(name: str) -> bool:
    return _run(["ip", "link", "show", name], check=False).returncode == 0


def ensure_node_address() -> None:
    """Create the interface carrying the node (and API server) address.

    A dummy link where the kernel has the driver; some VM kernels lack it, and an empty bridge
    holds a local address just as well.
    """
    if not link_exists(topology.DUMMY_INTERFACE):
        dummy = ["ip", "link", "add", topology.DUMMY_INTERFACE, "type", "dummy"]
        if _run(dummy, check=False).returncode != 0:
            _run(["ip", "link", "add", topology.DUMMY_INTERFACE, "type", "bridge"])
    addresses = _run(["ip", "-o", "addr", "show", "dev", topology.DUMMY_INTERFACE]).stdout
    if f" {topology.NODE_IP}/" not in addresses:
        _run(["ip", "addr", "add", f"{topology.NODE_IP}/32", "dev", topology.DUMMY_INTERFACE])
    _run(["ip", "link", "set", topology.DUMMY_INTERFACE, "up"])


def remove_link(name: str) -> bool:
    if not link_exists(name):
        return False
    _run(["ip", "link", "delete", name])
    return True


def owned_links() -> list[str]:
    return [name for name in (topology.DUMMY_INTERFACE, topology.CNI_BRIDGE) if link_exists(name)]


def veth_peers_of_bridge() -> list[str]:
    out = _run(["ip", "-o", "link", "show", "master", topology.CNI_BRIDGE], check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


NODE_CHAIN_PREFIXES = ("KUBE-", "CNI-")


def _chains(command: str, table: str, prefixes: tuple[str, ...]) -> list[str]:
    out = _run([command, "-t", table, "-S"], check=False).stdout
    return [
        line.split()[1]
        for line in out.splitlines()
        if line.startswith("-N ") and line.split()[1].startswith(prefixes)
    ]


def owned_chains(prefixes: tuple[str, ...] = NODE_CHAIN_PREFIXES) -> dict[str, list[str]]:
    """Chains with one of `prefixes`, keyed by `command table` (e.g. `ip6tables nat`)."""
    return {
        f"{command} {table}": chains
        for command in _COMMANDS
        for table in _TABLES
        if (chains := _chains(command, table, prefixes))
    }


def remove_chains(
    prefixes: tuple[str, ...] = NODE_CHAIN_PREFIXES, interface: str | None = None
) -> None:
    """Drop every rule jumping to a chain with one of `prefixes` (or naming `interface`),
    then flush and delete those chains."""
    for command in _COMMANDS:
        for table in _TABLES:
            _remove_chains_in(command, table, prefixes, interface)


def _remove_chains_in(
    command: str, table: str, prefixes: tuple[str, ...], interface: str | None
) -> None:
    chains = _chains(command, table, prefixes)
    rules = _run([command, "-t", table, "-S"], check=False).stdout.splitlines()
    for rule in rules:
        parts = shlex.split(rule)
        if parts[:1] != ["-A"] or parts[1] in chains:
            continue
        if any(p in chains or (interface is not None and p == interface) for p in parts[2:]):
            _run([command, "-t", table, "-D", *parts[1:]], check=False)
    for chain in chains:
        _run([command, "-t", table, "-F", chain], check=False)
    for chain in chains:
        _run([command, "-t", table, "-X", chain], check=False)
