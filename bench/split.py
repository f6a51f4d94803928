"""One recording of a minute or more: one worker in one piece, against two workers in parts.

    python bench/split.py --seconds 64 --configs 1:1 2:2 2:4

Makes a clip from the real sample (176x144, looped to --seconds at 29.97/s), starts `bgrm
worker` processes (one torch thread each) on a scratch Redis DB (14; only it is flushed) and
times each config W:P (W workers, the job in P parts; P = 1 is an ordinary job) from submit
to the joined output. For split jobs it also prints the share of the time spent on warm-ups
(the warm-up frames the parts ran, at the parts' own speed) and on the join.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bgrm  # noqa: E402
from bgrm_bench.process import make_clip  # noqa: E402
from bgrm_bench.queue_throughput import start_workers, stop_workers, wait_ready  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402

RATE = 30000 / 1001


def run_config(workers: int, parts: int, job: bgrm.Job, env: dict, logs: Path) -> dict:
    from celery.result import AsyncResult

    from bgrm_worker import client
    from bgrm_worker.app import app, part_task_id

    started_workers = start_workers(workers, 1, env, logs)
    try:
        wait_ready(workers)
        started = time.perf_counter()
        job_id = client.submit(job, {"count": parts} if parts > 1 else None)
        while not (report := client.status(job_id))["ended"]:
            time.sleep(0.2)
        wall = time.perf_counter() - started
    finally:
        stop_workers(started_workers)
    if report["error"]:
        raise SystemExit(f"job failed: {report['error']}")
    row = {
        "workers": workers,
        "parts": parts,
        "seconds": wall,
        "fps": report["progress"]["done"] / wall,
    }
    if parts > 1:
        summary = AsyncResult(job_id, app=app).info
        plan = json.loads(app.backend.client.get(f"bgrm:job:{job_id}:plan"))
        pieces = [bgrm.parts.Part.from_json(text) for text in plan["parts"]]
        results = [AsyncResult(part_task_id(job_id, p.index), app=app).info for p in pieces]
        warmup = sum(r["warmup_frames"] for r in results)  # as run: none where a part resumed
        work = sum(r["seconds"] for r in results)
        frames = sum(r["frames"] for r in results)
        per_frame = work / (frames + warmup)
        total = work + summary["join_seconds"]
        row["preroll_share"] = warmup * per_frame / total
        row["join_share"] = summary["join_seconds"] / total
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=64)
    parser.add_argument("--configs", nargs="+", default=["1:1", "2:2", "2:4"])
    parser.add_argument("--downsample", default="auto")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    configs = [tuple(int(n) for n in spec.split(":")) for spec in args.configs]
    with tempfile.TemporaryDirectory(prefix="bgrm-bench-") as scratch:
        folders = {name: Path(scratch) / name for name in ("in", "out", "logs")}
        for folder in folders.values():
            folder.mkdir()
        talk = fetch_samples(ROOT / "samples" / "media")["talk"]
        clip = folders["in"] / "recording.mp4"
        make_clip(talk, clip, 176, 144, round(args.seconds * RATE), audio_from=talk)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BGRM_")}
        env.update(
            BGRM_BROKER_URL=args.redis,
            BGRM_QUEUE="bench-split",
            BGRM_INPUT_ROOTS=str(folders["in"]),
            BGRM_OUTPUT_ROOT=str(folders["out"]),
        )
        if "BGRM_HOME" in os.environ:
            env["BGRM_HOME"] = os.environ["BGRM_HOME"]
        os.environ.update({k: v for k, v in env.items() if k.startswith("BGRM_")})
        from bgrm_worker.app import app

        app.backend.client.flushdb()
        rows = []
        for workers, parts in configs:
            job = bgrm.Job(
                str(clip),
                str(folders["out"] / f"{workers}-{parts}.mp4"),
                background="#1e1e1e",
                downsample=args.downsample,
                overwrite=True,
            )
            rows.append(run_config(workers, parts, job, env, folders["logs"]))
            row = rows[-1]
            shares = ""
            if "preroll_share" in row:
                shares = f", pre-roll {row['preroll_share']:.1%}, join {row['join_share']:.1%}"
            print(
                f"{workers} worker(s), {parts} part(s): {row['seconds']:.1f} s, "
                f"{row['fps']:.1f} frames/s ({row['fps'] / rows[0]['fps']:.2f} x the first)"
                f"{shares}",
                flush=True,
            )
        app.backend.client.flushdb()
    print(json.dumps({"seconds": args.seconds, "rows": rows}))


if __name__ == "__main__":
    main()
