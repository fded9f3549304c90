"""Training speed of ``musicvideo train``: thousands of images per hour (kimg/h) by resolution, and start-up.

    python benchmarks/train_speed.py                        # CPU: 32, 64, 128, 256 px, a few steps each
    python benchmarks/train_speed.py --threads 1            # one torch thread (faster on a loaded, shared CPU)
    python benchmarks/train_speed.py --resolutions 32,64 --steps 5
    python benchmarks/train_speed.py --cuda                 # the GPU check: 256 and 512 px, fp16 blocks, < 10 min
    python benchmarks/train_speed.py --cuda --dry-run       # build every network of that plan, time none

Each row is a fresh run as ``musicvideo train`` makes it for data of that size with no ``--from``: NVlabs' ``auto``
small-data networks (z = w = 512, 2 mapping layers, channel_base 16384, channel_max 512; D to match), ADA on, lazy
R1 every 16 steps; the data is a zip of synthesized shapes at that size. The batch is NVlabs' auto rule on CUDA
(``min(4096 // res, 32)``) and 8 on the CPU, where kimg/h hardly depends on it and 32 images at 512 channels need
6 GB; ``--batch`` sets it. ``--cbase``/``--cmax``/``--latent`` time the smaller networks a CPU can train (the same
flags as ``musicvideo train``). Timing: ``--warmup`` steps (the first one includes the first R1 pass), then
``--steps`` steps, each with the data loading, G, D, EMA and, on its schedule, R1 (one extra D pass with a double
backward every 16 steps, so a short timed window without it reads a little fast); CUDA is synchronised at both ends.

The start-up row times the whole command a user types, ``musicvideo train DATA -o RUN --kimg 0`` at 32 px in a
new process: Python and torch imports, reading the data, building the networks and writing the kimg-0 snapshot
(network, sample grid, training state, quality signal: 64 fakes and 32 grid images from G_ema and D's features of
64 reals and 64 fakes, the larger part of it for 512-channel networks on a CPU).

``--cuda`` is the prepared GPU step: 256 and 512 px, batch 32 and 16, fp16 in the networks' highest four
resolutions (NVlabs' mixed precision), 5 warm-up and 20 timed steps per row: about 2-4 minutes on one recent GPU.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicvideo.generator import resolve_device  # noqa: E402
from musicvideo.generator.stylegan2 import count_parameters  # noqa: E402
from musicvideo.train.dataset import ImageZipDataset  # noqa: E402
from musicvideo.train.distributed import RankInfo  # noqa: E402
from musicvideo.train.loop import TrainConfig, Trainer, auto_config, batch_iterator  # noqa: E402
from musicvideo.train.networks import build_networks  # noqa: E402

CUDA_PLAN = {256: 32, 512: 16}  # resolution -> batch for --cuda


def shapes_zip(path: Path, *, size: int, n: int = 64, seed: int = 0) -> Path:
    """A dataset zip in NVlabs' layout: coloured rectangles and discs on a random ground."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(n):
            img = np.empty([size, size, 3], np.uint8)
            img[:] = rng.integers(0, 256, 3)
            for _ in range(3):
                cx, cy = rng.uniform(0, size, 2)
                r = rng.uniform(size * 0.1, size * 0.3)
                mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r if rng.random() < 0.5 else \
                    (abs(xx - cx) < r) & (abs(yy - cy) < r)
                img[mask] = rng.integers(0, 256, 3)
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            zf.writestr(f"{i // 1000:05d}/img{i:08d}.png", buf.getvalue())
        zf.writestr("dataset.json", json.dumps({"labels": None}))
    return path


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_resolution(resolution: int, *, batch: int | None, steps: int, warmup: int, device: torch.device,
                    folder: Path, network: dict | None = None, dry_run: bool = False) -> dict:
    """One row: seconds per step and kimg per hour for a fresh auto-config run at ``resolution``."""
    data = shapes_zip(folder / f"shapes{resolution}.zip", size=resolution)
    dataset = ImageZipDataset(data)
    config = auto_config(TrainConfig(batch=batch, workers=0 if device.type == "cpu" else 3, device=str(device),
                                     **(network or {})), resolution, 1)
    torch.manual_seed(0)
    nets = build_networks(config, dataset, None)
    trainer = Trainer(nets, config, dataset, device, RankInfo())
    row = {"resolution": resolution, "batch": config.batch, "G_params_M": count_parameters(nets.G) / 1e6,
           "D_params_M": count_parameters(nets.D) / 1e6}
    if dry_run:
        return row
    batches = batch_iterator(trainer)
    for _ in range(warmup):
        trainer.step(*next(batches))
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(*next(batches))
    _sync(device)
    per_step = (time.perf_counter() - start) / steps
    row.update(s_per_step=per_step, kimg_per_hour=config.batch * 3600 / per_step / 1000,
               s_per_kimg=per_step * 1000 / config.batch)
    if device.type == "cuda":
        row["peak_mem_GiB"] = torch.cuda.max_memory_allocated(device) / 2**30
        torch.cuda.reset_peak_memory_stats(device)
    return row


def time_startup(folder: Path, threads: int | None, network: dict) -> float:
    """Seconds for ``musicvideo train DATA -o RUN --kimg 0`` (32 px) in a new process, with the benchmark's
    network size (``network``: cbase, cmax, latent)."""
    data = shapes_zip(folder / "startup32.zip", size=32)
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "musicvideo", "train", str(data), "-o", str(folder / "startup_run"), "--kimg", "0",
           "--device", "cpu", "--quiet"] + [x for k, v in network.items() for x in (f"--{k}", str(v))]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=Path(__file__).resolve().parents[1], capture_output=True)
    return time.perf_counter() - start


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", action="store_true", help="the prepared GPU check (256 and 512 px)")
    parser.add_argument("--device", default=None, help="cpu (default), cuda, cuda:N; --cuda implies cuda")
    parser.add_argument("--resolutions", default=None, help="comma list (default 32,64,128,256; --cuda 256,512)")
    parser.add_argument("--batch", type=int, default=None,
                        help="images per step (default: 8 on the CPU, NVlabs' auto rule on CUDA)")
    parser.add_argument("--cbase", type=int, default=16384, help="channel base of the networks (default 16384)")
    parser.add_argument("--cmax", type=int, default=512, help="most channels per layer (default 512)")
    parser.add_argument("--latent", type=int, default=512, help="z and w size (default 512)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per row (default 3; --cuda 20)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 1; --cuda 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-startup", action="store_true", help="skip the command start-up row")
    parser.add_argument("--dry-run", action="store_true", help="build the networks, time nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device("cuda" if args.cuda and args.device is None else (args.device or "cpu"))
    if args.resolutions:
        resolutions = [int(r) for r in args.resolutions.split(",")]
    else:
        resolutions = list(CUDA_PLAN) if args.cuda else [32, 64, 128, 256]
    steps = args.steps or (20 if args.cuda else 3)
    warmup = args.warmup if args.warmup is not None else (5 if args.cuda else 1)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# musicvideo train speed on {name} (torch {torch.__version__}); {warmup} warm-up + {steps} timed steps;"
          f" networks: cbase {args.cbase}, cmax {args.cmax}, z = w = {args.latent}, 2 mapping layers")
    print(f"{'px':>5} {'batch':>5} {'G M':>6} {'D M':>6} {'s/step':>8} {'s/kimg':>8} {'kimg/h':>8}"
          + (f" {'GiB':>6}" if device.type == "cuda" else ""))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for res in resolutions:
            batch = args.batch or (CUDA_PLAN.get(res) if args.cuda else 8 if device.type == "cpu" else None)
            network = dict(cbase=args.cbase, cmax=args.cmax, z_dim=args.latent, w_dim=args.latent)
            try:
                row = time_resolution(res, batch=batch, steps=steps, warmup=warmup, device=device, folder=folder,
                                      network=network, dry_run=args.dry_run)
            except torch.cuda.OutOfMemoryError:
                print(f"{res:>5} out of GPU memory at batch {batch}")
                continue
            line = f"{res:>5} {row['batch']:>5} {row['G_params_M']:>6.2f} {row['D_params_M']:>6.2f}"
            if not args.dry_run:
                line += f" {row['s_per_step']:>8.3f} {row['s_per_kimg']:>8.1f} {row['kimg_per_hour']:>8.1f}"
                if "peak_mem_GiB" in row:
                    line += f" {row['peak_mem_GiB']:>6.2f}"
            print(line, flush=True)
        if not args.no_startup and not args.dry_run and not args.cuda:
            network = dict(cbase=args.cbase, cmax=args.cmax, latent=args.latent)
            print(f"start-up of `musicvideo train DATA -o RUN --kimg 0` (32 px, new process, these networks): "
                  f"{time_startup(folder, args.threads, network):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
