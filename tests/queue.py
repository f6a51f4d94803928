"""The queue as its users see it, for the tests: `bgrm worker` child processes with their logs,
the queue's commands run as a user runs them, and a message of every task kind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import BGRM, bgrm, cpu_seconds, wait_for

SLOW = ["--downsample", "1.0", "--batch", "1"]  # long enough to watch (~14 s on one thread)


class Worker:
    """A `bgrm worker` child process with its log in a file."""

    def __init__(self, name: str, env: dict[str, str], log: Path, cwd: Path | None = None):
        self.name = f"{name}@test"
        self.log_path = log
        with open(log, "wb") as sink:
            self.process = subprocess.Popen(
                [*BGRM, "worker", "--name", self.name, "--threads", "1"],
                env=env,
                cwd=cwd,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 120) -> None:
        """Until ``text`` is in the log (fails if the worker dies first)."""
        wait_for(
            lambda: text in self.log(),
            lambda: f"{text!r} in the log of {self.name}:\n{self.log()}",
            timeout=timeout,
            alive=lambda: self.process.poll() is None,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def submit(env: dict[str, str], *args: str) -> str:
    done = bgrm("submit", *args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def status(env: dict[str, str], job_id: str) -> dict:
    done = bgrm("status", job_id, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_until(env: dict[str, str], job_id: str, ready, timeout: float = 240) -> dict:
    """Poll `bgrm status --json` until ready(report) is true; returns that report."""
    reports: list[dict] = []

    def ready_report() -> dict | None:
        reports.append(status(env, job_id))
        return reports[-1] if ready(reports[-1]) else None

    return wait_for(ready_report, lambda: f"job {job_id}: {reports[-1]}", timeout=timeout, poll=0.3)


def kill_the_worker_running(
    workers: list[Worker], line: str, alive=lambda: True, timeout: float = 120
) -> tuple[Worker, Worker]:
    """Wait until one of two workers logs ``line`` (while ``alive()``), let it work two CPU
    seconds more (well into its frames, however busy the machine), then SIGKILL it; returns
    (the killed worker, the other)."""
    runner = wait_for(
        lambda: next((w for w in workers if line in w.log()), None),
        f"a worker to log {line!r}",
        timeout=timeout,
        alive=alive,
    )
    other = next(w for w in workers if w is not runner)
    started = cpu_seconds(runner.process.pid)
    wait_for(
        lambda: cpu_seconds(runner.process.pid) > started + 2,
        lambda: f"{runner.name} to work on after {line!r}:\n{runner.log()}",
        timeout=timeout,
        alive=lambda: runner.process.poll() is None,
    )
    runner.process.kill()
    runner.process.wait()
    return runner, other


SEND_EACH_KIND = """
import json, sys
from bgrm_worker.app import app
job, part = sys.argv[1], sys.argv[2]
sent = {
    "bgrm.process": [job],
    "bgrm.split": [job, json.dumps({"count": 2})],
    "bgrm.part": [job, part, "probe-job-1"],
    "bgrm.join": [[], job],
    "bgrm.cleanup": [job, "probe-job-1"],
}
results = {name: app.send_task(name, args=args) for name, args in sent.items()}
for name, result in results.items():
    result.get(timeout=120, propagate=False)
    print(json.dumps([name, result.state, str(result.result)]))
"""


SEND_MESSAGES = """
import json, sys, time
from celery.exceptions import TimeoutError
from bgrm_worker.app import app
messages = json.load(sys.stdin)
results = [app.send_task(name, args=args) for name, args in messages]
deadline = time.monotonic() + float(sys.argv[1])
for (name, _), result in zip(messages, results):
    try:
        result.get(timeout=max(0.1, deadline - time.monotonic()), propagate=False)
    except TimeoutError:
        print(json.dumps([name, "NO ANSWER", "", ""]))
        continue
    error = result.result
    print(json.dumps([name, result.state, type(error).__name__, str(error)]))
"""


def send(env: dict[str, str], messages: list, timeout: float = 120) -> list[list[str]]:
    """Send ``messages`` ([task name, args] each, as any client with access to Redis could)
    and wait up to ``timeout`` seconds for all: [name, state, error type, message] for each,
    in order (state "NO ANSWER" for those that had none by then)."""
    done = subprocess.run(
        [sys.executable, "-c", SEND_MESSAGES, str(timeout)],
        input=json.dumps(messages),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout + 60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]
