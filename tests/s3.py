"""A real S3-compatible server for the tests: moto's, in a child process on 127.0.0.1.

Every request it answers is logged (method, bucket and key, range asked, status, bytes sent
and received) as one JSON line to a file, so a test can count the bytes a reader really
fetched. Run as ``python -m tests.s3 LOG`` it serves on a free port and prints the port.

Faults, for the tests of what a client does when the store misbehaves: ``fail(...)`` makes the
server answer chosen requests with an error status (403 AccessDenied, 500) or hold them for a
while; with ``cuttable=True`` clients talk to it through a TCP relay in the same child process
that ``cut(...)`` breaks for a few seconds, as a network cut does: every open connection is
reset and new ones are reset at once until the cut ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
import time
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

    def __init__(
        self, log: Path, *, free_requests: int | None = None, cuttable: bool = False
    ) -> None:
        """``free_requests``: after that many requests the server checks credentials and
        IAM policies (moto's INITIAL_NO_AUTH_ACTION_COUNT); by default it never does.
        ``cuttable``: clients reach it through a relay that ``cut`` can break."""
        self.log = Path(log)
        self.free_requests = free_requests
        self.cuttable = cuttable
        self.port = 0
        self._process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        """Start the child process and wait until it listens (its first line is the port)."""
        self.faults.write_text("{}")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.s3",
                str(self.log),
                *(["--relay"] if self.cuttable else []),
            ],
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

    @property
    def faults(self) -> Path:
        """The file the server reads its faults from at each request (JSON)."""
        return self.log.with_name(self.log.name + ".faults.json")

    def fail(
        self, path: str, *, status: int = 0, query: str = "", method: str = "", hold: float = 0.0
    ) -> None:
        """Answer the requests of ``path`` (/bucket/key, or a prefix of it ending in "/")
        whose query string contains ``query`` (and whose method is ``method``, if given) with
        ``status`` (403: S3's AccessDenied, 500: InternalError), after holding each for
        ``hold`` seconds; ``status`` 0 only holds, then lets the server answer."""
        rules = self._faults()
        rules.setdefault("rules", []).append(
            {"path": path, "query": query, "method": method, "status": status, "hold": hold}
        )
        self.faults.write_text(json.dumps(rules))

    def cut(self, seconds: float, *, after_bytes: int = 0) -> None:
        """Break the relay for ``seconds`` once clients have sent ``after_bytes`` more bytes
        through it (at once by default); needs ``cuttable``."""
        assert self.cuttable, "a cut needs S3Server(..., cuttable=True)"
        rules = self._faults()
        rules["cut"] = {"after_bytes": after_bytes, "seconds": seconds, "id": time.time()}
        self.faults.write_text(json.dumps(rules))

    def heal(self) -> None:
        """No more faults: every request is answered again (a cut in progress still ends on
        its own time)."""
        self.faults.write_text("{}")

    def _faults(self) -> dict:
        return json.loads(self.faults.read_text()) if self.faults.exists() else {}

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


_UPLOADER = """
import os, sys
from bgrm import buckets, storage
buckets.UPLOAD_PART = 5 << 20  # S3's smallest part
with storage.write(sys.argv[1], overwrite=True) as temp:
    temp.write_bytes(os.urandom(3 * buckets.UPLOAD_PART))
"""


def kill_mid_upload(server: S3Server, url: str, env: dict[str, str]) -> None:
    """Leave what a writer SIGKILLed while it uploads ``url`` leaves: a process (with ``env``:
    TMPDIR, the server's variables) stages a 15 MiB file and uploads it in three parts; the
    second is held by the server (then refused), and the process is killed once the first is
    in. Its multipart upload stays open and its staged file stays in TMPDIR."""
    path = "/" + url.removeprefix("s3://")
    server.fail(path, query="partNumber=2", hold=30, status=500)
    mark = server.mark()
    writer = subprocess.Popen([sys.executable, "-c", _UPLOADER, url], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while not any(
        r.path == path and "partNumber=1&" in r.query and r.status == 200
        for r in server.requests(mark)
    ):
        assert writer.poll() is None and time.monotonic() < deadline, "the upload did not start"
        time.sleep(0.05)
    writer.kill()
    writer.wait()
    server.heal()


def bytes_sent(requests: Iterable[Request], path: str, method: str = "GET") -> int:
    """Body bytes the server sent for ``path`` (/bucket/key) by ``method``."""
    return sum(r.sent for r in requests if r.path == path and r.method == method)


_ERRORS = {
    403: ("403 Forbidden", "AccessDenied"),
    500: ("500 Internal Server Error", "InternalError"),
}
"""The error answers a fault rule can give: status line and S3 error code."""


def _fault(faults: Path, method: str, path: str, query: str) -> dict | None:
    """The first fault rule of the file that matches a request, if any."""
    try:
        rules = json.loads(faults.read_text()).get("rules", [])
    except (OSError, ValueError):
        return None
    for rule in rules:
        prefix = rule["path"].endswith("/")
        matches = path.startswith(rule["path"]) if prefix else path == rule["path"]
        if matches and rule["query"] in query and rule["method"] in ("", method):
            return rule
    return None


class _LoggedApp:
    """WSGI middleware: answer faults, call the app, count the body bytes it answers, log one
    line a request."""

    def __init__(self, app, log: Path) -> None:
        self._app = app
        self._log = log.open("a", buffering=1)
        self._faults = log.with_name(log.name + ".faults.json")
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        status: list[int] = []

        def record_status(code, headers, *args):
            status.append(int(code.split()[0]))
            return start_response(code, headers, *args)

        path = unquote(environ.get("PATH_INFO", ""))
        query = environ.get("QUERY_STRING", "")
        rule = _fault(self._faults, environ["REQUEST_METHOD"], path, query)
        if rule and rule["hold"]:
            time.sleep(rule["hold"])
        if rule and rule["status"]:
            line, code = _ERRORS[rule["status"]]
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            body = [f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()]
            record_status(line, [("Content-Type", "application/xml")])
        else:
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


class _Relay:
    """A TCP relay from a port of its own to the server's, which a cut rule in the faults file
    breaks: every connection reset, and new ones reset at once, for the cut's seconds."""

    def __init__(self, target: int, faults: Path) -> None:
        self._target = target
        self._faults = faults
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut: dict = {"id": None, "sent": 0, "until": None}

    def serve(self) -> None:
        while True:
            client, _ = self._listener.accept()
            if self._cutting():
                _reset(client)
                continue
            server = socket.create_connection(("127.0.0.1", self._target))
            with self._lock:
                self._open.update((client, server))
            for source, sink, counted in ((client, server, True), (server, client, False)):
                threading.Thread(
                    target=self._pump, args=(source, sink, counted), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                if counted and self._count(len(data)):
                    return
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with self._lock:
                self._open.discard(end)
            _reset(end)

    def _rule(self) -> dict | None:
        try:
            return json.loads(self._faults.read_text()).get("cut")
        except (OSError, ValueError):
            return None

    def _count(self, sent: int) -> bool:
        """Count ``sent`` client bytes toward the cut rule, start the cut when they reach its
        threshold, and say whether the relay is cut now."""
        rule = self._rule()
        with self._lock:
            if rule is not None and rule["id"] != self._cut["id"]:
                self._cut = {"id": rule["id"], "sent": 0, "until": None}
            if rule is not None and self._cut["until"] is None:
                self._cut["sent"] += sent
                if self._cut["sent"] >= rule["after_bytes"]:
                    self._cut["until"] = time.monotonic() + rule["seconds"]
                    for end in self._open:
                        _reset(end)
                    self._open.clear()
            until = self._cut["until"]
            return until is not None and time.monotonic() < until

    def _cutting(self) -> bool:
        return self._count(0)


def _reset(end: socket.socket) -> None:
    """Close a connection with a reset, as a broken network path shows itself to a client
    (shut down first: a close alone waits for the thread blocked reading it)."""
    with contextlib.suppress(OSError):
        end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        end.shutdown(socket.SHUT_RDWR)
    end.close()


def _serve(log: Path, relay: bool) -> None:
    """Serve moto's S3 on a free port of 127.0.0.1 until terminated; print the port first
    (the relay's, with ``relay``)."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the log file says it all
    app = _LoggedApp(DomainDispatcherApplication(create_backend_app), log)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    if relay:
        front = _Relay(server.port, log.with_name(log.name + ".faults.json"))
        threading.Thread(target=front.serve, daemon=True).start()
        print(front.port, flush=True)
    else:
        print(server.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), "--relay" in sys.argv[2:])
