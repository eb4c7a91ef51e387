"""Reading back a result a FlowRun only references (`status.result.reference`: too big to keep
inline), so that `run_deployment(...).state.result()` gives the value, as in Prefect.

A reference is what `ResultStore.location` wrote: an absolute path (a local or mounted
directory) or an `s3://bucket/key` URL; the serializer is told by the name's suffix (`.pickle`,
`.json`, `.pickle.xz`, `.json.xz`). It is read when `.result()` is first called: a path only
the run's pod could see fails then, with one line saying where the result is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kflow.exceptions import ResultStorageError
from kflow.serializers import (
    CompressedJSONSerializer,
    CompressedPickleSerializer,
    JSONSerializer,
    PickleSerializer,
    Serializer,
)
from kflow.states import State, StateType


class _Unread:
    def __repr__(self) -> str:
        return "<kept at its reference; read on .result()>"


_UNREAD: Any = _Unread()


def serializer_for(reference: str) -> Serializer | None:
    """The serializer whose files end as `reference` does (the longest suffix wins)."""
    candidates: list[Serializer] = [
        CompressedPickleSerializer(),
        CompressedJSONSerializer(),
        PickleSerializer(),
        JSONSerializer(),
    ]
    for serializer in candidates:
        if reference.endswith(getattr(serializer, "suffix", "\0")):
            return serializer
    return None


def read_reference(reference: str) -> Any:
    serializer = serializer_for(reference)
    if serializer is None:
        raise ResultStorageError(
            f"The run's result is kept at {reference}, which kflow cannot read back (not a "
            ".pickle or .json file); read it where the flow's result storage is."
        )
    try:
        if reference.startswith("s3://"):
            from kflow.s3 import S3Bucket

            bucket, _, key = reference.removeprefix("s3://").partition("/")
            blob = S3Bucket(bucket).read_path(key)
        elif Path(reference).is_absolute():
            blob = Path(reference).read_bytes()
        else:
            raise ValueError("not a path or an s3:// URL")
    except Exception as error:
        raise ResultStorageError(
            f"The run's result is kept at {reference} and could not be read from here "
            f"({type(error).__name__}: {error}); for a path, mount the result storage here "
            "too, or read it where the run's result storage is mounted."
        ) from None
    return serializer.loads(blob)


class ReferencedState(State[Any]):
    """A COMPLETED state whose value is read from its reference on the first `.result()`."""

    __slots__ = ("reference",)

    def __init__(self, reference: str, **fields: Any) -> None:
        super().__init__(StateType.COMPLETED, data=_UNREAD, **fields)
        self.reference = reference

    def result(self, raise_on_failure: bool = True) -> Any:
        if self.data is _UNREAD:
            self.data = read_reference(self.reference)
        return super().result(raise_on_failure)
