"""The run-now form generated from a Deployment's parameterSchema, and its validation before a
FlowRun is created."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from kflow.cli.flow_signature import parameter_schema
from kflow.dashboard.parameter_form import form_fields, parse_form


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


def flow_fn(
    name: str,
    n: int,
    ratio: float = 0.5,
    verbose: bool = False,
    colour: Colour = Colour.RED,
    numbers: list[int] | None = None,
    options: dict[str, Any] | None = None,
    limit: int | None = None,
) -> None:
    """A flow signature of every kind the form handles."""


SCHEMA = parameter_schema(flow_fn)


def fields_by_name(**kwargs: Any) -> dict[str, Any]:
    return {f.name: f for f in form_fields(SCHEMA, **kwargs)}


def test_fields_follow_the_signature_written_by_kflow_deploy() -> None:
    fields = fields_by_name(defaults={"n": 3})
    widgets = {name: f.widget for name, f in fields.items()}
    assert widgets == {
        "name": "text",
        "n": "integer",
        "ratio": "number",
        "verbose": "boolean",
        "colour": "choice",
        "numbers": "json",
        "options": "json",
        "limit": "integer",
    }
    assert fields["name"].required and not fields["n"].required  # the Deployment gives n
    assert fields["n"].value == "3" and fields["ratio"].value == "0.5"
    assert fields["verbose"].value == "false"
    assert fields["colour"].choices == (('"red"', "red"), ('"blue"', "blue"))
    assert fields["colour"].value == '"red"'
    assert fields["name"].form_name == "p:name"


def test_a_valid_form_gives_typed_parameters_and_skips_empty_fields() -> None:
    form = {
        "p:name": "Ann",
        "p:n": "4",
        "p:ratio": "2",
        "p:verbose": "true",
        "p:colour": '"blue"',
        "p:numbers": "[1, 2]",
        "p:options": "",
        "p:limit": "",
    }
    parameters, problems = parse_form(SCHEMA, {}, form)
    assert problems == {}
    assert parameters == {
        "name": "Ann",
        "n": 4,
        "ratio": 2,
        "verbose": True,
        "colour": "blue",
        "numbers": [1, 2],
    }


def test_each_wrong_value_is_reported_next_to_its_field() -> None:
    form = {
        "p:n": "four",
        "p:ratio": "x",
        "p:verbose": "yes",
        "p:colour": '"green"',
        "p:numbers": '{"a": 1}',
        "p:options": "{oops",
    }
    _, problems = parse_form(SCHEMA, {}, form)
    assert problems == {
        "name": "required: the flow has no default for it",
        "n": "must be a whole number, e.g. 3 (got 'four')",
        "ratio": "must be a number, e.g. 2.5 (got 'x')",
        "verbose": "choose true or false (got 'yes')",
        "colour": "choose one of red, blue (got '\"green\"')",
        "numbers": "must be a JSON array, e.g. [1, 2]",
        "options": "is not valid JSON (e.g. [1, 2] or {\"a\": 1}): '{oops'",
    }


def test_booleans_are_not_numbers() -> None:
    _, problems = parse_form(SCHEMA, {}, {"p:name": "a", "p:n": "true"})
    assert problems == {"n": "must be a whole number, e.g. 3 (got 'true')"}


def test_submitted_values_are_shown_again_after_a_problem() -> None:
    fields = fields_by_name(defaults={}, submitted={"p:n": "four"})
    assert fields["n"].value == "four"


def test_a_deployment_without_a_schema_takes_one_json_object() -> None:
    (field,) = form_fields(None, {"a": 1})
    assert (field.widget, field.form_name, json.loads(field.value)) == (
        "json",
        "parameters",
        {"a": 1},
    )
    assert parse_form(None, {}, {"parameters": '{"b": [2]}'}) == ({"b": [2]}, {})
    assert parse_form({}, {}, {"parameters": "[1]"})[1] == {
        "": 'must be a JSON object, e.g. {"n": 3}'
    }
    assert parse_form(None, {}, {}) == ({}, {})
