"""`kflow dashboard`'s parser (argparse only: the web app is imported when the command runs)."""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_PORT = 4200


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range (1-65535)")
    return port


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="serve a web dashboard of the cluster's runs and Deployments on 127.0.0.1",
        description="A live web dashboard of FlowRuns and Deployments, served on 127.0.0.1. "
        "It acts with your kube credentials (what kubectl may do, it may do): never expose "
        "its port to others; to serve others, use --listen with --auth token, where each "
        "person signs in with their own Kubernetes token.",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT})",
    )
    parser.add_argument("--context", help="kube context to use (default: the current one)")
    parser.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address to listen on (default 127.0.0.1); any other needs --auth token",
    )
    parser.add_argument(
        "--auth",
        choices=("none", "token"),
        default="none",
        help="token: every request needs a Kubernetes bearer token (checked with TokenReview, "
        "a SubjectAccessReview to list FlowRuns), and actions are sent with that token; its "
        "own credentials then need the system:auth-delegator rights (default: none, loopback "
        "only)",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", help="namespace to show (default: the kube context's)")
    scope.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="show every namespace you may list",
    )
    scope.add_argument(
        "--local",
        action="store_true",
        help="show this machine's local run history (flows run without a cluster) instead",
    )
    parser.set_defaults(handler="kflow.dashboard.command:main")
