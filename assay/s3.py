"""S3 and S3-compatible object stores through boto3: list, stream, range-read and write objects.

The endpoint, region and credentials come from the process environment in the standard AWS
variables (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, ...)
or boto3's usual chain; `assay.connections` puts an Airflow connection's values there. Nothing
here logs or formats a credential. botocore retries throttling and 5xx answers with backoff
("standard" mode); errors that remain surface as `S3ReadError` (an OSError, so a shard that
cannot be read is reported by the corpus reader like any other unreadable file).
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from assay.storage import StorageError, StoredObject

BLOCK_BYTES = 8 * 1024 * 1024
# Environment that decides which client a process needs (values never leave this module).
_CLIENT_ENV = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "ASSAY_S3_MAX_ATTEMPTS",
    "ASSAY_S3_ADDRESSING_STYLE",
)
_clients: dict[tuple, object] = {}
_lock = threading.Lock()


class S3ReadError(OSError):
    """An object could not be listed, read or written after retries; says which and why."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_uri(uri: str) -> S3Location:
    """s3://bucket/key -> (bucket, key); the key may be empty."""
    if not uri.startswith("s3://"):
        raise StorageError(f"{uri} is not an s3:// URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise StorageError(f"{uri}: no bucket name; use s3://bucket/prefix")
    return S3Location(bucket, key)


def client():
    """A boto3 S3 client for this process and environment, with retries and backoff."""
    state = (os.getpid(), tuple(os.environ.get(k, "") for k in _CLIENT_ENV))
    with _lock:
        found = _clients.get(state)
        if found is None:
            found = _clients[state] = _new_client()
        return found


def _new_client():
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    style = os.environ.get("ASSAY_S3_ADDRESSING_STYLE") or ("path" if endpoint else "auto")
    config = Config(
        retries={
            "mode": "standard",
            "max_attempts": int(os.environ.get("ASSAY_S3_MAX_ATTEMPTS", "8")),
        },
        s3={"addressing_style": style},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=32,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint or None, config=config)


_SAME_CODE = {
    "404": "NoSuchKey",
    "NotFound": "NoSuchKey",
    "403": "AccessDenied",
    "412": "PreconditionFailed",
}


def _error_code(exc: Exception) -> str:
    """The S3 error code (HEAD answers carry only a status; those map to the GET codes)."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
    return _SAME_CODE.get(code, code)


def _explain(exc: Exception, uri: str, action: str) -> S3ReadError:
    """A readable error (code and what to do) that carries no request details or secrets."""
    code = _error_code(exc)
    hints = {
        "NoSuchKey": "the object was deleted or renamed after the corpus was listed",
        "NoSuchBucket": "the bucket does not exist; check the URI and the endpoint",
        "AccessDenied": "access denied; check the connection's credentials and bucket policy",
        "InvalidAccessKeyId": "unknown access key; check the connection's credentials",
        "SignatureDoesNotMatch": "the secret key does not match the access key",
        "PreconditionFailed": "the object changed while it was being read; rerun the audit",
    }
    hint = hints.get(code, "the store kept failing after retries; check the endpoint and try again")
    return S3ReadError(f"cannot {action} {uri}: {code}: {hint}")


def _client_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def list_objects(root: str) -> list[StoredObject]:
    """Every object under an s3:// prefix (all pages), or the one object a URI names."""
    loc = parse_uri(root)
    prefix = loc.key.rstrip("/")
    found: list[StoredObject] = []
    try:
        paginator = client().get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=loc.bucket, Prefix=f"{prefix}/" if prefix else "")
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                relpath = key[len(prefix) + 1 :] if prefix else key
                if not relpath or key.endswith("/"):
                    continue  # folder markers; hidden keys are listed and planned as ignored
                found.append(
                    StoredObject(
                        f"s3://{loc.bucket}/{key}",
                        relpath,
                        int(item["Size"]),
                        item["ETag"].strip('"'),
                    )
                )
        if not found and prefix:
            head = client().head_object(Bucket=loc.bucket, Key=prefix)
            name = PurePosixPath(prefix).name
            found.append(
                StoredObject(loc.uri, name, int(head["ContentLength"]), head["ETag"].strip('"'))
            )
    except _client_errors() as exc:
        if _error_code(exc) == "NoSuchKey":
            raise StorageError(
                f"corpus {root}: no objects under this prefix; check the URI"
            ) from None
        raise StorageError(str(_explain(exc, root, "list"))) from None
    if not found:
        raise StorageError(f"corpus {root}: no objects under this prefix; check the URI")
    return found


def head(uri: str) -> tuple[int, str]:
    """(size, ETag) of one object."""
    loc = parse_uri(uri)
    try:
        found = client().head_object(Bucket=loc.bucket, Key=loc.key)
    except _client_errors() as exc:
        raise _explain(exc, uri, "read") from None
    return int(found["ContentLength"]), found["ETag"].strip('"')


def read_range(uri: str, start: int, end: int, etag: str | None = None) -> bytes:
    """Bytes [start, end) of an object (fewer at its end); retried on broken streams."""
    if end <= start:
        return b""
    loc = parse_uri(uri)
    extra = {"IfMatch": f'"{etag}"'} if etag else {}
    errors = _client_errors()
    for attempt in range(3):
        try:
            response = client().get_object(
                Bucket=loc.bucket, Key=loc.key, Range=f"bytes={start}-{end - 1}", **extra
            )
            return response["Body"].read()
        except errors as exc:
            if _error_code(exc) == "InvalidRange":
                return b""
            if attempt == 2 or not _is_stream_error(exc):
                raise _explain(exc, uri, "read") from None
    raise AssertionError("unreachable")


def _is_stream_error(exc: BaseException) -> bool:
    """The response body broke off mid-transfer (botocore does not retry those itself)."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import ReadTimeoutError, ResponseStreamingError

    return isinstance(exc, ResponseStreamingError | ReadTimeoutError | BotoConnectionError)


class S3RawFile(io.RawIOBase):
    """A seekable raw reader over one object: each read is a ranged GET, pinned to one ETag."""

    def __init__(self, uri: str):
        self.uri = uri
        self.pos = 0
        self._size: int | None = None
        self._etag: str | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def size(self) -> int:
        if self._size is None:
            self._size, etag = head(self.uri)
            self._etag = self._etag or etag
        return self._size

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self.pos = offset
        elif whence == io.SEEK_CUR:
            self.pos += offset
        elif whence == io.SEEK_END:
            self.pos = self.size() + offset
        else:
            raise ValueError(f"whence {whence}")
        if self.pos < 0:
            raise OSError(f"{self.uri}: seek before the start")
        return self.pos

    def readinto(self, buffer) -> int:  # type: ignore[override]
        want = len(buffer)
        if self._size is not None:
            want = min(want, self._size - self.pos)
        if want <= 0:
            return 0
        if self._etag is None:
            data, self._etag, total = self._first_read(want)
            self._size = self._size if self._size is not None else total
        else:
            data = read_range(self.uri, self.pos, self.pos + want, self._etag)
        n = len(data)
        buffer[:n] = data
        self.pos += n
        return n

    def _first_read(self, want: int) -> tuple[bytes, str, int | None]:
        loc = parse_uri(self.uri)
        try:
            response = client().get_object(
                Bucket=loc.bucket, Key=loc.key, Range=f"bytes={self.pos}-{self.pos + want - 1}"
            )
        except _client_errors() as exc:
            if _error_code(exc) == "InvalidRange":
                size, etag = head(self.uri)
                return b"", etag, size
            raise _explain(exc, self.uri, "read") from None
        try:
            data = response["Body"].read()
        except _client_errors() as exc:
            raise _explain(exc, self.uri, "read") from None
        total = response.get("ContentRange", "").rpartition("/")[2]
        return data, response["ETag"].strip('"'), int(total) if total.isdigit() else None


def open_object(uri: str) -> BinaryIO:
    """A seekable, buffered binary reader for a whole object."""
    parse_uri(uri)
    return io.BufferedReader(S3RawFile(uri), buffer_size=BLOCK_BYTES)  # type: ignore[return-value]


def write_bytes(
    uri: str, data: bytes, if_match: str | None = None, if_none_match: bool = False
) -> str:
    """Put one object; optionally only if its ETag is `if_match` / only if it does not exist.

    Returns the new ETag. A failed condition raises `PreconditionFailed` so callers can retry.
    """
    loc = parse_uri(uri)
    extra: dict = {}
    if if_match:
        extra["IfMatch"] = f'"{if_match}"'
    if if_none_match:
        extra["IfNoneMatch"] = "*"
    try:
        response = client().put_object(Bucket=loc.bucket, Key=loc.key, Body=data, **extra)
    except _client_errors() as exc:
        if _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise PreconditionFailed(uri) from None
        raise _explain(exc, uri, "write") from None
    return response["ETag"].strip('"')


class PreconditionFailed(S3ReadError):
    """A conditional write lost: the object changed (or appeared) since it was read."""


def upload_file(path: Path, uri: str) -> None:
    """Upload a local file (multipart when large)."""
    loc = parse_uri(uri)
    from boto3.exceptions import S3UploadFailedError

    try:
        client().upload_file(str(path), loc.bucket, loc.key)
    except (*_client_errors(), S3UploadFailedError) as exc:
        raise _explain(exc, uri, "write") from None


def list_keys(prefix_uri: str) -> list[tuple[str, int, str]]:
    """(uri, size, ETag) of every object whose key starts with the URI's key (no '/' added)."""
    loc = parse_uri(prefix_uri)
    out: list[tuple[str, int, str]] = []
    try:
        for page in (
            client().get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=loc.key)
        ):
            for item in page.get("Contents", []):
                out.append(
                    (f"s3://{loc.bucket}/{item['Key']}", int(item["Size"]), item["ETag"].strip('"'))
                )
    except _client_errors() as exc:
        raise _explain(exc, prefix_uri, "list") from None
    return out


def get_bytes(uri: str) -> tuple[bytes, str] | None:
    """(content, ETag) of an object, or None when it does not exist."""
    loc = parse_uri(uri)
    try:
        response = client().get_object(Bucket=loc.bucket, Key=loc.key)
        return response["Body"].read(), response["ETag"].strip('"')
    except _client_errors() as exc:
        if _error_code(exc) == "NoSuchKey":
            return None
        raise _explain(exc, uri, "read") from None


def download_file(uri: str, path: Path) -> None:
    loc = parse_uri(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        client().download_file(loc.bucket, loc.key, str(path))
    except _client_errors() as exc:
        raise _explain(exc, uri, "read") from None


def list_keys_modified(prefix_uri: str) -> list[tuple[str, float]]:
    """(uri, last-modified as a UNIX time) of every object whose key starts with the URI's key."""
    loc = parse_uri(prefix_uri)
    out: list[tuple[str, float]] = []
    try:
        for page in (
            client().get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=loc.key)
        ):
            for item in page.get("Contents", []):
                out.append((f"s3://{loc.bucket}/{item['Key']}", item["LastModified"].timestamp()))
    except _client_errors() as exc:
        raise _explain(exc, prefix_uri, "list") from None
    return out


def delete_keys(uris: list[str]) -> None:
    """Delete objects (batches of 1000, the API's limit); all URIs must share one bucket."""
    if not uris:
        return
    bucket = parse_uri(uris[0]).bucket
    keys = [parse_uri(u).key for u in uris]
    try:
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            response = client().delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise S3ReadError(
                    f"s3://{bucket}/{first.get('Key')}: cannot delete ({first.get('Code')}: "
                    f"{first.get('Message')}); check the credentials' s3:DeleteObject permission"
                )
    except _client_errors() as exc:
        raise _explain(exc, uris[0], "delete") from None
