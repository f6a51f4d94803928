"""A real S3-compatible server for the tests: moto's, in a child process on 127.0.0.1.

Every request it answers is logged (method, bucket and key, range asked, status, bytes sent
and received) as one JSON line to a file, so a test can count the bytes a reader really
fetched. Run as ``python -m tests.s3 LOG`` it serves on a free port and prints the port.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
KEY_ID = "bgrm-test"
SECRET = "bgrm-test-secret"


@dataclass(frozen=True)
class Request:
    """One request the server answered."""

    method: str
    path: str  # /bucket/key, unquoted
    query: str  # e.g. "uploads" (a multipart upload begins) or "uploadId=...&partNumber=2"
    range: str | None  # the Range header, e.g. "bytes=0-1023"
    status: int
    sent: int  # body bytes sent to the client
    received: int  # body bytes received from it


class S3Server:
    """The server process: start, point clients at it (``environment()``), read its log, stop."""

    def __init__(self, log: Path, *, free_requests: int | None = None) -> None:
        """``free_requests``: after that many requests the server checks credentials and
        IAM policies (moto's INITIAL_NO_AUTH_ACTION_COUNT); by default it never does."""
        self.log = Path(log)
        self.free_requests = free_requests
        self.port = 0
        self._process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        """Start the child process and wait until it listens (its first line is the port)."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.s3", str(self.log)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ | self._settings(),
        )
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the S3 test server did not start (said {line!r})")
        self.port = int(line)
        return self

    def _settings(self) -> dict[str, str]:
        if self.free_requests is None:
            return {}
        return {"INITIAL_NO_AUTH_ACTION_COUNT": str(self.free_requests)}

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process.stdout.close()
            self._process = None

    def environment(self) -> dict[str, str]:
        """The standard AWS variables that point a client (and its children) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_REGION": REGION,
        }

    def client(self):
        """A boto3 client: an independent way for tests to look into the buckets."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            region_name=REGION,
        )

    def requests(self, since: int = 0) -> list[Request]:
        """The requests answered so far, from log line ``since`` on."""
        lines = self.log.read_text().splitlines()[since:] if self.log.exists() else []
        return [Request(**json.loads(line)) for line in lines]

    def mark(self) -> int:
        """A position in the log, for ``requests(since=...)``."""
        return len(self.requests())


def bytes_sent(requests: Iterable[Request], path: str, method: str = "GET") -> int:
    """Body bytes the server sent for ``path`` (/bucket/key) by ``method``."""
    return sum(r.sent for r in requests if r.path == path and r.method == method)


class _LoggedApp:
    """WSGI middleware: call the app, count the body bytes it answers, log one line a request."""

    def __init__(self, app, log: Path) -> None:
        self._app = app
        self._log = log.open("a", buffering=1)
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        status: list[int] = []

        def record_status(code, headers, *args):
            status.append(int(code.split()[0]))
            return start_response(code, headers, *args)

        body = self._app(environ, record_status)
        try:
            chunks = list(body)  # moto's answers are in memory already
        finally:
            if hasattr(body, "close"):
                body.close()
        # Logged before a byte goes out, so a client that has its answer finds it logged.
        line = {
            "method": environ["REQUEST_METHOD"],
            "path": unquote(environ.get("PATH_INFO", "")),
            "query": environ.get("QUERY_STRING", ""),
            "range": environ.get("HTTP_RANGE"),
            "status": status[0] if status else 0,
            "sent": sum(len(chunk) for chunk in chunks),
            "received": int(environ.get("CONTENT_LENGTH") or 0),
        }
        with self._lock:
            self._log.write(json.dumps(line) + "\n")
        return chunks


def _serve(log: Path) -> None:
    """Serve moto's S3 on a free port of 127.0.0.1 until terminated; print the port first."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the log file says it all
    app = _LoggedApp(DomainDispatcherApplication(create_backend_app), log)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]))
