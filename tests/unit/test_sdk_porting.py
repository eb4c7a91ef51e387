"""Each Prefect name kflow does not have fails where a port uses it, with
`kflow does not support 'X' (Prefect's ...); use ...` — as a NotSupportedError that is also the
builtin Python would have raised, never a bare TypeError or AttributeError."""

from __future__ import annotations

import importlib
from typing import Any

import kflow
import pytest
from kflow import flow, task, unsupported
from kflow.exceptions import (
    NotSupportedArgumentError,
    NotSupportedAttributeError,
    NotSupportedError,
    NotSupportedImportError,
)

IMPORTS = [
    ("from kflow import get_client", "get_client"),
    ("from kflow import tags", "tags"),
    ("from kflow import Transaction", "Transaction"),
    ("from kflow import suspend_flow_run", "suspend_flow_run"),
    ("from kflow import Variable", "Variable"),
    ("from kflow.deployments import Deployment", "Deployment"),
    ("from kflow.variables import Variable", "Variable"),
    ("from kflow.blocks.system import Secret", "Secret"),
    ("from kflow.blocks.system import JSON", "JSON"),
    ("from kflow.blocks.core import Block", "Block"),
    ("from kflow.blocks import Block", "Block"),
    ("from kflow.artifacts import create_markdown_artifact", "create_markdown_artifact"),
    ("from kflow.artifacts import create_table_artifact", "create_table_artifact"),
    ("from kflow.artifacts import create_link_artifact", "create_link_artifact"),
    ("from kflow.automations import Automation", "Automation"),
    ("from kflow.client.orchestration import get_client", "get_client"),
    ("from kflow.client import get_client", "get_client"),
    ("from kflow.concurrency.sync import concurrency", "concurrency"),
    ("from kflow.concurrency.asyncio import concurrency", "concurrency"),
    ("from kflow.concurrency.sync import rate_limit", "rate_limit"),
    ("from kflow.concurrency import ConcurrencyLimit", "ConcurrencyLimit"),
    ("from kflow.events import emit_event", "emit_event"),
    ("from kflow.transactions import transaction", "transaction"),
    ("from kflow.futures import wait", "wait"),
    ("from kflow.futures import as_completed", "as_completed"),
    ("from kflow.task_runners import ProcessPoolTaskRunner", "ProcessPoolTaskRunner"),
    ("from kflow.context import tags", "tags"),
]


@pytest.mark.parametrize(("statement", "name"), IMPORTS)
def test_importing_a_prefect_name_kflow_lacks_says_what_to_use(statement: str, name: str) -> None:
    with pytest.raises(NotSupportedImportError) as raised:
        exec(statement, {})
    message = str(raised.value)
    assert message.startswith(f"kflow does not support {name!r} (Prefect's ")
    assert "); " in message and "docs/porting.md" in message
    assert isinstance(raised.value, ImportError) and isinstance(raised.value, NotSupportedError)


def test_attribute_access_on_the_module_fails_the_same_way() -> None:
    with pytest.raises(NotSupportedError, match="kflow does not support 'get_client'") as raised:
        _ = kflow.get_client  # type: ignore[attr-defined]
    assert isinstance(raised.value, AttributeError)


MODULE_NAMES = [
    (module, name) for module, names in unsupported.NAMES.items() for name in sorted(names)
]


@pytest.mark.parametrize(("module", "name"), MODULE_NAMES)
def test_probing_a_module_for_a_prefect_name_says_it_is_not_there(module: str, name: str) -> None:
    """hasattr, getattr with a default and attribute access see an AttributeError (the
    message still names what to use); only an import statement sees the ImportError."""
    owner = importlib.import_module(module)
    assert not hasattr(owner, name)
    assert getattr(owner, name, "absent") == "absent"
    with pytest.raises(NotSupportedAttributeError, match=f"kflow does not support {name!r}"):
        getattr(owner, name)
    with pytest.raises(NotSupportedImportError, match=f"kflow does not support {name!r}"):
        exec(f"from {module} import {name}", {})


def test_names_kflow_has_still_import_and_unknown_names_stay_plain_errors() -> None:
    exec(
        "from kflow import flow, task, get_run_context, runtime, allow_failure, unmapped\n"
        "from kflow.cache_policies import INPUTS, TASK_SOURCE, FLOW_PARAMETERS, RUN_ID, NONE\n"
        "from kflow.tasks import task_input_hash\n"
        "from kflow.context import get_run_context\n"
        "from kflow.runtime import deployment, flow_run, task_run\n",
        {},
    )
    with pytest.raises(ImportError) as raised:
        exec("from kflow import no_such_name", {})
    assert not isinstance(raised.value, NotSupportedError)
    assert not hasattr(kflow, "no_such_name")


@flow
def a_flow() -> None:
    pass


@task
def a_task(x: int) -> int:
    return x


FLOW_METHODS = ["from_source", "visualize"]
TASK_METHODS = ["delay", "apply_async", "serve", "on_commit", "on_rollback"]


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_flow_methods_prefect_has_fail_with_attribute_errors(method: str) -> None:
    with pytest.raises(NotSupportedAttributeError) as raised:
        getattr(a_flow, method)(name="x")
    assert str(raised.value).startswith(f"kflow does not support 'Flow.{method}' (Prefect's ")
    assert isinstance(raised.value, AttributeError)


@pytest.mark.parametrize("method", TASK_METHODS)
def test_task_methods_prefect_has_fail_with_attribute_errors(method: str) -> None:
    with pytest.raises(NotSupportedAttributeError) as raised:
        getattr(a_task, method)(1)
    assert str(raised.value).startswith(f"kflow does not support 'Task.{method}' (Prefect's ")


def test_flow_from_source_on_the_decorator_and_the_class() -> None:
    for owner in (flow, kflow.Flow):
        with pytest.raises(NotSupportedAttributeError, match=r"'Flow\.from_source'"):
            owner.from_source(source="https://example.invalid/repo", entrypoint="f.py:f")  # type: ignore[union-attr]


def test_other_missing_attributes_stay_plain_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="'Task' object has no attribute 'nope'") as raised:
        _ = a_task.nope  # type: ignore[attr-defined]
    assert not isinstance(raised.value, NotSupportedError)
    assert not hasattr(a_flow, "nope")
    assert not hasattr(a_flow, "visualize")


TASK_OPTIONS = ["cache_result_in_memory", "viz_return_value", "asset_deps", "on_commit"]
TASK_OPTIONS += ["on_rollback"]
FLOW_OPTIONS = ["cache_result_in_memory"]


@pytest.mark.parametrize("option", TASK_OPTIONS)
def test_task_options_prefect_has_name_the_option(option: str) -> None:
    with pytest.raises(NotSupportedArgumentError) as raised:
        task(**{option: None})
    assert str(raised.value).startswith(f"kflow does not support '@task({option}=...)'")
    assert isinstance(raised.value, TypeError)
    with pytest.raises(NotSupportedArgumentError, match=rf"'Task.with_options\({option}=...\)'"):
        a_task.with_options(**{option: None})


@pytest.mark.parametrize("option", FLOW_OPTIONS)
def test_flow_options_prefect_has_name_the_option(option: str) -> None:
    with pytest.raises(NotSupportedArgumentError, match=rf"'@flow\({option}=...\)'"):
        flow(**{option: None})  # type: ignore[call-overload]
    with pytest.raises(NotSupportedArgumentError, match=rf"'Flow.with_options\({option}=...\)'"):
        a_flow.with_options(**{option: None})


def test_options_no_one_knows_are_a_type_error_naming_the_allowed_ones() -> None:
    with pytest.raises(TypeError) as raised:
        task(retrys=3)  # type: ignore[call-overload]
    message = str(raised.value)
    assert not isinstance(raised.value, NotSupportedError)
    assert "@task got unexpected keyword argument(s) 'retrys'" in message
    assert "retries" in message and "cache_policy" in message
    with pytest.raises(TypeError, match=r"@flow got unexpected keyword argument.*'colour'"):
        flow(colour="red")  # type: ignore[call-overload]


def test_a_decorated_function_is_checked_the_same_way() -> None:
    def body() -> None:
        pass

    with pytest.raises(NotSupportedArgumentError):
        task(body, cache_result_in_memory=False)  # type: ignore[call-overload]
    kwargs: dict[str, Any] = {"cache_result_in_memory": False}
    with pytest.raises(NotSupportedArgumentError):
        flow(body, **kwargs)
