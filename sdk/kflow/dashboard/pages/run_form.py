"""The "run now" form of a Deployment page as HTML: one input per parameter, typed after the
parameter schema (kflow.dashboard.parameter_form), with each field's problem next to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kflow.dashboard.markup import Markup, html, join
from kflow.dashboard.pages.common import NOTHING, Scope, csrf_field, deployment_path
from kflow.dashboard.parameter_form import FormField


def field_input(field: FormField) -> Markup:
    name = field.form_name
    required = "required" if field.required else ""
    if field.widget == "choice" or field.widget == "boolean":
        choices = field.choices or (("true", "true"), ("false", "false"))
        options = join(
            html(
                '<option value="$v" $selected>$label</option>',
                v=value,
                selected="selected" if value == field.value else "",
                label=label,
            )
            for value, label in (("", "(default)"), *choices)
        )
        return html('<select name="$n" $r>$o</select>', n=name, r=required, o=options)
    if field.widget == "json":
        return html(
            '<textarea name="$n" $r spellcheck="false">$v</textarea>',
            n=name,
            r=required,
            v=field.value,
        )
    kinds = {"integer": ('inputmode="numeric"', "text"), "number": ('inputmode="decimal"', "text")}
    mode, kind = kinds.get(field.widget, ("", "text"))
    return html(
        '<input type="$t" name="$n" value="$v" $m $r autocomplete="off">',
        t=kind,
        n=name,
        v=field.value,
        m=Markup(mode),
        r=required,
    )


def field_row(field: FormField, problem: str | None) -> Markup:
    hint = {
        "integer": "a whole number",
        "number": "a number",
        "json": "JSON",
        "boolean": "true or false",
    }.get(field.widget, "")
    notes = [n for n in (hint, field.description if field.description != field.label else "") if n]
    return html(
        '<label data-field="$name"><span>$label$star</span>$input'
        '<span class="hint">$notes</span>$problem</label>',
        name=field.name,
        label=field.label,
        star=" *" if field.required else "",
        input=field_input(field),
        notes=" · ".join(notes),
        problem=html('<span class="problem" role="alert">$p</span>', p=problem)
        if problem
        else NOTHING,
    )


def run_form(
    namespace: str,
    name: str,
    fields: Sequence[FormField],
    problems: Mapping[str, str],
    scope: Scope,
) -> Markup:
    return html(
        '<section id="run-now"><h2>Run now</h2>'
        '<form class="run-form" method="post" action="$action" novalidate>$csrf$fields'
        '<p class="hint">Empty fields take the Deployment\'s default. * has no default.</p>'
        '<div><button type="submit" data-action="Run">Run</button></div></form></section>',
        action=f"{deployment_path(namespace, name)}/run",
        csrf=csrf_field(scope),
        fields=join(field_row(f, problems.get(f.name)) for f in fields),
    )
