"""Images per second of the StyleGAN2 generator (mapping + synthesis), issue 3.

    python benchmarks/generator_speed.py                                  # auto device, sensible defaults
    python benchmarks/generator_speed.py --device cpu --resolutions 256 --batches 1,8,32
    python benchmarks/generator_speed.py --device cuda --resolutions 256,512,1024 --batches 1,8,32

Rows: a config-f sized network with random weights (channel_base 32768, channel_max 512, z/w 512, 8 mapping
layers) at each resolution, fp32 and (CUDA only) fp16 for the highest 4 resolutions as NVlabs does (plain, channels-last, and with the
modulation fused into grouped convolutions); batch 1/8/32;
plus the embedded default network (checkpoints/default.safetensors). Baselines in the same run: every row's
images/s is compared with fp32 at batch 1 for the same network (the ``x fp32 b1`` column), so the fp16 and
batching gains read directly; the default's rows also show the margin over the 15 images/s the 256-px demo needs.

fp16 rows need CUDA (on CPU and MPS the network runs in fp32 only). Timing: one warm-up call, then repeated calls
until ``--seconds`` have passed (at least one); CUDA is synchronised around each measurement. The CPU ms/image
column (this process's CPU time) shows wasted spinning: on a shared CPU, torch's OpenMP threads busy-wait for
each other, so ``--threads 1`` can be several times faster than 2 threads when other processes are running.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicvideo.generator import load_generator, resolve_device  # noqa: E402
from musicvideo.generator.stylegan2 import Generator, GeneratorConfig, count_parameters  # noqa: E402

DEMO_TARGET_FPS = 15.0  # the demo renders 900 frames of 256 px in about a minute (issue 3 item 5)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(G: Generator, batch: int, device: torch.device, seconds: float) -> tuple[float, float]:
    """Mapping + synthesis throughput at one batch size (const noise, psi 0.7, as a render does).

    Returns (images per wall-clock second, CPU seconds of this process per image).
    """
    z = torch.randn(batch, G.z_dim, device=device, generator=torch.Generator(device=device).manual_seed(0))
    with torch.inference_mode():
        G(z, truncation_psi=0.7)  # warm-up (cuDNN autotune, allocator)
        _sync(device)
        count, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while True:
            G(z, truncation_psi=0.7)
            count += batch
            _sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return count / elapsed, (time.process_time() - cpu_start) / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps (default auto)")
    parser.add_argument("--resolutions", default=None, help="comma list (default: 256 on CPU, 256,512,1024 on GPU)")
    parser.add_argument("--batches", default="1,8,32", help="comma list of batch sizes (default 1,8,32)")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing per row (default 3)")
    parser.add_argument("--no-default", action="store_true", help="skip the embedded default network rows")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    resolutions = [int(r) for r in (args.resolutions or ("256" if device.type == "cpu" else "256,512,1024")).split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    # CUDA variants of fp16: the default (NCHW, NVlabs' fused-conv rule), channels-last, and fused modulated conv
    precisions = ["fp32", "fp16", "fp16 channels-last", "fp16 fused"] if device.type == "cuda" else ["fp32"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{device.type}, {torch.get_num_threads()} threads"
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"device: {name}{load}; torch {torch.__version__}")
    if device.type != "cuda":
        print("fp16 rows: CUDA only (cpu/mps run fp32)")

    print("| network | px | precision | batch | images/s | ms/image | CPU ms/image | x fp32 b1 |")
    print("|---------|----|-----------|-------|----------|----------|--------------|-----------|")
    nets: list[tuple[str, Generator | int]] = []  # an int = a config-f resolution, built when its turn comes
    if not args.no_default:
        nets.append(("default (embedded)", load_generator(device=device)))
    nets += [("config-f", res) for res in resolutions]
    for label, net in nets:
        if isinstance(net, int):
            torch.manual_seed(0)
            G = Generator(GeneratorConfig(img_resolution=net)).to(device)
            label = f"config-f ({count_parameters(G) / 1e6:.1f} M)"
        else:
            G = net
        base = None
        for precision in precisions:
            G.use_fp16 = precision.startswith("fp16")
            G.channels_last = precision.endswith("channels-last")
            G.synthesis.fused_modconv = True if precision.endswith("fused") else None
            for batch in batches:
                ips, cpu_s = images_per_second(G, batch, device, args.seconds)
                base = base or ips
                extra = f" ({ips / DEMO_TARGET_FPS:.1f}x the demo's {DEMO_TARGET_FPS:.0f}/s)" if "default" in label else ""
                print(f"| {label} | {G.img_resolution} | {precision} | {batch} | {ips:.2f} | {1000 / ips:.1f} "
                      f"| {1000 * cpu_s:.1f} | {ips / base:.2f}{extra} |", flush=True)
        del G
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
