"""Result serializers: what `result_serializer=` accepts and what comes back from each."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from kflow.serializers import (
    CompressedJSONSerializer,
    CompressedPickleSerializer,
    CompressedSerializer,
    JSONSerializer,
    PickleSerializer,
    SerializationError,
    Serializer,
    resolve_serializer,
)
from pydantic import BaseModel


class Point(BaseModel):
    x: int
    y: int


@dataclass
class Box:
    label: str
    size: float


class ReversedBytes:
    """A user's serializer: any object with dumps and loads."""

    suffix = ".rev"

    def dumps(self, obj: Any) -> bytes:
        return json.dumps(obj).encode()[::-1]

    def loads(self, blob: bytes) -> Any:
        return json.loads(blob[::-1])


def test_names_resolve_to_prefects_serializers() -> None:
    assert isinstance(resolve_serializer("pickle", "task 't'"), PickleSerializer)
    assert isinstance(resolve_serializer("json", "task 't'"), JSONSerializer)
    assert isinstance(resolve_serializer("compressed/pickle", "task 't'"), CompressedSerializer)
    assert isinstance(resolve_serializer("compressed/json", "task 't'"), CompressedJSONSerializer)
    custom = ReversedBytes()
    assert resolve_serializer(custom, "task 't'") is custom
    assert isinstance(custom, Serializer)
    assert resolve_serializer(None, "task 't'") is None


@pytest.mark.parametrize("value", ["yaml", "Pickle", 3, JSONSerializer])
def test_anything_else_names_the_allowed_values(value: Any) -> None:
    with pytest.raises(ValueError) as raised:
        resolve_serializer(value, "task 'load'")
    message = str(raised.value)
    assert message.startswith("result_serializer of task 'load' must be one of 'pickle', 'json'")
    assert "'compressed/pickle', 'compressed/json'" in message
    assert "dumps(obj) -> bytes and loads(bytes) -> obj" in message


def test_json_keeps_pydantic_models_dates_and_other_values_json_lacks() -> None:
    value = {
        "point": Point(x=1, y=2),
        "box": Box("a", 1.5),
        "when": datetime(2026, 12, 4, 17, 0, tzinfo=UTC),
        "id": uuid.UUID(int=7),
        "tags": {"b", "a"},
        "price": Decimal("1.10"),
        "error": ValueError("bad input"),
        "plain": [1, "two", None, 3.5, True],
    }
    serializer = JSONSerializer()
    blob = serializer.dumps(value)
    stored = json.loads(blob)
    assert stored["point"] == {"__class__": f"{__name__}.Point", "data": {"x": 1, "y": 2}}
    assert stored["plain"] == [1, "two", None, 3.5, True]
    back = serializer.loads(blob)
    assert back["point"] == Point(x=1, y=2)
    assert back["box"] == Box("a", 1.5)
    assert back["when"] == value["when"]
    assert back["id"] == uuid.UUID(int=7)
    assert back["tags"] == {"a", "b"}
    assert back["price"] == Decimal("1.10")
    assert type(back["error"]) is ValueError and str(back["error"]) == "bad input"
    assert serializer.loads(serializer.dumps((1, 2))) == [1, 2]  # as in Prefect


def test_json_refuses_what_it_could_not_read_back_and_says_what_to_do() -> None:
    class Local(BaseModel):
        a: int

    with pytest.raises(SerializationError) as raised:
        JSONSerializer().dumps({"v": Local(a=1)})
    message = str(raised.value)
    assert "result_serializer='json' cannot encode a dict" in message
    assert "defined inside a function" in message and "result_serializer='pickle'" in message
    with pytest.raises(SerializationError, match=r"cannot encode a dict.*not JSON serializable"):
        JSONSerializer().dumps({"lock": object()})
    assert isinstance(raised.value, TypeError)


def test_pickle_refuses_what_cannot_be_pickled_with_a_clear_error() -> None:
    with pytest.raises(SerializationError, match="result_serializer='pickle' cannot encode"):
        PickleSerializer().dumps(lambda: None)


@pytest.mark.parametrize(
    ("serializer", "suffix"),
    [
        (PickleSerializer(), ".pickle"),
        (JSONSerializer(), ".json"),
        (CompressedPickleSerializer(), ".pickle.xz"),
        (CompressedJSONSerializer(), ".json.xz"),
        (CompressedSerializer("json", compressionlib="zlib"), ".json.zz"),
        (CompressedSerializer(ReversedBytes(), compressionlib="bz2"), ".rev.bz2"),
    ],
)
def test_each_serializer_round_trips_and_names_its_files(serializer: Any, suffix: str) -> None:
    value = {"rows": [{"n": n, "text": "x" * 50} for n in range(100)]}
    blob = serializer.dumps(value)
    assert serializer.loads(blob) == value
    assert serializer.suffix == suffix
    if suffix.endswith((".xz", ".zz", ".bz2")):
        assert len(blob) < len(json.dumps(value)) / 5


def test_compression_needs_a_known_library_and_something_to_compress() -> None:
    with pytest.raises(ValueError, match="compressionlib must be one of 'lzma', 'bz2'"):
        CompressedSerializer("pickle", compressionlib="snappy")
    with pytest.raises(ValueError, match="needs 'pickle', 'json' or a serializer object"):
        CompressedSerializer(CompressedPickleSerializer())
