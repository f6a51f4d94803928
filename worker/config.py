"""Queue settings from BGRM_* environment variables, read in one place, once.

| variable | default | meaning |
| --- | --- | --- |
| BGRM_BROKER_URL | redis://127.0.0.1:6379/0 | Redis broker (2) |
| BGRM_RESULT_BACKEND | the broker URL | Redis result backend (also holds job locks and flags) |
| BGRM_QUEUE | bgrm | the queue name (separate queues for separate pools of workers) |
| BGRM_INPUT_ROOTS | the worker's current directory | folders or URL prefixes jobs may read (1) |
| BGRM_OUTPUT_ROOT | the worker's current directory | the folder or URL prefix jobs write under |
| BGRM_VISIBILITY_TIMEOUT | 3600 | seconds before Redis redelivers an unacknowledged job |
| BGRM_LOCK_TTL | 60 | seconds a running job's lock lives without a heartbeat |
| BGRM_TIME_LIMIT | 0 (none) | seconds a job may run before it fails |
| BGRM_RESULT_EXPIRES | 604800 (7 days) | seconds results and job records are kept |
| BGRM_MAX_RETRIES | 3 | retries of a transient failure (weights fetch, I/O), with backoff |
| BGRM_DEVICE | auto | the worker's device (set by `bgrm worker --device`) |
| BGRM_THREADS | torch's default | torch CPU threads per worker (set by `bgrm worker --threads`) |

(1) os.pathsep-separated; a ":" followed by "//" belongs to a URL, so
``s3://media/in:/data/in`` is two roots.
(2) With a password: ``redis://:PASSWORD@host:6379/0``; over TLS ``rediss://...`` with
``?ssl_cert_reqs=required`` (and ``&ssl_ca_certs=/path/ca.crt`` for a private CA). A password
is never shown: every message that names a Redis URL shows it as ``***`` (:func:`redact`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bgrm import Place, UsageError

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"

ROOT_SEPARATOR = re.compile(re.escape(os.pathsep) + "(?!//)")
"""Between roots: os.pathsep, except a ":" followed by "//", which is a URL's (s3://...)."""
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:@/\s]*:)[^@\s]*@")
"""The password in a URL's user part (``scheme://user:PASSWORD@``)."""


@dataclass(frozen=True)
class Settings:
    broker_url: str
    result_backend: str
    queue: str
    input_roots: tuple[Place, ...]  # local ones resolved
    output_root: Place  # resolved when local
    roots_from_env: bool  # False: both default to the current directory
    visibility_timeout: int
    lock_ttl: int
    time_limit: float | None
    result_expires: int
    max_retries: int
    device: str
    threads: int | None


@functools.cache
def settings() -> Settings:
    """This process's settings, read from the environment at the first call (worker start)."""
    return from_env(os.environ)


def from_env(env: Mapping[str, str]) -> Settings:
    """Settings from ``env``; a malformed value is a UsageError naming the variable."""
    broker = env.get("BGRM_BROKER_URL") or DEFAULT_BROKER
    backend = env.get("BGRM_RESULT_BACKEND") or broker
    for name, url in (("BGRM_BROKER_URL", broker), ("BGRM_RESULT_BACKEND", backend)):
        if not url.startswith(REDIS_SCHEMES):
            raise UsageError(
                f"{name} must be a Redis URL (redis://host:port/db), got {redact(url, url)!r}"
            )
        if url.startswith("rediss://") and "ssl_cert_reqs=required" not in url:
            # Celery's Redis transport would otherwise use TLS without checking the server.
            raise UsageError(
                f"{name}: a rediss:// URL needs ?ssl_cert_reqs=required (and ssl_ca_certs="
                f"/path/ca.crt for a private CA): {redact(url, url)}"
            )
    inputs = [p for p in ROOT_SEPARATOR.split(env.get("BGRM_INPUT_ROOTS", "")) if p]
    output = env.get("BGRM_OUTPUT_ROOT", "")
    here = Path.cwd()
    threads = _number(env, "BGRM_THREADS", 0)
    time_limit = _number(env, "BGRM_TIME_LIMIT", 0)
    return Settings(
        broker_url=broker,
        result_backend=backend,
        queue=env.get("BGRM_QUEUE") or "bgrm",
        input_roots=tuple(map(_root, inputs)) or (here.resolve(),),
        output_root=_root(output) if output else here.resolve(),
        roots_from_env=bool(inputs or output),
        visibility_timeout=int(_number(env, "BGRM_VISIBILITY_TIMEOUT", 3600, minimum=1)),
        lock_ttl=int(_number(env, "BGRM_LOCK_TTL", 60, minimum=3)),
        time_limit=time_limit or None,
        result_expires=int(_number(env, "BGRM_RESULT_EXPIRES", 7 * 24 * 3600, minimum=60)),
        max_retries=int(_number(env, "BGRM_MAX_RETRIES", 3)),
        device=env.get("BGRM_DEVICE") or "auto",
        threads=int(threads) or None,
    )


def redact(text: str, *urls: str) -> str:
    """``text`` (a URL, or a message that may hold one) with every URL's password, and the
    passwords of ``urls`` wherever they appear, shown as ``***``."""
    for url in urls:
        password = urlsplit(url).password
        for secret in {password, unquote(password or "")} - {None, ""}:
            text = text.replace(secret, "***")
    return _PASSWORD.sub(r"\1***@", text)


def _root(text: str) -> Place:
    """A root folder (resolved) or URL prefix."""
    return Place.of(text).resolve()


def _number(env: Mapping[str, str], name: str, default: float, minimum: float = 0) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise UsageError(f"{name} must be a number >= {minimum:g}, got {text!r}")
    return value
