"""The "run now" form of a Deployment, generated from `spec.parameterSchema` (the JSON schema
`kflow deploy` writes from the flow's signature), and the check of what was typed into it.

A value is checked against its field's type before any FlowRun exists, so a typo is an error
next to the field, not a run that fails. The types pydantic writes are understood (string,
integer, number, boolean, enums, optional values, arrays and objects, which are typed as
JSON); anything else is a JSON field. A Deployment without a schema gets one JSON object.
An empty field means "not given": the Deployment's default applies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kflow.parameter_schema_check import resolve_node

Widget = Literal["text", "integer", "number", "boolean", "choice", "json"]
FIELD_PREFIX = "p:"
"""Form names of parameters: `p:NAME`, so a parameter may be called anything."""
WHOLE_OBJECT = "parameters"
"""The form name of the one JSON object field of a Deployment without a schema."""


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    widget: Widget
    required: bool
    value: str
    """What the field holds when the form is shown: the default, or what was submitted."""
    description: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    """(form value, label) of each allowed value of a `choice` field."""

    @property
    def form_name(self) -> str:
        return WHOLE_OBJECT if self.name == "" else FIELD_PREFIX + self.name


def _widget(schema: Mapping[str, Any], node: Mapping[str, Any]) -> tuple[Widget, Mapping[str, Any]]:
    """The widget of a property and the (resolved, non-null) schema it checks against."""
    node = resolve_node(schema, node)
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list):
        others = [o for o in options if resolve_node(schema, o).get("type") != "null"]
        if len(others) != 1:
            return "json", node
        node = {
            **resolve_node(schema, others[0]),
            **{k: v for k, v in node.items() if k != "anyOf"},
        }
    if isinstance(node.get("enum"), list):
        return "choice", node
    widgets: dict[object, Widget] = {
        "string": "text",
        "integer": "integer",
        "number": "number",
        "boolean": "boolean",
    }
    return widgets.get(node.get("type"), "json"), node


def _shown(value: Any, widget: Widget) -> str:
    """A value as the form shows it."""
    if value is None:
        return ""
    if widget == "text" and isinstance(value, str):
        return value
    if widget == "choice":
        return json.dumps(value)
    if widget == "boolean":
        return "true" if value else "false"
    if widget in ("integer", "number") and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, indent=1 if isinstance(value, dict | list) and value else None)


def form_fields(
    schema: Mapping[str, Any] | None,
    defaults: Mapping[str, Any] | None,
    submitted: Mapping[str, str] | None = None,
) -> list[FormField]:
    """The fields of the form, prefilled with what was submitted, else the Deployment's
    defaults, else the schema's."""
    defaults = defaults or {}
    properties = (schema or {}).get("properties")
    if not isinstance(properties, Mapping) or not properties:
        value = (submitted or {}).get(WHOLE_OBJECT)
        shown = value if value is not None else (json.dumps(dict(defaults)) if defaults else "")
        return [FormField("", "parameters (a JSON object)", "json", False, shown)]
    required = set((schema or {}).get("required") or [])
    fields = []
    for name, raw in properties.items():
        widget, node = _widget(schema or {}, raw if isinstance(raw, Mapping) else {})
        if name in defaults:
            default = _shown(defaults[name], widget)
        else:
            default = _shown(node.get("default"), widget)
        value = (submitted or {}).get(FIELD_PREFIX + name)
        choices = tuple((json.dumps(v), str(v)) for v in node.get("enum") or ())
        fields.append(
            FormField(
                name=str(name),
                label=str(name),
                widget=widget,
                required=name in required and name not in defaults,
                value=value if value is not None else default,
                description=str(node.get("description") or raw.get("title") or ""),
                choices=choices,
            )
        )
    return fields


def parse_form(
    schema: Mapping[str, Any] | None,
    defaults: Mapping[str, Any] | None,
    form: Mapping[str, str],
) -> tuple[dict[str, Any], dict[str, str]]:
    """The parameters of the new run, and a problem per field name ("" for the whole form);
    the run may be created only when there is no problem."""
    parameters: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for field in form_fields(schema, defaults):
        text = form.get(field.form_name, "").strip()
        if not text:
            if field.required:
                problems[field.name] = "required: the flow has no default for it"
            continue
        try:
            value = _parsed(text, field, schema or {})
        except ValueError as error:
            problems[field.name] = str(error)
            continue
        if field.name == "":
            parameters.update(value)
        else:
            parameters[field.name] = value
    return parameters, problems


def _parsed(text: str, field: FormField, schema: Mapping[str, Any]) -> Any:
    if field.widget == "text":
        return text
    if field.widget == "boolean":
        if text not in ("true", "false"):
            raise ValueError(f"choose true or false (got {text!r})")
        return text == "true"
    if field.widget == "choice":
        allowed = {value for value, _ in field.choices}
        if text not in allowed:
            labels = ", ".join(label for _, label in field.choices)
            raise ValueError(f"choose one of {labels} (got {text!r})")
        return json.loads(text)
    try:
        value = json.loads(text)
    except ValueError:
        value = _NOT_JSON
    if field.widget == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"must be a whole number, e.g. 3 (got {text!r})")
        return value
    if field.widget == "number":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"must be a number, e.g. 2.5 (got {text!r})")
        return value
    if value is _NOT_JSON:
        raise ValueError(f'is not valid JSON (e.g. [1, 2] or {{"a": 1}}): {text[:80]!r}')
    return _typed_json(value, field, schema)


def _typed_json(value: Any, field: FormField, schema: Mapping[str, Any]) -> Any:
    if field.name == "":
        if not isinstance(value, dict):
            raise ValueError('must be a JSON object, e.g. {"n": 3}')
        return value
    properties = schema.get("properties") or {}
    _, node = _widget(schema, properties.get(field.name) or {})
    expected = {"array": list, "object": dict}.get(str(node.get("type")))
    if expected is not None and not isinstance(value, expected):
        word = "a JSON array, e.g. [1, 2]" if expected is list else 'a JSON object, e.g. {"a": 1}'
        raise ValueError(f"must be {word}")
    return value


_NOT_JSON = object()
