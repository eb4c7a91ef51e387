"""Prepare a user's kind cluster for the e2e suite: our base image, loaded into kind's nodes.

On a Debian host with root the image is the same debootstrapped one CI uses; elsewhere (macOS,
no root) the official `python:3.11-slim-bookworm` stands in under our tag — also Debian
bookworm with Python 3.11, so the Dockerfiles that `FROM` it behave the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.cluster import docker_engine, images

STAND_IN = "docker.io/library/python:3.11-slim-bookworm"


def _run(*argv: str) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")


def load(cluster_name: str, extra_images: list[str]) -> list[str]:
    """Put the base image (and `extra_images`) into kind's nodes; return what was loaded."""
    if shutil.which("kind") is None:
        raise RuntimeError("kind is not on PATH; install it: go install sigs.k8s.io/kind@latest")
    host = docker_engine.running_host()
    if host is None:
        raise RuntimeError("no Docker engine answers (kind needs one); start Docker first")
    if os.geteuid() == 0 and shutil.which("debootstrap"):
        docker_engine.load_python_base(host)
    else:
        _run("docker", "--host", host, "pull", STAND_IN)
        _run("docker", "--host", host, "tag", STAND_IN, images.PYTHON_BASE_IMAGE)
    loaded = [images.PYTHON_BASE_IMAGE, *extra_images]
    for image in loaded:
        _run("kind", "load", "docker-image", image, "--name", cluster_name)
    return loaded
