"""S3-compatible result storage: `result_storage="s3://bucket/prefix"` or `S3Bucket(...)`.

boto3 is an optional extra (`pip install 'kflow[s3]'`), imported when a run first touches the
bucket. Endpoint, credentials and region come from the standard AWS settings boto3 reads:
`AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`, `AWS_DEFAULT_REGION`, `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, a profile; a
cluster run gets them from its Deployment's `env` (for example from a Secret).
"""

from __future__ import annotations

import os
import threading
from typing import Any

CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset(
    {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
)


class S3Bucket:
    """A folder in an S3-compatible bucket (prefect-aws' `S3Bucket`, credentials from the
    environment instead of a credentials block)."""

    def __init__(
        self, bucket_name: str, bucket_folder: str = "", endpoint_url: str | None = None
    ) -> None:
        if not bucket_name or "/" in bucket_name:
            raise ValueError(
                f"S3Bucket needs a bucket name without '/' (put the folder in bucket_folder); "
                f"got {bucket_name!r}."
            )
        self.bucket_name = bucket_name
        self.bucket_folder = bucket_folder.strip("/")
        self.endpoint_url = endpoint_url
        self._client: Any = None
        self._client_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, owner: str = "result_storage") -> S3Bucket:
        bucket, _, folder = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(
                f"result_storage of {owner} must name a bucket: 's3://bucket' or "
                f"'s3://bucket/prefix'; got {url!r}."
            )
        return cls(bucket, folder)

    def _key(self, path: str) -> str:
        return f"{self.bucket_folder}/{path}" if self.bucket_folder else path

    def _s3(self) -> Any:
        """The bucket's boto3 client, made once (boto3 clients are thread-safe; making one
        loads its service model, tens of milliseconds)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = _new_client(self.endpoint_url)
        return self._client

    def read_path(self, path: str) -> bytes:
        try:
            response = self._s3().get_object(Bucket=self.bucket_name, Key=self._key(path))
        except Exception as error:
            if _error_code(error) in _MISSING_CODES:
                raise FileNotFoundError(self.location(path)) from None
            raise
        body: bytes = response["Body"].read()
        return body

    def write_path(self, path: str, content: bytes) -> str:
        self._s3().put_object(Bucket=self.bucket_name, Key=self._key(path), Body=content)
        return self.location(path)

    def exists(self, path: str) -> bool:
        try:
            self._s3().head_object(Bucket=self.bucket_name, Key=self._key(path))
        except Exception as error:
            if _error_code(error) in _MISSING_CODES:
                return False
            raise
        return True

    def location(self, path: str) -> str:
        return f"s3://{self.bucket_name}/{self._key(path)}"

    def endpoint(self) -> str:
        """The endpoint in use (or that will be), for messages."""
        if self._client is not None:
            return str(self._client.meta.endpoint_url)
        return self.endpoint_url or _endpoint_from_environment() or "AWS's default endpoint"

    def explain(self, error: BaseException) -> str:
        """Why the bucket could not be used, and what to check, in one line."""
        if isinstance(error, ImportError):
            return "S3 result storage needs boto3, which is not installed: pip install 'kflow[s3]'"
        kind = type(error).__name__
        code = _error_code(error)
        if kind in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
            return (
                f"cannot connect to {self.endpoint()}; check AWS_ENDPOINT_URL and that the S3 "
                "server is up and reachable from here"
            )
        if kind in ("NoCredentialsError", "PartialCredentialsError"):
            return (
                "no AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for a "
                "cluster run: in the Deployment's env, e.g. from a Secret)"
            )
        if code == "NoSuchBucket":
            return (
                f"bucket {self.bucket_name!r} does not exist at {self.endpoint()}; create it, or "
                "fix the bucket in result_storage"
            )
        if code in _DENIED_CODES:
            return (
                f"access denied ({code}) at {self.endpoint()}; check AWS_ACCESS_KEY_ID, "
                f"AWS_SECRET_ACCESS_KEY and what they may do in bucket {self.bucket_name!r}"
            )
        return (
            f"{kind}: {error}; check AWS_ENDPOINT_URL, the AWS credentials and bucket "
            f"{self.bucket_name!r}"
        )

    def __str__(self) -> str:
        return f"s3://{self.bucket_name}/{self.bucket_folder} (endpoint {self.endpoint()})"

    def __repr__(self) -> str:
        return f"S3Bucket(bucket_name={self.bucket_name!r}, bucket_folder={self.bucket_folder!r})"


def _endpoint_from_environment() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _new_client(endpoint_url: str | None) -> Any:
    import boto3  # the kflow[s3] extra; only runs that use S3 pay for it
    from botocore.config import Config

    options: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
    }
    if "AWS_MAX_ATTEMPTS" not in os.environ and "AWS_RETRY_MODE" not in os.environ:
        # botocore's legacy default retries a refused connection for up to ~15 s.
        options["retries"] = {"mode": "standard"}
    if endpoint_url or _endpoint_from_environment():
        # S3-compatible servers (MinIO, Ceph, ...) are addressed by path, not by a
        # bucket-named host their DNS does not have.
        options["s3"] = {"addressing_style": "path"}
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, config=Config(**options))


def _error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None
