"""The run's image on the engine, as `spec.infrastructure.imagePullPolicy` asks.

Never: it must be there already. Always: pulled every time (a failed pull falls back to a local
copy, if any). Otherwise (IfNotPresent, or unset): pulled only when missing. An image that
cannot be had fails the run with a message saying what to do; the Deployment is what is wrong.
"""

from __future__ import annotations

import logging

import docker
from docker.errors import APIError, ImageNotFound
from kflow.resources import ImagePullPolicy

from kflow_operator.launchers.base import LaunchError

logger = logging.getLogger(__name__)


def ensure_image(
    client: docker.DockerClient, image: str, policy: ImagePullPolicy | None, api_url: str
) -> None:
    """Make `image` present on the engine at `api_url`, or raise LaunchError saying why not."""
    present = True
    try:
        client.images.get(image)
    except ImageNotFound:
        present = False
    if policy is ImagePullPolicy.NEVER:
        if not present:
            raise LaunchError(
                f"image {image!r} is not on the Docker engine at {api_url} and "
                "spec.infrastructure.imagePullPolicy is Never; build or load it there first",
                reason="ErrImageNeverPull",
                infrastructure=True,
            )
        return
    if present and policy is not ImagePullPolicy.ALWAYS:
        return
    repository, tag = docker.utils.parse_repository_tag(image)
    try:
        client.images.pull(repository, tag=tag or "latest")
    except APIError as error:  # NotFound and ImageNotFound too
        if present:
            logger.warning("pulling %s failed (%s); using the local image", image, error)
            return
        raise LaunchError(
            f"image {image!r} is not on the Docker engine at {api_url} and pulling it failed: "
            f"{error.explanation or error}; correct spec.infrastructure.image, or make the "
            "image's registry reachable from the engine (or load the image there)",
            reason="ErrImagePull",
            infrastructure=True,
        ) from error
