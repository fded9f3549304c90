"""Images per second of the generators (mapping + synthesis): StyleGAN2 (issue 3) and StyleGAN3-T/-R (issue 17).

    python benchmarks/generator_speed.py                                  # auto device, sensible defaults
    python benchmarks/generator_speed.py --device cpu --resolutions 256 --batches 1,8,32
    python benchmarks/generator_speed.py --device cpu --resolutions 256 --batches 1 --sg3-batches 1 --threads 1
    python benchmarks/generator_speed.py --device cuda --resolutions 256,512,1024 --batches 1,8,32
    python benchmarks/generator_speed.py --cuda                           # the GPU check: 512 + 1024 px, fp16, b8/b32
    python benchmarks/generator_speed.py --cuda --dry-run                 # build every network of that plan, time none

Rows: a config-f sized StyleGAN2 with random weights (channel_base 32768, channel_max 512, z/w 512, 8 mapping
layers) at each resolution, fp32 and (CUDA only) fp16 for the highest 4 resolutions as NVlabs does (plain,
channels-last, and with the modulation fused into grouped convolutions); batch 1/8/32; plus the embedded default
network (checkpoints/default.safetensors). Beside them, in the same run, StyleGAN3-T and -R networks with random
weights built as NVlabs' ``train.py --cfg=stylegan3-t`` / ``--cfg=stylegan3-r`` builds them at that resolution
(z/w 512, 2 mapping layers, 14 layers, channel_base 32768 and channel_max 512 for -T; 1x1 convolutions, radial
filters and both doubled for -R), fp32 and (CUDA) fp16 for the layers NVlabs runs in fp16; ``--families`` picks.
A StyleGAN3 image costs seconds on a CPU, so their CPU batches default to 1 (``--sg3-batches``).

Baselines in the same run: every row's images/s is compared with the first row of the same network (fp32 at the
first batch size, the ``x fp32 b1`` column), so the fp16 and batching gains read directly; the default's rows also
show the margin over the 15 images/s the 256-px demo needs. ``--cuda`` is the prepared GPU step (fp16 only, 512 and
1024 px, batch 8 and 32, StyleGAN2 config-f beside StyleGAN3-T and -R): its baseline is fp16 at batch 8. A row that
runs out of GPU memory says so and the run goes on.

fp16 rows need CUDA (on CPU and MPS the networks run in fp32 only). Timing: one warm-up call, then repeated calls
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

from musicvideo.errors import MusicVideoError  # noqa: E402
from musicvideo.generator import load_generator, resolve_device  # noqa: E402
from musicvideo.generator.stylegan2 import Generator, GeneratorConfig, MappedGenerator, count_parameters  # noqa: E402
from musicvideo.generator.stylegan3 import StyleGAN3Config, StyleGAN3Generator  # noqa: E402

DEMO_TARGET_FPS = 15.0  # the demo renders 900 frames of 256 px in about a minute (issue 3 item 5)
FAMILIES = ("stylegan2", "stylegan3-t", "stylegan3-r")
CUDA_PLAN = dict(resolutions="512,1024", batches="8,32", precisions=["fp16"])  # the --cuda step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def stylegan3_config(resolution: int, radial: bool) -> StyleGAN3Config:
    """NVlabs' train.py config at ``resolution``: -T (``--cfg=stylegan3-t``) or -R (``--cfg=stylegan3-r``).

    train.py passes z_dim = w_dim = 512, mapping_kwargs.num_layers = 2, channel_base = --cbase (32768),
    channel_max = --cmax (512); -R adds conv_kernel=1 and use_radial_filters=True and doubles both channel numbers.
    Everything else is networks_stylegan3's defaults (14 layers, 2 critical, margin 10, 4 fp16 resolutions).
    """
    if radial:
        return StyleGAN3Config(img_resolution=resolution, channel_base=65536, channel_max=1024, conv_kernel=1,
                               use_radial_filters=True)
    return StyleGAN3Config(img_resolution=resolution)


def build(family: str, resolution: int, device: torch.device) -> tuple[str, MappedGenerator]:
    """A network with seeded random weights and its row label (family and parameter count)."""
    torch.manual_seed(0)
    if family == "stylegan2":
        G: MappedGenerator = Generator(GeneratorConfig(img_resolution=resolution))
        name = "config-f"
    else:
        G = StyleGAN3Generator(stylegan3_config(resolution, radial=family.endswith("-r")))
        name = "StyleGAN3-" + family[-1].upper()
    return f"{name} ({count_parameters(G) / 1e6:.1f} M)", G.to(device)


def images_per_second(G: MappedGenerator, batch: int, device: torch.device, seconds: float) -> tuple[float, float]:
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


def _set_precision(G: MappedGenerator, precision: str) -> None:
    G.use_fp16 = precision.startswith("fp16")
    if isinstance(G, Generator):  # StyleGAN2's extra CUDA variants; StyleGAN3 has plain fp16 only
        G.channels_last = precision.endswith("channels-last")
        G.synthesis.fused_modconv = True if precision.endswith("fused") else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N, mps (default auto; cuda with --cuda)")
    parser.add_argument("--resolutions", default=None, help="comma list (default: 256 on CPU, 256,512,1024 on GPU)")
    parser.add_argument("--batches", default=None, help="comma list of batch sizes (default 1,8,32)")
    parser.add_argument("--sg3-batches", default=None,
                        help="batch sizes of the StyleGAN3 rows (default: --batches on GPU, 1 on CPU)")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help=f"comma list of {', '.join(FAMILIES)} (default: all)")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing per row (default 3)")
    parser.add_argument("--no-default", action="store_true", help="skip the embedded default network rows")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--cuda", action="store_true",
                        help="the GPU step: 512 and 1024 px, fp16, batch 8 and 32, every family, no default rows")
    parser.add_argument("--dry-run", action="store_true",
                        help="build every network of the plan on the CPU and print its rows untimed")
    args = parser.parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        parser.error(f"unknown family {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(FAMILIES)}")
    args.families = families
    if args.cuda:
        args.device = args.device or "cuda"
        args.resolutions = args.resolutions or CUDA_PLAN["resolutions"]
        args.batches = args.batches or CUDA_PLAN["batches"]
        args.no_default = True
    args.batches = args.batches or "1,8,32"
    try:
        args.batch_list = [int(b) for b in args.batches.split(",")]
        args.sg3_batch_list = None if args.sg3_batches is None else [int(b) for b in args.sg3_batches.split(",")]
        args.resolution_list = None if args.resolutions is None else [int(r) for r in args.resolutions.split(",")]
    except ValueError as exc:
        parser.error(f"batch sizes and resolutions are comma lists of integers ({exc})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = torch.device("cpu") if args.dry_run else resolve_device(args.device or "auto")
    except MusicVideoError as exc:
        print(f"generator_speed: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    on_gpu = device.type == "cuda" or (args.dry_run and args.cuda)
    resolutions = args.resolution_list or ([256] if not on_gpu else [256, 512, 1024])
    batches = args.batch_list
    sg3_batches = args.sg3_batch_list or (batches if on_gpu else [1])
    # CUDA variants of fp16: the default (NCHW, NVlabs' fused-conv rule), channels-last, and fused modulated conv
    if args.cuda:
        precisions = CUDA_PLAN["precisions"]
    elif on_gpu:
        precisions = ["fp32", "fp16", "fp16 channels-last", "fp16 fused"]
    else:
        precisions = ["fp32"]
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{device.type}, {torch.get_num_threads()} threads")
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"device: {name}{load}; torch {torch.__version__}" + (" (dry run: nothing timed)" if args.dry_run else ""))
    if not on_gpu:
        print("fp16 rows: CUDA only (cpu/mps run fp32)")

    print("| network | px | precision | batch | images/s | ms/image | CPU ms/image "
          f"| x {precisions[0]} b{batches[0]} |")
    print("|---------|----|-----------|-------|----------|----------|--------------|-----------|")
    plan: list[tuple[str, int | None]] = []  # (family, resolution); None = the embedded default, built first
    if not args.no_default and "stylegan2" in args.families:
        plan.append(("default", None))
    plan += [(family, res) for res in resolutions for family in args.families]
    for family, res in plan:
        if res is None:
            label, G = "default (embedded)", load_generator(device=device)
        else:
            label, G = build(family, res, device)
        base = None
        for precision in precisions:
            if precision != "fp32" and precision != "fp16" and not isinstance(G, Generator):
                continue  # channels-last / fused: StyleGAN2 only
            _set_precision(G, precision)
            for batch in (sg3_batches if family.startswith("stylegan3") else batches):
                row = f"| {label} | {G.img_resolution} | {precision} | {batch} |"
                if args.dry_run:
                    print(f"{row} - | - | - | - |", flush=True)
                    continue
                try:
                    ips, cpu_s = images_per_second(G, batch, device, args.seconds)
                except torch.cuda.OutOfMemoryError:
                    print(f"{row} out of memory | - | - | - |", flush=True)
                    torch.cuda.empty_cache()
                    continue
                base = base or ips
                extra = (f" ({ips / DEMO_TARGET_FPS:.1f}x the demo's {DEMO_TARGET_FPS:.0f}/s)"
                         if "default" in label else "")
                print(f"{row} {ips:.2f} | {1000 / ips:.1f} | {1000 * cpu_s:.1f} | {ips / base:.2f}{extra} |",
                      flush=True)
        del G
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
