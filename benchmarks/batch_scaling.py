"""Batch throughput: clips per hour with 1 vs 2 local CPU workers, and per GPU when CUDA is available.

    python benchmarks/batch_scaling.py [--clips 4] [--duration 2] [--fps 15] [--size 256]

Renders the same plan (short clips of the demo song, default checkpoint, H.264) into fresh directories with
``musicvideo.batch.run_batch``: once with one worker, once with two (the baseline is the one-worker run, in the same
process, same plan), then with one worker per GPU when CUDA is present. Wall time includes worker start-up
(spawned processes import torch and load the model), which a real batch pays too; the song's analysis is cached
before timing so every run starts equal.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def _plan(folder: Path, clips: int, duration: float, fps: float, size: int, song_s: float) -> Path:
    lines = ['song = "song.wav"', 'name = "bench"', "[defaults]", f"fps = {fps}", f"size = {size}", 'codec = "h264"']
    step = (song_s - duration) / max(clips - 1, 1)
    for i in range(clips):
        lines += ["[[clips]]", f'name = "clip{i}"', f"start = {i * step:.3f}", f"duration = {duration}",
                  f"seeds = [{i}, {i + 100}]"]
    path = folder / "plan.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(plan: Path, out: Path, **kwargs) -> float:
    from musicvideo.batch import run_batch

    if out.exists():
        shutil.rmtree(out)
    started = time.perf_counter()
    result = run_batch(plan, out, progress=False, **kwargs)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"batch failed: {result.failed}")
    return elapsed


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per clip")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    import torch

    from musicvideo.audio import analyze_song_cached
    from musicvideo.audio.synth import demo_song, write_wav

    song_s = max(10.0, args.clips * args.duration)
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        folder = Path(tmp)
        write_wav(folder / "song.wav", demo_song(song_s, 44100, 0), 44100)
        plan = _plan(folder, args.clips, args.duration, args.fps, args.size, song_s)
        analyze_song_cached(folder / "song.wav")  # analysis cached up front: every run starts equal
        frames = args.clips * round(args.duration * args.fps)
        rows = []
        base = _run(plan, folder / "w1", workers=1, device="cpu")
        rows.append(("cpu, 1 worker (baseline)", base))
        rows.append(("cpu, 2 workers", _run(plan, folder / "w2", workers=2, device="cpu")))
        gpu_note = "no CUDA: skipped"
        if torch.cuda.is_available():
            n = torch.cuda.device_count()
            rows.append((f"cuda, {n} worker(s), one per GPU", _run(plan, folder / "gpu", device="auto")))
            gpu_note = f"{n} GPU(s): {torch.cuda.get_device_name(0)}"

    print(f"{args.clips} clips x {args.duration:g} s at {args.fps:g} fps, {args.size} px, default checkpoint, "
          f"h264 ({frames} frames per run)")
    print(f"| run | wall s | clips/hour | frames/s | x baseline |")
    print(f"|-----|--------|------------|----------|------------|")
    for name, seconds in rows:
        per_gpu = ""
        if name.startswith("cuda"):
            per_gpu = f" ({args.clips / seconds * 3600 / torch.cuda.device_count():.0f} per GPU)"
        print(f"| {name} | {seconds:.1f} | {args.clips / seconds * 3600:.0f}{per_gpu} | {frames / seconds:.2f} | "
              f"{base / seconds:.2f} |")
    print(f"GPU: {gpu_note}")


if __name__ == "__main__":
    main()
