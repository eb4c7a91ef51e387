"""Command line of the local cluster: `python -m tests.cluster up|down|status|load-image|env`."""

from __future__ import annotations

import argparse
import sys
import time

from tests.cluster import cluster, kind, paths, sessions
from tests.cluster.versions import KUBERNETES_VERSION


def _up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with sessions.cluster_lock():
        result = cluster.up(args.tier)
        sessions.forget_started()  # started by hand: no test session may stop it
    print(
        f"local cluster ({args.tier}, Kubernetes {KUBERNETES_VERSION}) up in "
        f"{time.monotonic() - started:.1f}s"
    )
    if result.kubeconfig:
        print(f"export KUBECONFIG={result.kubeconfig}")
    if result.docker_host:
        print(f"export DOCKER_HOST={result.docker_host}")
    return 0


def _down(args: argparse.Namespace) -> int:
    with sessions.cluster_lock():
        stopped = cluster.down(args.tier)
        sessions.forget_started()
    print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    leftovers = cluster.status().leftovers() if args.tier == "all" else []
    for item in leftovers:
        print(f"left behind: {item}", file=sys.stderr)
    return 1 if leftovers else 0


def _status(args: argparse.Namespace) -> int:
    state = cluster.status()
    for name, pid in state.processes.items():
        print(f"{name:24} {'running, pid ' + str(pid) if pid else 'stopped'}")
    print(f"{'api server':24} {'ready' if state.apiserver_ready else 'not ready'}")
    print(f"{'node':24} {'Ready' if state.node_ready else 'not ready'}")
    if state.apiserver_ready:
        print(f"{'kubeconfig':24} {paths.admin_kubeconfig()}")
    if state.docker_host:
        print(f"{'docker':24} {state.docker_host}")
    by_sessions = sessions.started_by_sessions()
    if by_sessions:
        print(f"{'started by test sessions':24} {', '.join(sorted(by_sessions))}")
    if leases := sessions.other_leases():
        print(f"{'test sessions using it':24} pids {', '.join(map(str, leases))}")
    for label, items in (
        ("links", state.links),
        ("iptables chains", [c for chains in state.chains.values() for c in chains]),
        ("mounts", state.mounts),
        ("cgroups", state.cgroups),
    ):
        if items:
            print(
                f"{label:24} {len(items)}: {', '.join(items[:5])}{' …' if len(items) > 5 else ''}"
            )
    return 0


def _load_image(args: argparse.Namespace) -> int:
    for name in args.names:
        cluster.load_image(name)
        print(f"loaded {name} into the node's containerd")
    return 0


def _kind_load(args: argparse.Namespace) -> int:
    for name in kind.load(args.name, args.images):
        print(f"loaded {name} into kind cluster {args.name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.cluster",
        description=f"Single-node Kubernetes {KUBERNETES_VERSION} built from parts, for tests.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, default in (("up", _up, "all"), ("down", _down, "all")):
        command = commands.add_parser(name, help=f"{name} a tier (default: {default})")
        command.add_argument("--tier", choices=cluster.TIERS, default=default)
        command.set_defaults(handler=handler)
    commands.add_parser("status", help="what runs, and what is left over").set_defaults(
        handler=_status
    )
    load = commands.add_parser(
        "load-image", help="copy images from Docker into the node (like `kind load docker-image`)"
    )
    load.add_argument("names", nargs="+", metavar="NAME")
    load.set_defaults(handler=_load_image)
    kind_load = commands.add_parser(
        "kind-load", help="load the Python base image (and IMAGEs) into a kind cluster"
    )
    kind_load.add_argument("--name", default="kflow", help="kind cluster name (default: kflow)")
    kind_load.add_argument("images", nargs="*", metavar="IMAGE")
    kind_load.set_defaults(handler=_kind_load)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except Exception as error:  # report any failure as one readable line plus detail
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
