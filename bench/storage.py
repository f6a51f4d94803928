"""What a split part costs on a bucket: bytes fetched per part against the file's size, and
read speed from the local disk against the S3 server.

    python bench/storage.py --seconds 60 --parts 4

Makes a clip from the real sample (looped to --seconds at 29.97/s, H.264 with a keyframe every
250 frames, index at the end as PyAV writes it), uploads it to the test suite's S3 server
(moto, started on 127.0.0.1) and reads each part as a split job's part does: seek to the
keyframe before its pre-roll (5 s before its start), decode up to its end. Bytes are those the
server logged as sent. Then the whole file is read raw and decoded, from disk and from the
server. Needs the test extra (moto[server], obstore).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402

from bgrm import Place, buckets  # noqa: E402
from bgrm_bench.process import make_clip  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402
from tests.s3 import S3Server, bytes_sent  # noqa: E402

PRE_ROLL_S = 5.0


def decode_span(source, start_s: float, end_s: float) -> tuple[int, float]:
    """Frames shown in [start_s, end_s), decoded from the keyframe before ``start_s``; and
    that keyframe's time."""
    with av.open(source) as container:
        stream = container.streams.video[0]
        if start_s > 0:
            container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
        frames, first = 0, None
        for frame in container.decode(stream):
            first = frame.time if first is None else first
            if frame.time >= end_s:
                break
            frames += frame.time >= start_s
        return frames, first


def read_all(file, chunk: int = 64 << 10) -> int:
    total = 0
    while data := file.read(chunk):
        total += len(data)
    return total


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--size", default="640x360", help="WxH of the clip")
    parser.add_argument("--block", type=int, default=buckets.READ_BLOCK, help="bytes a GET")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="bgrm-bench-"))
    clip = work / "long.mp4"
    make_clip(
        fetch_samples(ROOT / "tests" / ".cache")["talk"],
        clip,
        width,
        height,
        round(args.seconds * 30000 / 1001),
    )
    size = clip.stat().st_size
    server = S3Server(work / "requests.jsonl").start()
    try:
        os.environ.update(server.environment())
        server.client().create_bucket(Bucket="bench")
        server.client().upload_file(str(clip), "bench", "long.mp4")
        url, path = "s3://bench/long.mp4", "/bench/long.mp4"
        print(
            f"clip: {args.seconds:.0f} s, {width}x{height}, {size / 1e6:.2f} MB; "
            f"block {args.block >> 10} KiB"
        )
        length = args.seconds / args.parts
        for index in range(args.parts):
            start, end = index * length, (index + 1) * length
            mark = server.mark()
            with Place.of(url).open(block=args.block) as file:
                frames, keyframe = decode_span(file, max(0.0, start - PRE_ROLL_S), end)
            requests = server.requests(mark)
            sent = bytes_sent(requests, path)
            gets = sum(r.method == "GET" for r in requests)
            print(
                f"part {index + 1}/{args.parts} [{start:5.1f}, {end:5.1f}) s + pre-roll: "
                f"{frames} frames, {sent / 1e6:.2f} MB fetched in {gets} GETs "
                f"= {sent / size:.0%} of the file; decoded from the keyframe at "
                f"{keyframe:.1f} s: {(end - keyframe) / args.seconds:.0%} of the time"
            )
        for name, where in (("disk", clip), ("server", url)):
            with Place.of(where).open(block=args.block) as file:
                seconds, total = timed(lambda f=file: read_all(f))
            with Place.of(where).open(block=args.block) as file:
                decode_s, (frames, _) = timed(lambda f=file: decode_span(f, 0, args.seconds + 1))
            print(
                f"{name}: raw read {total / seconds / 1e6:.0f} MB/s, "
                f"decode {frames / decode_s:.0f} frames/s ({frames} frames)"
            )
    finally:
        server.stop()
        Place.of(work).remove()


if __name__ == "__main__":
    main()
