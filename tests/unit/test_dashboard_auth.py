"""The pure parts of `kflow dashboard --auth token` and of its command line's refusals."""

from __future__ import annotations

import argparse

from kflow.dashboard.auth import Person, access_review, bearer_token, reviewed_person
from kflow.dashboard.command import _refused_combination
from kflow.dashboard.signin import safe_next


def test_the_token_comes_from_the_header_else_the_cookie() -> None:
    assert bearer_token({"Authorization": "Bearer abc"}, {"kflow_token": "c"}) == "abc"
    assert bearer_token({"Authorization": "bearer  abc "}, {}) == "abc"
    assert bearer_token({"Authorization": "Basic abc"}, {"kflow_token": "c"}) == "c"
    assert bearer_token({"Authorization": "Bearer "}, {}) is None
    assert bearer_token({}, {}) is None


def test_a_token_review_names_the_person_only_when_authenticated() -> None:
    accepted = {"status": {"authenticated": True, "user": {
        "username": "system:serviceaccount:ns:viewer", "uid": "u1",
        "groups": ["system:serviceaccounts"], "extra": {"k": ["v"]}}}}  # fmt: skip
    assert reviewed_person(accepted) == Person(
        "system:serviceaccount:ns:viewer", "u1", ("system:serviceaccounts",), {"k": ["v"]}
    )
    assert reviewed_person({"status": {"authenticated": False, "error": "invalid"}}) is None
    assert reviewed_person({}) is None


def test_an_access_review_asks_for_the_person_with_their_groups() -> None:
    person = Person("alice", "u", ("devs",), {"k": ["v"]})
    spec = access_review(person, "list", "kflow.dev", "flowruns", "team-a")["spec"]
    assert spec == {
        "user": "alice",
        "uid": "u",
        "groups": ["devs"],
        "extra": {"k": ["v"]},
        "resourceAttributes": {
            "verb": "list", "group": "kflow.dev", "resource": "flowruns", "namespace": "team-a",
        },
    }  # fmt: skip
    everywhere = access_review(person, "list", "kflow.dev", "flowruns", None)["spec"]
    assert "namespace" not in everywhere["resourceAttributes"]


def test_after_sign_in_only_paths_of_this_server() -> None:
    assert safe_next("/runs?state=FAILED") == "/runs?state=FAILED"
    for elsewhere in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "runs"):
        assert safe_next(elsewhere) == "/"


def options(**given: object) -> argparse.Namespace:
    defaults = {"local": False, "context": None, "auth": "none", "listen": "127.0.0.1"}
    return argparse.Namespace(**{**defaults, **given})


def test_the_command_refuses_to_listen_for_others_without_auth() -> None:
    assert _refused_combination(options()) is None
    assert _refused_combination(options(listen="::1")) is None
    assert _refused_combination(options(listen="0.0.0.0", auth="token")) is None
    refused = _refused_combination(options(listen="0.0.0.0"))
    assert refused is not None and "add --auth token" in refused
    assert _refused_combination(options(listen="10.0.0.5")) is not None
    assert "--auth applies to a cluster" in str(
        _refused_combination(options(local=True, auth="token"))
    )
    assert "--context does not apply" in str(_refused_combination(options(local=True, context="c")))
