"""Queue throughput in jobs/minute with one worker, then two, on this machine.

    python bench/queue_throughput.py --jobs 8 --downsample 0.5 --configs 1x1 2x1 1x2

Starts `bgrm worker` processes on a scratch Redis DB (14 by default; only that DB is flushed),
submits --jobs copies of the real sample clip (176x144, 120 frames) and times from the first
submit to the last success. Each config WxT is W workers with T torch threads each; the default
is one worker, then two, with half the cores each, then one worker with all of them. Prints
each rate and its ratio to the first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from samples.fetch import fetch_samples  # noqa: E402


def start_workers(count: int, threads: int, env: dict[str, str], logs: Path) -> list:
    workers = []
    for index in range(count):
        name = f"bench{index}@{os.uname().nodename}"
        log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        command = [sys.executable, "-m", "bgrm", "worker", "--name", name]
        command += ["--threads", str(threads), "--loglevel", "warning"]
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        workers.append((process, log))
    return workers


def wait_ready(count: int, timeout: float = 180) -> None:
    """Until `count` workers answer a ping."""
    from bgrm_worker.app import app

    deadline = time.monotonic() + timeout
    while len(app.control.ping(timeout=1.0) or []) < count:
        if time.monotonic() > deadline:
            raise SystemExit("workers did not start; see their logs")


def stop_workers(workers: list) -> None:
    for process, log in workers:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def run_round(count: int, threads: int, args, env: dict[str, str], folders: dict) -> float:
    """Jobs per minute with ``count`` workers of ``threads`` threads each."""
    import bgrm
    from bgrm_worker import client

    workers = start_workers(count, threads, env, folders["logs"])
    try:
        wait_ready(count)
        source = folders["in"] / "talk.mp4"
        started = time.perf_counter()
        ids = [
            client.submit(
                bgrm.Job(
                    input=str(source),
                    output=str(folders["out"] / f"{count}-{i}.mp4"),
                    background="#1e1e1e",
                    downsample=args.downsample,
                    overwrite=True,
                )
            )
            for i in range(args.jobs)
        ]
        pending = set(ids)
        while pending:
            for job_id in list(pending):
                report = client.status(job_id)
                if report["ended"]:
                    if report["error"]:
                        raise SystemExit(f"job failed: {report['error']}")
                    pending.discard(job_id)
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        stop_workers(workers)
    rate = args.jobs / elapsed * 60
    print(
        f"{count} worker(s) x {threads} thread(s): {args.jobs} jobs in {elapsed:.1f} s "
        f"= {rate:.1f} jobs/min",
        flush=True,
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--downsample", default="0.5")
    parser.add_argument("--configs", nargs="+", help="WxT: workers x threads each")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    cores = os.cpu_count() or 2
    half = max(1, cores // 2)
    specs = args.configs or list(dict.fromkeys([f"1x{half}", f"2x{half}", f"1x{cores}"]))
    configs = [tuple(int(n) for n in spec.split("x")) for spec in specs]

    with tempfile.TemporaryDirectory(prefix="bgrm-bench-") as scratch:
        folders = {name: Path(scratch) / name for name in ("in", "out", "logs")}
        for folder in folders.values():
            folder.mkdir()
        shutil.copy(fetch_samples(ROOT / "tests" / ".cache")["talk"], folders["in"] / "talk.mp4")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BGRM_")}
        env.update(
            BGRM_BROKER_URL=args.redis,
            BGRM_QUEUE="bench",
            BGRM_INPUT_ROOTS=str(folders["in"]),
            BGRM_OUTPUT_ROOT=str(folders["out"]),
        )
        if "BGRM_HOME" in os.environ:
            env["BGRM_HOME"] = os.environ["BGRM_HOME"]
        os.environ.update({k: v for k, v in env.items() if k.startswith("BGRM_")})
        from bgrm_worker.app import app

        app.backend.client.flushdb()
        rates = [run_round(w, t, args, env, folders) for w, t in configs]
        app.backend.client.flushdb()
    for (workers, threads), rate in zip(configs, rates, strict=True):
        print(f"{workers}x{threads}: {rate:.1f} jobs/min, {rate / rates[0]:.2f} x the first")


if __name__ == "__main__":
    main()
