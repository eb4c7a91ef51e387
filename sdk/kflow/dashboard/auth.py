"""Who is asking, for a dashboard that others can reach (`--auth token`): every request
carries a Kubernetes bearer token (an `Authorization` header, or the cookie the login page
sets), which the API server vouches for with a TokenReview; whether that person may see the
runs is a SubjectAccessReview; and an action is sent with the person's own token, so the API
server authorizes it as theirs (and its audit log names them), never as the dashboard.

The dashboard's own credentials (its ServiceAccount) create the reviews: it needs the rights
of the `system:auth-delegator` ClusterRole. Answers are cached for a short while per token,
so a page and its live updates cost no review each.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kflow.cluster.rest import ApiError, KubeRestClient

COOKIE = "kflow_token"
CACHE_SECONDS = 30.0
CACHE_ENTRIES = 1024
"""Past this many cached answers the cache starts over (random tokens cannot fill memory)."""


@dataclass(frozen=True)
class Person:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


def bearer_token(headers: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
    """The request's token: `Authorization: Bearer T`, else the login cookie."""
    authorization = headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return cookies.get(COOKIE) or None


def token_review(token: str) -> dict[str, Any]:
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    }


def reviewed_person(review: Mapping[str, Any]) -> Person | None:
    """The person a TokenReview vouches for, or None when the token is not accepted."""
    status = review.get("status") or {}
    if not status.get("authenticated"):
        return None
    user = status.get("user") or {}
    return Person(
        username=str(user.get("username") or ""),
        uid=str(user.get("uid") or ""),
        groups=tuple(str(g) for g in user.get("groups") or ()),
        extra=dict(user.get("extra") or {}),
    )


def access_review(
    person: Person, verb: str, group: str, resource: str, namespace: str | None
) -> dict[str, Any]:
    attributes = {"verb": verb, "group": group, "resource": resource}
    if namespace is not None:
        attributes["namespace"] = namespace
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": person.username,
            "uid": person.uid,
            "groups": list(person.groups),
            "extra": dict(person.extra),
            "resourceAttributes": attributes,
        },
    }


def reviews_refused(error: ApiError) -> str:
    """What a person is told when the API server refuses the dashboard's own reviews: the
    dashboard is set up wrong, not their token, and what its account needs."""
    return (
        "The dashboard may not check who you are: the API server refused its TokenReview or "
        f"SubjectAccessReview ({error.status} {error.reason}: {error.message}). Its own account "
        "needs create on tokenreviews (authentication.k8s.io) and subjectaccessreviews "
        "(authorization.k8s.io): bind it to the ClusterRole system:auth-delegator (the chart "
        "does with dashboard.tokenAuth=true)."
    )


class Authenticator:
    """TokenReviews and SubjectAccessReviews through the dashboard's own credentials."""

    def __init__(self, rest: KubeRestClient, clock: Callable[[], float] = time.monotonic) -> None:
        self.rest = rest
        self.clock = clock
        self._people: dict[str, tuple[float, Person | None]] = {}
        self._access: dict[tuple[str, str, str, str, str | None], tuple[float, bool]] = {}

    async def person(self, token: str) -> Person | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._people.get(key)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        review = await asyncio.to_thread(
            self.rest.request,
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            body=token_review(token),
        )
        person = reviewed_person(review)
        if len(self._people) >= CACHE_ENTRIES:
            self._people.clear()
        self._people[key] = (self.clock() + CACHE_SECONDS, person)
        return person

    async def may(
        self, person: Person, verb: str, group: str, resource: str, namespace: str | None
    ) -> bool:
        key = (person.username, verb, group, resource, namespace)
        cached = self._access.get(key)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        review = await asyncio.to_thread(
            self.rest.request,
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            body=access_review(person, verb, group, resource, namespace),
        )
        allowed = bool((review.get("status") or {}).get("allowed"))
        if len(self._access) >= CACHE_ENTRIES:
            self._access.clear()
        self._access[key] = (self.clock() + CACHE_SECONDS, allowed)
        return allowed
