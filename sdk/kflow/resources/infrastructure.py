"""Where a run executes; shared by Deployment.spec and ad-hoc FlowRun.spec."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from kflow.resources.common import SpecModel


class InfrastructureType(StrEnum):
    KUBERNETES_JOB = "kubernetes-job"
    DOCKER = "docker"
    PROCESS = "process"


class ImagePullPolicy(StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class JobOptions(SpecModel):
    pod_template_patch: dict[str, Any] | None = None
    active_deadline_seconds: Annotated[int, Field(ge=1)] | None = None
    ttl_seconds_after_finished: Annotated[int, Field(ge=0)] | None = None


Volume = Annotated[str, Field(min_length=3, max_length=4096, pattern=r"^[^:]+:/[^:]*(:(ro|rw))?$")]


class DockerOptions(SpecModel):
    network: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    volumes: Annotated[list[Volume], Field(max_length=64)] | None = None


class ProcessOptions(SpecModel):
    working_directory: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    python_executable: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


_OPTIONS_FOR_TYPE = {
    "job": InfrastructureType.KUBERNETES_JOB,
    "docker": InfrastructureType.DOCKER,
    "process": InfrastructureType.PROCESS,
}


class InfrastructureSpec(SpecModel):
    type: InfrastructureType
    image: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    image_pull_policy: ImagePullPolicy | None = None
    env: (
        Annotated[dict[str, Annotated[str, Field(max_length=32768)]], Field(max_length=256)] | None
    ) = None
    command: (
        Annotated[list[Annotated[str, Field(max_length=4096)]], Field(min_length=1, max_length=64)]
        | None
    ) = None
    job: JobOptions | None = None
    docker: DockerOptions | None = None
    process: ProcessOptions | None = None

    @model_validator(mode="after")
    def _options_match_type(self) -> InfrastructureSpec:
        """The same rules as the CRD's CEL validations, for input that never meets the API.

        `image` may be absent for every type: the operator then uses its --default-image."""
        for field, owner in _OPTIONS_FOR_TYPE.items():
            if getattr(self, field) is not None and self.type is not owner:
                raise ValueError(f"`{field}` options apply to type {owner.value} only")
        return self
