"""Result serializers: how a persisted result (and a cache entry) becomes bytes.

`@flow(result_serializer=...)` / `@task(result_serializer=...)` take, as in Prefect 3:

* `"pickle"` (the default): any picklable value;
* `"json"`: readable files; values JSON lacks (pydantic models, dataclasses, datetimes, UUIDs,
  sets, ...) are stored with their class, `{"__class__": "pkg.Model", "data": ...}`, and
  rebuilt through pydantic, as Prefect's JSONSerializer does; tuples come back as lists;
* `"compressed/pickle"`, `"compressed/json"`: the same, compressed (lzma, as Prefect);
* an object with `dumps(obj) -> bytes` and `loads(blob) -> obj` (the `Serializer` protocol).

A serializer's `suffix` ends the names of the files it writes (`.pickle`, `.json`,
`.json.xz`), so results written with one are never read back with another.
"""

from __future__ import annotations

import importlib
import json
import pickle
import sys
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from kflow.exceptions import KflowException

__all__ = [
    "CompressedJSONSerializer",
    "CompressedPickleSerializer",
    "CompressedSerializer",
    "JSONSerializer",
    "PickleSerializer",
    "SerializationError",
    "Serializer",
    "resolve_serializer",
]


class SerializationError(KflowException, TypeError):
    """A result the chosen serializer cannot encode."""


@runtime_checkable
class Serializer(Protocol):
    """What `result_serializer=` takes besides a name."""

    def dumps(self, obj: Any) -> bytes: ...

    def loads(self, blob: bytes) -> Any: ...


class PickleSerializer:
    type = "pickle"
    suffix = ".pickle"

    def dumps(self, obj: Any) -> bytes:
        try:
            return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise SerializationError(
                f"result_serializer='pickle' cannot encode a {type(obj).__name__}: {exc}. "
                "Return a picklable value, or set persist_result=False on this task."
            ) from None

    def loads(self, blob: bytes) -> Any:
        return pickle.loads(blob)

    def __repr__(self) -> str:
        return "PickleSerializer()"


class JSONSerializer:
    type = "json"
    suffix = ".json"

    def dumps(self, obj: Any) -> bytes:
        try:
            return json.dumps(obj, default=_encode_object, allow_nan=True).encode()
        except (TypeError, ValueError) as exc:
            raise SerializationError(
                f"result_serializer='json' cannot encode a {type(obj).__name__}: {exc}. Use "
                "result_serializer='pickle', or return JSON data or pydantic models."
            ) from None

    def loads(self, blob: bytes) -> Any:
        return json.loads(blob, object_hook=_decode_object)

    def __repr__(self) -> str:
        return "JSONSerializer()"


_COMPRESSION_SUFFIXES = {"lzma": ".xz", "bz2": ".bz2", "zlib": ".zz", "gzip": ".gz"}


class CompressedSerializer:
    """Another serializer's bytes, compressed by a module with compress()/decompress()."""

    def __init__(self, serializer: Serializer | str = "pickle", compressionlib: str = "lzma"):
        inner = resolve_serializer(serializer, "CompressedSerializer")
        if inner is None or isinstance(inner, CompressedSerializer):
            raise ValueError(
                "CompressedSerializer(serializer=...) needs 'pickle', 'json' or a serializer "
                f"object to compress; got {serializer!r}."
            )
        if compressionlib not in _COMPRESSION_SUFFIXES:
            raise ValueError(
                f"compressionlib must be one of {', '.join(map(repr, _COMPRESSION_SUFFIXES))}; "
                f"got {compressionlib!r}."
            )
        self.serializer: Serializer = inner
        self.compressionlib = compressionlib
        self._lib: Any = importlib.import_module(compressionlib)
        self.type = f"compressed/{getattr(inner, 'type', type(inner).__name__)}"
        self.suffix = getattr(inner, "suffix", "") + _COMPRESSION_SUFFIXES[compressionlib]

    def dumps(self, obj: Any) -> bytes:
        compressed: bytes = self._lib.compress(self.serializer.dumps(obj))
        return compressed

    def loads(self, blob: bytes) -> Any:
        return self.serializer.loads(self._lib.decompress(blob))

    def __repr__(self) -> str:
        return f"CompressedSerializer({self.serializer!r}, compressionlib={self.compressionlib!r})"


class CompressedPickleSerializer(CompressedSerializer):
    def __init__(self, compressionlib: str = "lzma") -> None:
        super().__init__("pickle", compressionlib)


class CompressedJSONSerializer(CompressedSerializer):
    def __init__(self, compressionlib: str = "lzma") -> None:
        super().__init__("json", compressionlib)


_NAMED: dict[str, Callable[[], Serializer]] = {
    "pickle": PickleSerializer,
    "json": JSONSerializer,
    "compressed/pickle": CompressedPickleSerializer,
    "compressed/json": CompressedJSONSerializer,
}


def resolve_serializer(value: Any, owner: str) -> Serializer | None:
    """The serializer `result_serializer=value` names (None when not set).

    `owner` names where it was set (`task 'load'`) for the error a wrong value gets.
    """
    if value is None:
        return None
    if isinstance(value, str):
        named = _NAMED.get(value)
        if named is not None:
            return named()
    elif isinstance(value, Serializer) and not isinstance(value, type):
        return value
    raise ValueError(
        f"result_serializer of {owner} must be one of {', '.join(map(repr, _NAMED))}, or an "
        f"object with dumps(obj) -> bytes and loads(bytes) -> obj; got {value!r}."
    )


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _from_qualified_name(name: str) -> Any:
    """The object `pkg.module.Class.Inner` names: the longest importable module, then
    attributes."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            found: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(f"no module in {name!r} can be imported")


def _encode_object(obj: Any) -> Any:
    """JSON for a value json cannot encode itself: its class and pydantic's JSON form."""
    cls = type(obj)
    name = _qualified_name(cls)
    if "<locals>" in name:
        raise TypeError(
            f"{name} is defined inside a function, so it cannot be rebuilt when the result is "
            "read back; define it at module level"
        )
    if isinstance(obj, BaseException):
        return {"__exc_type__": name, "message": str(obj)}
    # Start-up: pydantic is for values plain JSON lacks, not for every run that persists.
    from pydantic_core import PydanticSerializationError, to_jsonable_python

    try:
        data = to_jsonable_python(obj)
    except PydanticSerializationError as exc:
        raise TypeError(f"{name} is not JSON serializable ({exc})") from None
    return {"__class__": name, "data": data}


def _decode_object(record: dict[str, Any]) -> Any:
    if len(record) == 2 and "__class__" in record and "data" in record:
        from pydantic import TypeAdapter

        cls = _from_qualified_name(record["__class__"])
        return TypeAdapter(cls).validate_python(record["data"])
    if len(record) == 2 and "__exc_type__" in record and "message" in record:
        return _from_qualified_name(record["__exc_type__"])(record["message"])
    return record
