"""Build the Kubernetes binaries from the Go module proxy, cached by version.

`k8s.io/kubernetes` cannot be `go install`ed: its go.mod replaces the `k8s.io/*` staging
modules with paths inside its own tree. A small wrapper module requires it and replaces each
staging module it requires at `v0.0.0` with the published `v0.<minor>.<patch>`. The list is read
from the downloaded go.mod so a version bump needs no edit here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.cluster import paths
from tests.cluster.versions import (
    KUBERNETES_BUILD_DATE,
    KUBERNETES_VERSION,
)

# Ordered by tier: the control plane (and kubectl to talk to it) first.
CONTROL_PLANE_COMPONENTS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
)
NODE_COMPONENTS = ("kubelet", "kube-proxy")
ALL_COMPONENTS = CONTROL_PLANE_COMPONENTS + NODE_COMPONENTS

_WRAPPER_MODULE = "kflow.local/k8s-wrapper"
_HEARTBEAT_SECONDS = 30.0


class BuildError(RuntimeError):
    """A step of the Kubernetes build failed; the message names the step and its output."""


def binary(name: str) -> Path:
    return paths.k8s_bin_dir() / name


def missing(components: tuple[str, ...] = ALL_COMPONENTS) -> list[str]:
    return [c for c in components if not binary(c).is_file()]


def go_env() -> dict[str, str]:
    """Go settings that keep the module and build caches under the kflow cache."""
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(paths.go_env_dir() / "mod"),
        GOCACHE=str(paths.go_env_dir() / "build"),
        CGO_ENABLED="0",
        GOFLAGS="-mod=mod -buildvcs=false",
        GOTOOLCHAIN="local",
    )
    return env


def _run_go(args: list[str], cwd: Path, what: str) -> str:
    proc = subprocess.run(
        ["go", *args], cwd=cwd, env=go_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise BuildError(f"{what} failed (go {' '.join(args)}):\n{proc.stderr[-4000:]}")
    return proc.stdout


def staging_replacements(upstream_go_mod: str) -> dict[str, str]:
    """Map each staging module required at v0.0.0 to its published version.

    Kubernetes vX.Y.Z publishes its staging modules as v0.Y.Z.
    """
    major_minor_patch = KUBERNETES_VERSION.removeprefix("v").split(".")
    published = "v0." + ".".join(major_minor_patch[1:])
    local = set(re.findall(r"^\s*(\S+)\s*=>\s*\./staging/\S+\s*$", upstream_go_mod, re.M))
    required_at_zero = set(re.findall(r"^\s*(k8s\.io/\S+)\s+v0\.0\.0\s*$", upstream_go_mod, re.M))
    return {module: published for module in sorted(local & required_at_zero)}


def _upstream_go_mod(work: Path) -> str:
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"],
        cwd=work,
        env=go_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "GoMod" not in info:
        reason = info.get("Error") or proc.stderr[-2000:]
        raise BuildError(f"downloading k8s.io/kubernetes@{KUBERNETES_VERSION} failed: {reason}")
    return Path(info["GoMod"]).read_text()


def write_wrapper(work: Path) -> None:
    """Write the wrapper module and resolve its go.sum (downloads every needed module)."""
    work.mkdir(parents=True, exist_ok=True)
    go_mod = work / "go.mod"
    if not go_mod.exists():
        go_mod.write_text(f"module {_WRAPPER_MODULE}\n\ngo 1.24.0\n")
    replacements = staging_replacements(_upstream_go_mod(work))
    if not replacements:
        raise BuildError(
            f"no staging modules found in k8s.io/kubernetes@{KUBERNETES_VERSION} go.mod"
        )
    lines = [f"module {_WRAPPER_MODULE}", "", "go 1.24.0", ""]
    lines.append(f"require k8s.io/kubernetes {KUBERNETES_VERSION}")
    lines.append("")
    lines.append("replace (")
    lines += [f"\t{module} => {module} {version}" for module, version in replacements.items()]
    lines.append(")")
    go_mod.write_text("\n".join(lines) + "\n")
    packages = [f"k8s.io/kubernetes/cmd/{c}@{KUBERNETES_VERSION}" for c in ALL_COMPONENTS]
    _run_go(["get", *packages], work, "resolving the wrapper module")


def ldflags() -> str:
    major, minor = KUBERNETES_VERSION.removeprefix("v").split(".")[:2]
    values = {
        "gitVersion": KUBERNETES_VERSION,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": KUBERNETES_BUILD_DATE,
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in values.items()]
    return " ".join(flags)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Serialise builds across processes (a CLI `up` and a pytest session may race)."""
    paths.k8s_dir().mkdir(parents=True, exist_ok=True)
    with open(paths.k8s_dir() / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _say(message: str) -> None:
    print(f"[k8s {KUBERNETES_VERSION}] {message}", file=sys.stderr, flush=True)


def _build_one(component: str, work: Path) -> None:
    target = binary(component)
    partial = target.with_name(f".{component}.partial")
    cmd = [
        "go",
        "build",
        "-trimpath",
        "-ldflags",
        ldflags(),
        "-o",
        str(partial),
        f"k8s.io/kubernetes/cmd/{component}",
    ]
    started = time.monotonic()
    log = paths.k8s_dir() / f"build-{component}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=go_env(), stdout=out, stderr=subprocess.STDOUT)
        while True:
            try:
                proc.wait(timeout=_HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                _say(f"building {component} ... {time.monotonic() - started:.0f}s")
    if proc.returncode != 0:
        raise BuildError(f"go build {component} failed; see {log}:\n{log.read_text()[-4000:]}")
    partial.rename(target)
    _say(f"built {component} in {time.monotonic() - started:.0f}s")


def ensure_built(components: tuple[str, ...] = ALL_COMPONENTS) -> None:
    """Build whichever of `components` are not cached yet; a no-op when warm."""
    if not missing(components):
        return
    with _build_lock():
        todo = missing(components)
        if not todo:
            return
        started = time.monotonic()
        work = paths.k8s_dir() / "wrapper"
        paths.k8s_bin_dir().mkdir(parents=True, exist_ok=True)
        _say(f"cold build of {', '.join(todo)} (several minutes on 2 cores)")
        if not (work / "go.sum").exists():
            _say("resolving modules from the Go proxy")
            write_wrapper(work)
            _say(f"modules resolved after {time.monotonic() - started:.0f}s")
        for component in todo:
            _build_one(component, work)
        _say(f"all built in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    ensure_built(tuple(sys.argv[1:]) or ALL_COMPONENTS)
