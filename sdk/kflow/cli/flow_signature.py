"""A flow's parameters as `kflow deploy` sees them: its JSON schema, and what is wrong with
the default parameters kflow.yaml gives it.

The entrypoint is imported relative to the project root (the current directory), as the run's
working directory will be, so a deployment that passes here finds its flow when it runs.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class FlowNotLoadable(Exception):
    """The entrypoint does not lead to a kflow flow; the message says why and what to do."""


def load_flow_function(entrypoint: str, base: Path) -> Any:
    """The function behind a kflow flow entrypoint."""
    from kflow.cluster.entrypoint import EntrypointError, load_entrypoint
    from kflow.flows import Flow

    try:
        target = load_entrypoint(entrypoint, base)
    except EntrypointError as error:
        raise FlowNotLoadable(str(error)) from None
    except Exception as error:
        raise FlowNotLoadable(
            f"importing {entrypoint!r} failed: {type(error).__name__}: {error}"
        ) from None
    if not isinstance(target, Flow):
        raise FlowNotLoadable(
            f"{entrypoint!r} is {type(target).__name__}, not a kflow flow; "
            "decorate the function with @flow (from kflow import flow)"
        )
    return target.fn


def _parameters_model(fn: Any) -> Any:
    """A pydantic model of the function's parameters (fields aliased to the real names, so
    names such as `json` or `schema` work)."""
    from pydantic import ConfigDict, Field, create_model

    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    fields: dict[str, Any] = {}
    for index, parameter in enumerate(signature.parameters.values()):
        hint = hints.get(parameter.name, Any)
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            hint = list[hint]  # type: ignore[valid-type]
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            hint = dict[str, hint]  # type: ignore[valid-type]
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            default = None
        fields[f"p{index}"] = (hint, Field(default, alias=parameter.name))
    return create_model(
        f"{getattr(fn, '__name__', 'flow')}_parameters",
        __config__=ConfigDict(arbitrary_types_allowed=True, extra="forbid"),
        **fields,
    )


def parameter_schema(fn: Any) -> dict[str, Any]:
    """JSON schema of the flow's parameters, from its signature and type hints."""
    from pydantic.errors import PydanticInvalidForJsonSchema

    model = _parameters_model(fn)
    try:
        schema: dict[str, Any] = model.model_json_schema(by_alias=True)
    except PydanticInvalidForJsonSchema:
        # A parameter type with no JSON form (an arbitrary class): the names are still known.
        names = list(inspect.signature(fn).parameters)
        schema = {"type": "object", "properties": {n: {} for n in names}}
    schema["title"] = getattr(fn, "__name__", "flow")
    return schema


def parameter_problems(
    fn: Any, parameters: Mapping[str, Any], scheduled: bool
) -> list[tuple[str, str]]:
    """(parameter, problem) for every default parameter the flow would refuse; with schedules
    the defaults must also be complete, since a scheduled run gets nothing else."""
    from pydantic import ValidationError

    names = list(inspect.signature(fn).parameters)
    problems = [
        (key, f"the flow has no parameter {key!r} (its parameters: {', '.join(names) or 'none'})")
        for key in parameters
        if key not in names
    ]
    known = {key: value for key, value in parameters.items() if key in names}
    try:
        _parameters_model(fn).model_validate(known)
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"])
            if problem["type"] != "missing":
                problems.append((where, f"{problem['msg']} (got {problem.get('input')!r})"))
            elif scheduled:
                problems.append(
                    (
                        where,
                        "required by the flow and missing; "
                        "scheduled runs get only these parameters",
                    )
                )
    return problems
