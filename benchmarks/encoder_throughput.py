"""Encoder throughput: frames/s into a finished H.264 MP4, ours against the usual single ffmpeg pipe.

Rows, with the same frames, size, codec settings (libx264, yuv420p, same CRF and preset):
  baseline   imageio-ffmpeg's ``write_frames`` generator (what peer tools use), one ffmpeg process
  writer     musicvideo ``VideoWriter`` (one ffmpeg, background feeder thread)
  segmented  musicvideo ``SegmentedVideoWriter`` (several ffmpeg processes on consecutive segments, joined
             without re-encoding)
  ... yuv420p the same writers fed I420 planes, as a GPU render feeds them (``render.to_yuv420`` on the device;
             the planes are made before timing, as the GPU's share of the work is not this machine's): ffmpeg
             skips its RGB -> YUV conversion and reads half the bytes

Besides wall time, the CPU seconds of the ffmpeg processes per frame: on a GPU machine without NVENC, the encoder's
CPU is what limits a render.

The frames are smooth moving gradients with a mild texture (x264 spends about as long on them as on generator output);
they are made before timing, so the table measures encoding alone.

    python benchmarks/encoder_throughput.py --size 256 --frames 300
    python benchmarks/encoder_throughput.py --size 1024 --frames 600 --preset veryfast
    python benchmarks/encoder_throughput.py --size 1024 --frames 120 --preset superfast --skip-baseline
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from musicvideo.video import SegmentedVideoWriter, VideoConfig, VideoWriter, probe


def make_frames(n_unique: int, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    frames = np.empty((n_unique, size, size, 3), np.uint8)
    for i in range(n_unique):
        texture = rng.normal(0, 6, (size, size))  # shared by the channels, like the texture of a real image
        for c in range(3):
            base = 128 + 90 * np.sin(2 * np.pi * (x * (c + 1) + y * 1.5 + 0.03 * i + c))
            frames[i, :, :, c] = np.clip(base + texture, 0, 255)
    return frames


def batches(pool: np.ndarray, n_frames: int, batch: int):
    for start in range(0, n_frames, batch):
        idx = np.arange(start, min(start + batch, n_frames)) % len(pool)
        yield pool[idx]


def run_baseline(path: Path, pool, n, size, fps, config, batch) -> None:
    import imageio_ffmpeg

    gen = imageio_ffmpeg.write_frames(str(path), (size, size), fps=fps, codec="libx264", quality=None,
                                      macro_block_size=1, ffmpeg_log_level="error",
                                      output_params=["-crf", str(config.crf), "-preset", config.preset,
                                                     "-movflags", "+faststart"])
    gen.send(None)
    for b in batches(pool, n, batch):
        for frame in b:
            gen.send(frame)
    gen.close()


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children (the ffmpeg processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def i420(frames: np.ndarray) -> np.ndarray:
    """The I420 planes a GPU render hands the writer for these RGB frames."""
    import torch

    from musicvideo.render import to_yuv420

    return to_yuv420((torch.from_numpy(frames).permute(0, 3, 1, 2).float() - 127.5) / 127.5).numpy()


def run_writer(cls, path: Path, pool, n, size, fps, config, batch, **kwargs) -> None:
    with cls(path, width=size, height=size, fps=fps, config=config, **kwargs) as writer:
        for b in batches(pool, n, batch):
            writer.write(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--workers", type=int, default=None, help="segmented encoders (default: auto)")
    parser.add_argument("--segment-frames", type=int, default=64)
    parser.add_argument("--skip-baseline", action="store_true", help="no imageio-ffmpeg row (x column: the writer)")
    args = parser.parse_args()

    config = VideoConfig(crf=args.crf, preset=args.preset, nvenc="off")
    import musicvideo.config  # noqa: F401  (one-off import cost, torch included, kept out of the timings)
    pool = make_frames(min(args.frames, 60), args.size)
    planes = i420(pool)
    rows = []
    n, size, fps, batch = args.frames, args.size, args.fps, args.batch
    segmented = dict(workers=args.workers, segment_frames=args.segment_frames)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [] if args.skip_baseline else [
            ("baseline (imageio-ffmpeg pipe)", lambda p: run_baseline(p, pool, n, size, fps, config, batch))]
        runs += [
            ("writer (VideoWriter)", lambda p: run_writer(VideoWriter, p, pool, n, size, fps, config, batch)),
            ("writer, yuv420p input", lambda p: run_writer(VideoWriter, p, planes, n, size, fps, config, batch,
                                                           input_format="yuv420p")),
            ("segmented (SegmentedVideoWriter)", lambda p: run_writer(
                SegmentedVideoWriter, p, pool, n, size, fps, config, batch, **segmented)),
            ("segmented, yuv420p input", lambda p: run_writer(
                SegmentedVideoWriter, p, planes, n, size, fps, config, batch, input_format="yuv420p", **segmented)),
        ]
        for name, fn in runs:
            path = Path(tmp) / f"{len(rows)}.mp4"
            cpu0, start = children_cpu(), time.perf_counter()
            fn(path)
            seconds, cpu = time.perf_counter() - start, children_cpu() - cpu0
            info = probe(path, decode=False)
            assert info.n_frames == n, (name, info.n_frames)
            rows.append((name, seconds, n / seconds, 1000 * cpu / n, path.stat().st_size / 1e6))
    base = rows[0][1]
    print(f"# encoder throughput: {n} frames {size}x{size}, libx264 crf {args.crf} preset {args.preset}, "
          f"{os.cpu_count()} CPU cores; x = speed against the first row")
    print(f"| {'path':34s} | {'seconds':>8s} | {'frames/s':>9s} | {'x first':>8s} | {'ffmpeg CPU ms/frame':>19s} "
          f"| {'MB':>7s} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 11}|{'-' * 10}|{'-' * 21}|{'-' * 9}|")
    for name, seconds, rate, cpu_ms, mb in rows:
        print(f"| {name:34s} | {seconds:8.2f} | {rate:9.1f} | {base / seconds:8.2f} | {cpu_ms:19.2f} | {mb:7.2f} |")


if __name__ == "__main__":
    main()
