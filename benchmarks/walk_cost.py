"""CPU cost of the choreography alone: reactive curves, the walk's plan and keyframes, and every batch of ws.

    python benchmarks/walk_cost.py SONG                                  # this checkout
    PYTHONPATH=/tmp/old python benchmarks/walk_cost.py SONG --tag old    # another checkout (git worktree)

A render spends ~40 CPU-ms a frame in the embedded 256-px generator on a 2-core CPU; this prints what the curves and
the walk add per frame (CPU time of this process, one torch thread, best of 3), which a busy shared machine barely
disturbs, unlike wall-clock throughput. The song is analysed first (cached) and not counted.
"""

from __future__ import annotations

import argparse
import resource

import torch

from musicvideo.audio import analyze, reactive_curves
from musicvideo.config import RenderConfig
from musicvideo.generator import load_generator
from musicvideo.motion import LatentWalk


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("song")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--tag", default="this checkout")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    G = load_generator(None, device="cpu")
    config = RenderConfig()
    features = analyze(args.song, fps=args.fps)
    best = {}
    for _ in range(args.repeat):
        t0 = cpu_s()
        curves = reactive_curves(features, config.curves)
        t1 = cpu_s()
        walk = LatentWalk(G, curves, config.walk, seed=1, device="cpu")
        t2 = cpu_s()
        for _batch in walk.batches(8):
            pass
        t3 = cpu_s()
        for key, value in (("curves", t1 - t0), ("walk", t2 - t1), ("batches", t3 - t2)):
            best[key] = min(best.get(key, float("inf")), value)
    n = walk.n_frames
    total = sum(best.values())
    print(f"| {args.tag} | {n} | {best['curves'] * 1e3:.0f} | {best['walk'] * 1e3:.0f} | {best['batches'] * 1e3:.0f} "
          f"| {total / n * 1e3:.3f} |")


if __name__ == "__main__":
    main()
