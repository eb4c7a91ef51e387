"""Result storage: where persisted results and cache entries are kept (`result_storage=`).

`@flow(result_storage=...)` / `@task(result_storage=...)` take, as in Prefect 3:

* a directory path (str or Path): a local or mounted directory, as `LocalFileSystem`;
* `"s3://bucket/prefix"`: an S3-compatible bucket, as `S3Bucket` (needs `pip install
  'kflow[s3]'`; endpoint and credentials come from the standard AWS environment variables);
* an object: `LocalFileSystem(basepath=...)`, `S3Bucket(bucket_name=..., bucket_folder=...)`, or
  any object with Prefect's `read_path(path) -> bytes` and `write_path(path, content)` whose
  `read_path` raises FileNotFoundError for a path it does not have.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from kflow.s3 import S3Bucket

__all__ = [
    "RESULT_STORAGE_ENV",
    "LocalFileSystem",
    "S3Bucket",
    "WritableFileSystem",
    "resolve_storage",
]

RESULT_STORAGE_ENV = "KFLOW_RESULT_STORAGE"
"""The default storage of a process's runs, a directory or an `s3://bucket/prefix` URL: what
a cluster run's `infrastructure.resultStorage` hands it (kflow.resources.result_storage)."""


@runtime_checkable
class WritableFileSystem(Protocol):
    """What `result_storage=` takes besides a path or a URL."""

    def read_path(self, path: str) -> bytes: ...

    def write_path(self, path: str, content: bytes) -> Any: ...


class LocalFileSystem:
    """A local or mounted directory (Prefect's `prefect.filesystems.LocalFileSystem`)."""

    def __init__(self, basepath: str | os.PathLike[str] | None = None) -> None:
        path = Path(basepath if basepath is not None else Path.cwd()).expanduser()
        #: Absolute, so that a later chdir does not move the results.
        self.basepath = str(path.absolute())

    def _path(self, path: str) -> Path:
        if path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"Result path {path!r} must be a relative path without '..'.")
        return Path(self.basepath, path)

    def read_path(self, path: str) -> bytes:
        return self._path(path).read_bytes()

    def write_path(self, path: str, content: bytes) -> str:
        """Write atomically: a reader in another process sees the old file or the new one."""
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, target)
        return str(target)

    def exists(self, path: str) -> bool:
        return self._path(path).is_file()

    def location(self, path: str) -> str:
        return str(self._path(path))

    def explain(self, error: BaseException) -> str:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        return (
            f"{type(error).__name__}: {reason}; check that {self.basepath} exists (for a "
            "cluster run: is mounted into the pod) and that this process may write to it"
        )

    def __str__(self) -> str:
        return self.basepath

    def __repr__(self) -> str:
        return f"LocalFileSystem(basepath={self.basepath!r})"


def resolve_storage(value: Any, owner: str) -> WritableFileSystem | None:
    """The storage `result_storage=value` names (None when not set).

    `owner` names where it was set (`task 'load'`) for the error a wrong value gets.
    """
    if value is None:
        return None
    if isinstance(value, str) and value.startswith("s3://"):
        return S3Bucket.from_url(value, owner)
    if isinstance(value, str) and value.startswith("file://"):
        value = value.removeprefix("file://")
    if isinstance(value, str) and "://" in value:
        raise ValueError(
            f"result_storage of {owner} must be a directory path, an 's3://bucket/prefix' URL or "
            f"a storage object; got {value!r}: kflow keeps results on local or mounted paths and "
            "in S3-compatible buckets."
        )
    if isinstance(value, str | os.PathLike):
        if not str(value):
            raise ValueError(f"result_storage of {owner} is an empty path; name a directory.")
        return LocalFileSystem(value)
    if isinstance(value, WritableFileSystem) and not isinstance(value, type):
        return value
    raise TypeError(
        f"result_storage of {owner} must be a directory path, an 's3://bucket/prefix' URL, "
        "LocalFileSystem(basepath=...), S3Bucket(bucket_name=...), or an object with "
        f"read_path(path) and write_path(path, content); got {value!r}."
    )
