"""Incomplete multipart uploads in an S3 bucket: list those of a key or a prefix, abort them.

obstore has no call for either, so these are two plain S3 requests (ListMultipartUploads,
AbortMultipartUpload) signed with Signature Version 4 from the same environment the store
reads (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
AWS_REGION, AWS_VIRTUAL_HOSTED_STYLE_REQUEST). Without a key in the environment (an instance
role) nothing is listed: the bucket's lifecycle rule is then the only sweep.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

TIMEOUT_S = 10.0
"""Seconds one request may take."""

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class UploadsError(Exception):
    """A request about uploads failed (no answer, an error status, an answer not understood)."""


@dataclass(frozen=True)
class Upload:
    """One incomplete multipart upload."""

    key: str
    upload_id: str


def signable() -> bool:
    """Whether the environment holds a key to sign requests with."""
    return bool(os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"))


def list_uploads(bucket: str, prefix: str) -> list[Upload]:
    """The incomplete uploads of the keys starting with ``prefix`` (every page)."""
    found: list[Upload] = []
    markers: dict[str, str] = {}
    while True:
        answer = _request("GET", bucket, "", {"uploads": "", "prefix": prefix, **markers})
        try:
            root = ElementTree.fromstring(answer)
        except ElementTree.ParseError as error:
            raise UploadsError(f"the list of uploads in {bucket} is not XML: {error}") from error
        for upload in root.iter(f"{_NS}Upload"):
            key, upload_id = upload.findtext(f"{_NS}Key"), upload.findtext(f"{_NS}UploadId")
            if key is not None and upload_id:
                found.append(Upload(key, upload_id))
        if root.findtext(f"{_NS}IsTruncated") != "true":
            return found
        markers = {
            "key-marker": root.findtext(f"{_NS}NextKeyMarker", ""),
            "upload-id-marker": root.findtext(f"{_NS}NextUploadIdMarker", ""),
        }


def abort(bucket: str, upload: Upload) -> None:
    """Abort one upload: its parts are deleted and it is listed no more."""
    _request("DELETE", bucket, upload.key, {"uploadId": upload.upload_id})


def _request(method: str, bucket: str, key: str, query: dict[str, str]) -> bytes:
    """One signed request; UploadsError when it fails."""
    base, host, path = _address(bucket, key)
    canonical_query = "&".join(
        f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
        for name, value in sorted(query.items())
    )
    headers = _signed_headers(method, host, path, canonical_query)
    request = urllib.request.Request(f"{base}{path}?{canonical_query}", method=method)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            return answer.read()
    except urllib.error.HTTPError as error:
        raise UploadsError(f"{method} {path} answered {error.code}") from error
    except (OSError, ValueError) as error:
        raise UploadsError(f"{method} {path} failed: {error}") from error


def _address(bucket: str, key: str) -> tuple[str, str, str]:
    """(scheme://host, host, URI-encoded path) of ``key`` in ``bucket`` (path style unless
    AWS_VIRTUAL_HOSTED_STYLE_REQUEST is true, as the store addresses it)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT")
    endpoint = (endpoint or f"https://s3.{_region()}.amazonaws.com").rstrip("/")
    parts = urlsplit(endpoint)
    encoded = quote(key, safe="-_.~/")
    if os.environ.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "").lower() == "true":
        host = f"{bucket}.{parts.netloc}"
        return f"{parts.scheme}://{host}", host, f"/{encoded}"
    return f"{parts.scheme}://{parts.netloc}", parts.netloc, f"/{bucket}/{encoded}".rstrip("/")


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _signed_headers(method: str, host: str, path: str, query: str) -> dict[str, str]:
    """The headers of a Signature Version 4 request with an empty body."""
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": _EMPTY_SHA256, "x-amz-date": stamp}
    token = os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN")
    if token:
        headers["x-amz-security-token"] = token
    names = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            method,
            path or "/",
            query,
            "".join(f"{name}:{headers[name]}\n" for name in sorted(headers)),
            names,
            _EMPTY_SHA256,
        ]
    )
    scope = f"{day}/{_region()}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode()
    for part in (day, _region(), "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    credential = f"{os.environ['AWS_ACCESS_KEY_ID']}/{scope}"
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={names}, Signature={signature}"
    )
    del headers["host"]  # urllib sends it
    return headers
