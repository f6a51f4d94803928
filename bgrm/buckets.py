"""Objects in a bucket (s3://, gs://, az://) through obstore; only bgrm.places imports this.

Credentials, endpoint and region come from the environment the way each store reads it (for
S3: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION), never from a job.
Every failure becomes one BgrmError line naming the object, and the endpoint when the store
cannot be reached.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import obstore
from obstore.exceptions import (
    AlreadyExistsError,
    BaseError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
)

from bgrm import s3uploads
from bgrm.errors import BgrmError, EnvironmentProblem, InputError, OutputError, not_found

READ_BLOCK = 1 << 20
"""Bytes fetched by one ranged GET. Smaller blocks fetch fewer bytes around a part's frames;
larger ones pay the store's first-byte latency (tens of ms) less often. Measured on the test
server (bench/storage.py, 16 MB clip): 1 MiB reads 63-100 MB/s and a part fetches about two
blocks beyond its own span; 256 KiB reads 14 MB/s."""

CACHED_BLOCKS = 4
"""Blocks a reader keeps, so a demuxer stepping between nearby audio and video chunks does not
fetch the same block twice."""

UPLOAD_PART = 16 << 20
"""Multipart upload part size; a file up to this size goes up in one PUT."""

UPLOAD_THREADS = 8
"""Concurrent requests for a folder's files and a multipart upload's parts."""

RETRIES = {
    "max_retries": 6,
    "retry_timeout": timedelta(seconds=30),
    "backoff": {
        "init_backoff": timedelta(milliseconds=500),
        "max_backoff": timedelta(seconds=4),
        "base": 2,
    },
}
"""The store's own retries of 5xx and connection errors, each request (a multipart upload's
part too) on its own. Each wait is drawn between the first and twice the last, so six wait
at least 3 s in all and about 7 s on average: a network cut of a few seconds is ridden out
(the tests cut it for 2 s mid-upload). The worker retries a job that still fails
(EnvironmentProblem) with its own backoff."""


CREDENTIALS = {
    "s3": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    "gs": "GOOGLE_SERVICE_ACCOUNT to a service account's key file",
    "az": "AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY",
}
"""Where each store looks for its credentials first (named in the error when none are found)."""

ENVIRONMENT = ("AWS_", "GOOGLE_", "AZURE_")
"""The variables each store reads its credentials and endpoint from."""


def _store(scheme: str, bucket: str):
    """The store of a bucket, configured from the environment as it is now."""
    settings = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(ENVIRONMENT)))
    return _store_for(scheme, bucket, settings)


@lru_cache(maxsize=64)
def _store_for(scheme: str, bucket: str, settings: tuple):
    """One store per bucket and environment, shared by every thread (``settings`` only keys
    the cache: the store reads the same variables itself)."""
    url = f"{scheme}://{bucket}"
    options = {"connect_timeout": timedelta(seconds=10)}
    if _endpoint(scheme).startswith("http://"):
        options["allow_http"] = True  # an endpoint named with http:// (a local MinIO, a test)
    return obstore.store.from_url(url, client_options=options, retry_config=RETRIES)


def _endpoint(scheme: str) -> str:
    """The endpoint the store talks to, as a user would recognise it in an error."""
    if scheme == "s3":
        explicit = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return explicit or f"AWS S3 ({region or 'us-east-1'})"
    return {"gs": "Google Cloud Storage", "az": "Azure Blob Storage"}[scheme]


@contextlib.contextmanager
def errors(url: str, scheme: str, role: str, *, writing: bool = False) -> Iterator[None]:
    """Turn the store's exceptions into one BgrmError line about ``url`` (the ``role``'s)."""
    try:
        yield
    except (BaseError, FileNotFoundError) as error:
        if isinstance(error, FileNotFoundError) and not _bucket_exists(scheme, url):
            raise (OutputError if writing else InputError)(
                f"the {role}'s bucket does not exist: {url}"
            ) from error
        raise _translated(error, url, scheme, role, writing) from error


def _bucket_exists(scheme: str, url: str) -> bool:
    """After a 404 (a HEAD's has no body to say why): whether the bucket itself is there."""
    bucket = url.split("://", 1)[1].split("/", 1)[0]
    try:
        any_under(scheme, bucket, "")
    except BaseError as error:
        return "NoSuchBucket" not in str(error)
    return True


def _translated(error: Exception, url: str, scheme: str, role: str, writing: bool) -> BgrmError:
    wrong = OutputError if writing else InputError
    endpoint = _endpoint(scheme)
    text = str(error)
    if any(code in text for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch")):
        return EnvironmentProblem(f"the object store at {endpoint} rejected the credentials: {url}")
    if isinstance(error, AlreadyExistsError | PreconditionError):
        return OutputError(f"{role} exists (pass `overwrite` to replace it): {url}")
    if "NoSuchBucket" in text:
        return wrong(f"the {role}'s bucket does not exist: {url}")
    if isinstance(error, FileNotFoundError):
        return not_found(role, url, writing=writing)
    action = "writing" if writing else "reading"
    if isinstance(error, PermissionDeniedError):
        return wrong(f"access denied {action} the {role}: {url}")
    if isinstance(error, UnauthenticatedError):
        return EnvironmentProblem(f"the object store at {endpoint} rejected the credentials: {url}")
    if "169.254.169.254" in text:  # no key in the environment, and no instance role either
        return EnvironmentProblem(
            f"no credentials for the object store at {endpoint} (set {CREDENTIALS[scheme]}): {url}"
        )
    status = re.search(r"status code: (\d{3}[^:]*)", text)
    if status and status.group(1).startswith("403"):  # a LIST's 403 comes as a plain status
        return wrong(f"access denied {action} the {role}: {url}")  # never retried as transient
    if status:
        return EnvironmentProblem(
            f"the object store at {endpoint} answered {status.group(1)}: {url}"
        )
    first = text.splitlines()[0] if text else ""
    if not first or any(word in first for word in ("sending request", "timed out", "connect")):
        return EnvironmentProblem(f"cannot reach the object store at {endpoint}: {url}")
    return EnvironmentProblem(f"the object store at {endpoint} failed ({first[:160]}): {url}")


class ObjectReader(io.RawIOBase):
    """A seekable binary file over one object: each read is served from cached blocks, a
    missing block is fetched with one ranged GET. PyAV decodes straight from it."""

    def __init__(
        self, scheme: str, bucket: str, key: str, size: int, block: int, role: str
    ) -> None:
        super().__init__()
        self._store = _store(scheme, bucket)
        self._key = key
        self._where = (f"{scheme}://{bucket}/{key}", scheme, role)  # for errors
        self.size = size
        self._block = block
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError(f"seek to a negative position in {self._key}")
        self._position = base + offset
        return self._position

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self._position + size)
        pieces = []
        while self._position < end:
            index, within = divmod(self._position, self._block)
            piece = self._block_at(index)[within : within + end - self._position]
            pieces.append(piece)
            self._position += len(piece)
        return b"".join(pieces)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _block_at(self, index: int) -> bytes:
        if index in self._blocks:
            self._blocks.move_to_end(index)
            return self._blocks[index]
        start = index * self._block
        length = min(self._block, self.size - start)
        with errors(*self._where):
            data = bytes(obstore.get_range(self._store, self._key, start=start, length=length))
        self._blocks[index] = data
        if len(self._blocks) > CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return data


def open_reader(scheme: str, bucket: str, key: str, block: int, role: str) -> ObjectReader:
    """A reader of the object (one HEAD for its size; FileNotFoundError when missing)."""
    return ObjectReader(scheme, bucket, key, size(scheme, bucket, key), block, role)


def size(scheme: str, bucket: str, key: str) -> int:
    return obstore.head(_store(scheme, bucket), key)["size"]


def get(scheme: str, bucket: str, key: str) -> bytes:
    return bytes(obstore.get(_store(scheme, bucket), key).bytes())


def is_object(scheme: str, bucket: str, key: str) -> bool:
    if not key:
        return False
    try:
        obstore.head(_store(scheme, bucket), key)
    except FileNotFoundError:
        return False
    return True


def keys_under(scheme: str, bucket: str, prefix: str) -> list[str]:
    """Every key below the folder ``prefix`` ("" for the whole bucket), at any depth."""
    listing = obstore.list(_store(scheme, bucket), prefix=prefix or None)
    return [meta["path"] for chunk in listing for meta in chunk]


def any_under(scheme: str, bucket: str, prefix: str) -> bool:
    """Whether some key lies below the folder ``prefix``; stops at the first page."""
    for chunk in obstore.list(_store(scheme, bucket), prefix=prefix or None, chunk_size=1):
        if chunk:
            return True
    return False


def names_in(scheme: str, bucket: str, prefix: str) -> list[str]:
    """The names one level below the folder ``prefix``: objects and sub-folders."""
    listing = obstore.list_with_delimiter(_store(scheme, bucket), prefix=prefix or None)
    found = [meta["path"] for meta in listing["objects"]] + list(listing["common_prefixes"])
    return sorted(path.rstrip("/").rsplit("/", 1)[-1] for path in found)


def delete(scheme: str, bucket: str, keys: list[str]) -> None:
    """Delete ``keys`` (missing ones are no error), in batches."""
    store = _store(scheme, bucket)
    for start in range(0, len(keys), 1000):
        obstore.delete(store, keys[start : start + 1000])


def put_bytes(scheme: str, bucket: str, key: str, data: bytes, *, overwrite: bool) -> None:
    """One PUT; without ``overwrite`` the store itself refuses an existing key."""
    obstore.put(_store(scheme, bucket), key, data, mode="overwrite" if overwrite else "create")


def upload_file(scheme: str, bucket: str, key: str, path: Path, *, overwrite: bool) -> None:
    """Upload a local file: one conditional PUT up to UPLOAD_PART, else a multipart upload that
    is completed at the end and aborted on any failure (nothing appears at the key)."""
    store = _store(scheme, bucket)
    if os.path.getsize(path) <= UPLOAD_PART:
        obstore.put(store, key, Path(path), mode="overwrite" if overwrite else "create")
        return
    # obstore sends the "create" precondition with single PUTs only: the caller checked the
    # key just before; a writer racing in between is overwritten (as a rename would).
    try:
        obstore.put(
            store,
            key,
            Path(path),
            use_multipart=True,
            chunk_size=UPLOAD_PART,
            max_concurrency=UPLOAD_THREADS,
        )
    except BaseException:
        # obstore does not abort after a failed part, and its abort may not have got through:
        # abort what is open at the key (what cannot be reached now, the next run aborts).
        abort_uploads(scheme, bucket, key)
        raise


def abort_uploads(scheme: str, bucket: str, key: str, *, below: bool = False) -> list[str]:
    """Abort the incomplete multipart uploads of ``key`` (with ``below``, of every key under
    the folder ``key`` too); returns their keys. S3 only, with a key in the environment (see
    bgrm/s3uploads.py); best effort: a store that cannot be asked is no error here (the
    upload that failed, or the next run, says what is wrong)."""
    if scheme != "s3" or not s3uploads.signable():
        return []
    try:
        found = s3uploads.list_uploads(bucket, key)
        stale = [u for u in found if u.key == key or (below and u.key.startswith(key + "/"))]
        for upload in stale:
            s3uploads.abort(bucket, upload)
    except s3uploads.UploadsError:
        return []
    return [upload.key for upload in stale]


def upload_files(scheme: str, bucket: str, pairs: list[tuple[str, Path]]) -> None:
    """Upload (key, local file) pairs concurrently; the first failure is raised."""
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        futures = [
            pool.submit(upload_file, scheme, bucket, key, path, overwrite=True)
            for key, path in pairs
        ]
        for future in futures:
            future.result()
