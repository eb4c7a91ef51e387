"""Builds the kflow images the e2e tests run, cached by the hash of everything that goes in.

- `runtime_image`: images/runtime/Dockerfile over a context of wheels made on the host (the
  kflow wheel from `uv build`, its locked dependencies from `uv export` + `pip download`), so the
  build itself runs with `--network none`.
- `example_image`: examples/Dockerfile on top of it (what a user writes).
- `flows_image`: the runtime plus a directory of test flows at /flows.

An image whose tag (the content hash) already exists is not built again. Python (not bash) so
the e2e fixtures call it directly; `python -m tests.support.images` builds all three by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import docker
from docker.errors import BuildError, ImageNotFound

from tests.cluster import paths
from tests.cluster.images import PYTHON_BASE_IMAGE

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_DOCKERFILE = ROOT / "images" / "runtime" / "Dockerfile"
EXAMPLE_DOCKERFILE = ROOT / "examples" / "Dockerfile"
RUNTIME_REPOSITORY = "kflow/runtime"
EXAMPLE_REPOSITORY = "kflow/example-flows"
FLOWS_REPOSITORY = "kflow/test-flows"
PYTHON_VERSION = "3.11"
"""The base image's Python (Debian bookworm): the wheels are downloaded for it."""
_SOURCES = ("sdk/kflow", "operator/kflow_operator")
_PROJECT_FILES = ("pyproject.toml", "uv.lock", "README.md")


def _say(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


def content_hash(files: Iterable[Path], *extra: str) -> str:
    digest = hashlib.sha256()
    for part in extra:
        digest.update(part.encode() + b"\0")
    for path in files:
        digest.update(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path).encode())
        digest.update(b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _client(docker_host: str) -> docker.DockerClient:
    return docker.DockerClient(base_url=docker_host, timeout=600)


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """One builder at a time per image kind, across test processes."""
    lock_path = paths.images_dir() / f"{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(
    client: docker.DockerClient,
    context: Path,
    dockerfile: Path,
    tag: str,
    buildargs: dict[str, str] | None = None,
) -> None:
    _say(f"building {tag}")
    try:
        client.images.build(
            path=str(context),
            dockerfile=str(dockerfile),
            tag=tag,
            buildargs=buildargs or {},
            network_mode="none",
            rm=True,
            forcerm=True,
        )
    except BuildError as error:
        log = "".join(str(chunk.get("stream", "")) for chunk in error.build_log)
        raise RuntimeError(f"building {tag} failed: {error.msg}\n{log[-4000:]}") from error


def _run(command: list[str], cwd: Path = ROOT) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-2000:]}"
            f"{done.stderr[-4000:]}"
        )


def _wheel_platforms() -> list[str]:
    machine = platform.machine()
    tags = [f"manylinux_2_{minor}_{machine}" for minor in (36, 34, 31, 28, 27, 24, 17)]
    return [*tags, f"manylinux2014_{machine}", f"linux_{machine}"]


def _dependency_wheels() -> Path:
    """deps/: every locked dependency as wheels for the base image's Python, cached by the
    hash of uv.lock (so unchanged dependencies keep Docker's layer cache warm)."""
    key = content_hash(
        [ROOT / "uv.lock", ROOT / "pyproject.toml"], PYTHON_VERSION, *_wheel_platforms()
    )
    target = paths.images_dir() / f"runtime-deps-{key}"
    if target.is_dir():
        return target
    with tempfile.TemporaryDirectory(dir=paths.images_dir()) as tmp:
        deps = Path(tmp) / "deps"
        deps.mkdir()
        requirements = deps / "requirements.txt"
        _run(
            [
                "uv",
                "export",
                "--frozen",
                "--no-dev",
                "--no-emit-project",
                "--no-hashes",
                "--format",
                "requirements-txt",
                "--output-file",
                str(requirements),
            ]
        )
        platforms = [arg for tag in _wheel_platforms() for arg in ("--platform", tag)]
        _run(
            [
                "uv",
                "tool",
                "run",
                "--from",
                "pip",
                "pip",
                "download",
                "--quiet",
                "--requirement",
                str(requirements),
                "--dest",
                str(deps),
                "--only-binary=:all:",
                "--python-version",
                PYTHON_VERSION,
                "--implementation",
                "cp",
                *platforms,
            ]
        )
        deps.rename(target)
    return target


def _prepare_runtime_context(context: Path) -> None:
    """deps/ (cached dependency wheels) and kflow/ (the kflow wheel, built now)."""
    shutil.copytree(_dependency_wheels(), context / "deps")
    _run(["uv", "build", "--wheel", "--out-dir", str(context / "kflow")])


def runtime_image(docker_host: str) -> str:
    """The runtime image's tag, built now if no image with this content exists."""
    client = _client(docker_host)
    base_id = str(client.images.get(PYTHON_BASE_IMAGE).id)
    files = [RUNTIME_DOCKERFILE, *(ROOT / f for f in _PROJECT_FILES)]
    files += [path for source in _SOURCES for path in _files(ROOT / source)]
    tag = f"{RUNTIME_REPOSITORY}:{content_hash(files, base_id, PYTHON_VERSION)}"
    with _locked("runtime"):
        if _exists(client, tag):
            return tag
        with tempfile.TemporaryDirectory(dir=paths.images_dir()) as tmp:
            context = Path(tmp)
            _prepare_runtime_context(context)
            _build(client, context, RUNTIME_DOCKERFILE, tag, {"BASE_IMAGE": PYTHON_BASE_IMAGE})
    return tag


def example_image(docker_host: str) -> str:
    """examples/Dockerfile built on the runtime image, as a user would."""
    runtime = runtime_image(docker_host)
    client = _client(docker_host)
    files = [EXAMPLE_DOCKERFILE, *_files(EXAMPLE_DOCKERFILE.parent)]
    tag = f"{EXAMPLE_REPOSITORY}:{content_hash(files, runtime)}"
    with _locked("example"):
        if not _exists(client, tag):
            _build(
                client,
                EXAMPLE_DOCKERFILE.parent,
                EXAMPLE_DOCKERFILE,
                tag,
                {"RUNTIME_IMAGE": runtime},
            )
    return tag


def flows_image(docker_host: str, flows: Path) -> str:
    """The runtime image with the files of `flows` at /flows (entrypoints `file.py:function`)."""
    runtime = runtime_image(docker_host)
    client = _client(docker_host)
    files = list(_files(flows))
    tag = f"{FLOWS_REPOSITORY}:{content_hash(files, runtime)}"
    with _locked("flows"):
        if _exists(client, tag):
            return tag
        with tempfile.TemporaryDirectory(dir=paths.images_dir()) as tmp:
            context = Path(tmp)
            shutil.copytree(flows, context / "flows", ignore=shutil.ignore_patterns("__pycache__"))
            dockerfile = context / "Dockerfile"
            dockerfile.write_text("ARG RUNTIME_IMAGE\nFROM ${RUNTIME_IMAGE}\nCOPY flows/ /flows/\n")
            _build(client, context, dockerfile, tag, {"RUNTIME_IMAGE": runtime})
    return tag


def main() -> int:
    from tests.cluster import docker_engine

    host = docker_engine.running_host()
    if host is None:
        print("no Docker engine answers; run `python -m tests.cluster up --tier docker`")
        return 1
    docker_engine.load_python_base(host)
    print(runtime_image(host))
    print(example_image(host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
