"""Build the operator image (images/operator/Dockerfile) from the working tree.

Nothing inside `docker build` reaches a network: kflow's wheel and every dependency's wheel
are made on the host first and sent as the build context. Dependency wheels depend only on
uv.lock, so they are downloaded once per lock into the cache; kflow's own wheel is rebuilt each
time (a second or two). An image whose context digest matches is not built again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tests.cluster import paths

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "images" / "operator" / "Dockerfile"
CHART_YAML = REPO / "charts" / "kflow" / "Chart.yaml"
OPERATOR_REPOSITORY = "docker.io/kflow/operator"
_DIGEST_LABEL = "dev.kflow.context-digest"
# The base image is Debian bookworm: CPython 3.11 and glibc 2.36; pip needs every tag spelt out.
_PLATFORMS = tuple(
    f"{tag}_x86_64"
    for tag in (
        "manylinux_2_36",
        "manylinux_2_34",
        "manylinux_2_31",
        "manylinux_2_28",
        "manylinux_2_17",
        "manylinux2014",
        "manylinux_2_5",
        "manylinux1",
    )
)


def _say(message: str) -> None:
    print(f"[operator-image] {message}", file=sys.stderr, flush=True)


def _run(argv: list[str], timeout: float = 600) -> str:
    proc = subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return proc.stdout


def operator_image() -> str:
    """The image the chart runs by default: the operator repository at the chart's appVersion."""
    chart = yaml.safe_load(CHART_YAML.read_text())
    return f"{OPERATOR_REPOSITORY}:{chart['appVersion']}"


def dependency_wheels() -> Path:
    """Wheels of kflow's runtime dependencies for the base image's Python, cached per uv.lock."""
    lock_digest = hashlib.sha256((REPO / "uv.lock").read_bytes()).hexdigest()[:16]
    target = paths.cache_root() / "wheels" / f"deps-{lock_digest}"
    if target.is_dir():
        return target
    _say(f"downloading dependency wheels for uv.lock {lock_digest}")
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        _run(
            [
                "uv",
                "export",
                "--frozen",
                "--no-dev",
                "--no-emit-project",
                "--no-hashes",
                "--quiet",
                "-o",
                str(requirements),
            ]
        )
        partial = Path(tmp) / "wheels"
        argv = ["uv", "tool", "run", "--from", "pip", "pip", "download", "--quiet"]
        argv += ["--only-binary=:all:"]
        for platform in _PLATFORMS:
            argv += ["--platform", platform]
        argv += ["--python-version", "3.11", "--implementation", "cp"]
        argv += ["-r", str(requirements), "-d", str(partial)]
        _run(argv)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f"{target.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(partial, staging)
        staging.rename(target)
    return target


def _context(directory: Path) -> str:
    """Fill `directory` with the build context; return its digest."""
    wheels = directory / "wheels"
    shutil.copytree(dependency_wheels(), wheels)
    _run(["uv", "build", "--wheel", "--quiet", "--out-dir", str(wheels)])
    digest = hashlib.sha256(DOCKERFILE.read_bytes())
    for wheel in sorted(wheels.iterdir()):
        digest.update(wheel.name.encode())
        digest.update(hashlib.sha256(wheel.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _built_digest(docker_host: str, image: str) -> str | None:
    proc = subprocess.run(
        [
            "docker",
            "--host",
            docker_host,
            "image",
            "inspect",
            "--format",
            f'{{{{ index .Config.Labels "{_DIGEST_LABEL}" }}}}',
            image,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def build_operator_image(docker_host: str) -> str:
    """Build the operator image from this working tree into `docker_host`; return its name."""
    image = operator_image()
    with tempfile.TemporaryDirectory(prefix="kflow-operator-image-") as tmp:
        context = Path(tmp)
        digest = _context(context)
        if _built_digest(docker_host, image) == digest:
            return image
        _say(f"building {image} (context {digest})")
        _run(
            [
                "docker",
                "--host",
                docker_host,
                "build",
                "--network=none",
                "--label",
                f"{_DIGEST_LABEL}={digest}",
                "--file",
                str(DOCKERFILE),
                "--tag",
                image,
                str(context),
            ],
            timeout=900,
        )
    return image


def main() -> int:
    """`python -m tests.support.operator_image`: build into $DOCKER_HOST (or the system engine)."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    print(build_operator_image(host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
