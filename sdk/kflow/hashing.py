"""Stable hashes of values such as task inputs: the same in every process, for cache keys.

Values are encoded as canonical JSON (dict keys sorted; sets sorted by their items' encoding,
so a set of strings hashes the same whatever PYTHONHASHSEED); what JSON cannot express
(bytes, dates, dataclasses, pydantic models, arbitrary objects) is encoded by a rule of its
own or, last, by its pickle. A value neither can encode (a lock, a socket, a database
connection) raises HashError.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from typing import Any

from kflow.exceptions import HashError


def hash_objects(*objects: Any) -> str:
    """The sha256 hex digest of the objects' canonical encoding; HashError if one has none."""
    return hashlib.sha256(_encode(objects).encode()).hexdigest()


def _encode(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_canonical)
    except HashError:
        raise
    except (TypeError, ValueError):
        # Dict keys JSON cannot take, or a circular reference: the whole value's pickle is the
        # encoding left.
        return json.dumps({"pickle": _pickle_digest(value)})


def _canonical(value: Any) -> Any:
    """A JSON-encodable stand-in for a value `json` cannot encode itself."""
    if isinstance(value, set | frozenset):
        return {"set": sorted(_encode(item) for item in value)}
    if isinstance(value, bytes | bytearray):
        return {"bytes": bytes(value).hex()}
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        fields = {name: getattr(value, name) for name in value.__dataclass_fields__}
        return {"dataclass": type(value).__qualname__, "fields": fields}
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump) and not isinstance(value, type):
        return {"model": type(value).__qualname__, "fields": model_dump(mode="json")}
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat) and not isinstance(value, type):
        return {type(value).__name__: isoformat()}
    return {"pickle": _pickle_digest(value)}


def _pickle_digest(value: Any) -> str:
    try:
        data = pickle.dumps(value, protocol=4)
    except Exception as exc:
        raise HashError(
            f"a {type(value).__module__}.{type(value).__qualname__} cannot be hashed: neither "
            f"JSON nor pickle can encode it ({type(exc).__name__}: {exc})"
        ) from None
    return hashlib.sha256(data).hexdigest()
