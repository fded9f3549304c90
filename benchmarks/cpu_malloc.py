"""CPU generator throughput with glibc's default malloc vs ``musicvideo.malloc.keep_freed_memory``.

    python benchmarks/cpu_malloc.py                          # default network at 256 px, a 32-channel 512 px one
    python benchmarks/cpu_malloc.py --frames 96 --repeat 1   # quicker and noisier (3 minutes on 2 cores)
    python benchmarks/cpu_malloc.py --skip-malloc            # only the large-network rows below

Each row is a fresh process (malloc settings are process-wide) that renders the latent walk's frames through the
generator the way ``render`` batches them on the CPU (one single-threaded batch per core, or one batch in the
calling thread when its feature maps are larger than ``render.CPU_BLOCK_BYTES``, see below), after a warm-up, and
reports frames/s, minor page faults and kernel CPU time per frame. Each run (like each render) maps its heaps
once and gives them back at its end, so short runs (a few batches) show mostly that first touch. Baseline: glibc's default malloc, which maps and
unmaps every large block, so each batch page-faults its feature maps in again.

Large networks (config-f channels at 512 and 1024 px, batch 1): a feature map of one image is 64-128 MB, more
than a generator thread's malloc heap (64 MB) can hold, so even with ``keep_freed_memory`` a generator thread maps
and faults it afresh every batch. ``render`` therefore runs such batches in its own (main) thread on all cores
(``render.cpu_generator_workers``), whose heap can keep them. Those rows compare two single-threaded batches in
generator threads (the baseline, what ``render`` did before) with that, both keeping freed memory; frames/s, faults,
kernel time and peak RSS per row.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import resource, sys, time, torch
    sys.path.insert(0, sys.argv[1])
    import render_throughput as rt
    from musicvideo.generator.stylegan2 import Generator, GeneratorConfig
    song, res, base, batch, keep, n, workers = rt.Path(sys.argv[2]), *map(int, sys.argv[3:9])
    if res == 0:
        G = rt.load_generator(None, device="cpu")
    else:
        torch.manual_seed(0)
        G = Generator(GeneratorConfig(img_resolution=res, z_dim=512, w_dim=512, channel_base=base, channel_max=512))
    G.eval()
    config = rt.RenderConfig(fps=rt.FPS, duration_s=n / rt.FPS, device="cpu")
    device = torch.device("cpu")
    workers = workers or None  # 0: as render chooses
    rt.generator_only(G, song, config, device, batch, keep_memory=bool(keep), workers=workers)  # warm-up
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    seconds = rt.generator_only(G, song, config, device, batch, keep_memory=bool(keep), workers=workers)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(seconds, r1.ru_minflt - r0.ru_minflt, r1.ru_stime - r0.ru_stime, r1.ru_maxrss)
""")


def run(song: Path, res: int, base: int, batch: int, keep: bool, frames: int, env: dict,
        workers: int = 0) -> tuple[float, int, float, float]:
    """(frames/s, page faults per frame, kernel ms per frame, peak RSS MB) of one configuration in a fresh process.

    ``workers``: batches generated at once, 0 = as ``render`` chooses.
    """
    done = subprocess.run([sys.executable, "-c", CHILD, str(Path(__file__).parent), str(song), str(res), str(base),
                           str(batch), str(int(keep)), str(frames), str(workers)], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"child failed with {done.returncode}: {done.stderr[-2000:]}")
    seconds, faults, sys_s, rss_kb = done.stdout.split()[-4:]
    return frames / float(seconds), int(faults) // frames, 1000 * float(sys_s) / frames, int(rss_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300,
                        help="frames per 256 px row, default 300 (512 px rows: a quarter)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each row, best taken (default 3)")
    parser.add_argument("--large-frames", type=int, default=6, help="frames per large-network row (default 6)")
    parser.add_argument("--skip-malloc", action="store_true", help="only the large-network rows")
    parser.add_argument("--results", default=None, help="append the table to this Markdown file")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(Path(__file__).parent))
    from musicvideo.audio.synth import demo_song, write_wav
    from musicvideo.malloc import supported
    from render_throughput import markdown_table

    if not supported():
        raise SystemExit("musicvideo.malloc has no effect here (needs Linux with glibc and no LD_PRELOAD/MALLOC_ "
                         "settings): nothing to compare")
    # (label, resolution (0 = embedded default checkpoint), channel_base, batch, frames)
    cases = [("default network, 256 px", 0, 0, 8, args.frames),
             ("32 channels at 512 px (channel_base 16384)", 512, 16384, 2, max(8, args.frames // 4)),
             ("32 channels at 512 px (channel_base 16384)", 512, 16384, 1, max(8, args.frames // 4))]
    if args.skip_malloc:
        cases = []
    # (label, resolution, channel_base) at batch 1, keeping freed memory: generator threads vs the calling thread
    large = [("config-f channels, 512 px (64 MB maps)", 512, 32768),
             ("config-f channels, 1024 px (128 MB maps)", 1024, 32768)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, MUSICVIDEO_CACHE_DIR=str(tmp / "cache"))
        song = write_wav(tmp / "song.wav", demo_song(args.frames / 30 + 1, sample_rate=44100), 44100)
        for label, res, base, batch, frames in cases:
            results = {}
            for keep in (False, True):
                best = max((run(song, res, base, batch, keep, frames, env) for _ in range(args.repeat)),
                           key=lambda r: r[0])
                results[keep] = best
                name = "keep_freed_memory" if keep else "glibc default"
                rows.append((f"{label}, batch {batch}, {name}",
                             f"{best[0]:.2f} frames/s, {best[1]} faults and {best[2]:.1f} kernel ms per frame"))
            rows.append((f"{label}, batch {batch}: kept / default", f"{results[True][0] / results[False][0]:.3f}x"))
        for label, res, base in large:
            results = {}
            for workers, name in ((2, "2 generator threads (baseline)"), (0, "as render runs it (calling thread)")):
                best = max((run(song, res, base, 1, True, args.large_frames, env, workers)
                            for _ in range(args.repeat)), key=lambda r: r[0])
                results[workers] = best
                rows.append((f"{label}, batch 1, {name}",
                             f"{best[0]:.3f} frames/s, {best[1]} faults and {best[2]:.0f} kernel ms per frame, "
                             f"peak RSS {best[3]:.0f} MB"))
            rows.append((f"{label}: render's way / baseline",
                         f"{results[0][0] / results[2][0]:.3f}x the frames/s, {results[0][3] / results[2][3]:.2f}x "
                         "the peak RSS"))
    table = markdown_table(rows)
    print(table)
    if args.results:
        command = "python benchmarks/cpu_malloc.py " + " ".join(sys.argv[1:])
        text = (f"\n## CPU generator and malloc (musicvideo.malloc)\n\n`{command.strip()}` on {platform.machine()} "
                f"with {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, {datetime.date.today()}. "
                "Each row a fresh process, two single-threaded batches side by side as `render` runs them; best "
                f"of {args.repeat}.\n\n" + table + "\n")
        with open(args.results, "a", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
