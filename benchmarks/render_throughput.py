"""Render throughput: generator alone vs the full streaming pipeline vs the way peer tools render.

    python benchmarks/render_throughput.py                      # 256 px default checkpoint, 48 frames, memory rows
    python benchmarks/render_throughput.py --frames 96 --results benchmarks/RESULTS.md
    python benchmarks/render_throughput.py --gap --gpu-frames 320   # GPU: where (a) loses against the generator
    python benchmarks/render_throughput.py --checkpoint net.safetensors --skip-memory   # (a)-(c) with your network

Rows, all with the same generator (the embedded default checkpoint, or ``--checkpoint``), frames, size and
latents:

(a) generator only: the latent walk's batches through ``synthesis`` and to uint8 on the device, nothing encoded,
    batched as ``render`` batches them (on the CPU, one single-threaded batch per core at once, with malloc
    keeping freed blocks as ``render`` has it); (a0) the same with glibc's default malloc, for the gain of that;
(b) ``musicvideo.render`` to a finished MP4 with audio (the analysis is cached first, as on any second render);
    (b') the same with x264 medium; (b-) the same without audio, which splits (b)'s encoder cost into video and
    audio (``--song`` runs (a)-(c) on a real song: the AAC encoder's cost depends on the music);
(c) the peer way (Lucid Sonic Dreams, maua): batch 1, every frame saved as a PNG, then moviepy's
    ``ImageSequenceClip`` with the song's audio to an MP4 (moviepy comes with ``pip install -e ".[bench]"``).

Targets (issue 4): b/a <= 1.15 and c/b >= 2. Memory: peak RSS of a 10-minute render within 10 % of a 1-minute one,
each in its own process (its own ``VmHWM``), at a low frame rate and a tiny generator so it finishes in
minutes on a CPU. GPU rows (512 and 1024 px, config-f sized network in fp16) run only when CUDA is present.
``--gap`` runs only the GPU rows that add (a)'s stages one at a time to the bare generator (fixed ws, per-frame
noise scale, the walk, uint8, the host copy, then (a) itself); without CUDA, a 64-px smoke test of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from musicvideo.audio import analyze, reactive_curves  # noqa: E402
from musicvideo.audio.synth import demo_song, write_wav  # noqa: E402
from musicvideo.config import RenderConfig  # noqa: E402
from musicvideo.generator import load_generator, save_native  # noqa: E402
from musicvideo.generator.stylegan2 import Generator, GeneratorConfig  # noqa: E402
from musicvideo.malloc import keep_freed_memory, supported as malloc_supported  # noqa: E402
from musicvideo.motion import LatentWalk  # noqa: E402
from musicvideo.render import (FrameBatches, auto_batch_size, largest_activation_bytes, render,  # noqa: E402
                               to_uint8_nhwc)

FPS = 30


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its finished children (ffmpeg) so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def clip_curves(song: Path, config: RenderConfig):
    """The reactive curves of the clip ``config`` renders (the same frames as ``render``)."""
    features = analyze(song, fps=config.fps, start_s=config.start_s, duration_s=config.duration_s,
                       config=config.analysis)
    return reactive_curves(features, config.curves)


def generator_only(G, song: Path, config: RenderConfig, device: torch.device, batch_size: int,
                   keep_memory: bool = True, workers: int | None = None) -> float:
    """(a) seconds to make every frame as uint8 on the device (and wait for it), nothing encoded.

    ``keep_memory``: with malloc keeping freed blocks on the CPU, as ``render`` runs it (``musicvideo.malloc``).
    ``workers``: batches generated at once (default: as ``render`` chooses).
    """
    curves = clip_curves(song, config)
    t0 = time.perf_counter()
    walk = LatentWalk(G, curves, config.walk, seed=config.seed, device=device)
    # the render's own batching (workers=None: as render chooses): on the CPU, one single-threaded batch per core
    # side by side, or one batch in this thread for a network with maps too large for a thread's heap
    with keep_freed_memory(keep_memory and device.type == "cpu"):
        for frames in FrameBatches(G, walk, start=0, stop=walk.n_frames, batch_size=batch_size,
                                   noise_mode=config.walk.noise_mode, workers=workers):
            frames.cpu()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


PLAIN_MALLOC_CHILD = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, sys.argv[1])
    import render_throughput as rt
    song, n, batch = rt.Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    G = rt.load_generator(sys.argv[5] or None, device="cpu")
    config = rt.RenderConfig(fps=rt.FPS, duration_s=n / rt.FPS, device="cpu")
    device = torch.device("cpu")
    rt.generator_only(G, song, config, device, batch, keep_memory=False)  # warm-up, as (a) had
    c0 = rt.cpu_seconds()
    seconds = rt.generator_only(G, song, config, device, batch, keep_memory=False)
    print(seconds, rt.cpu_seconds() - c0)
""")


def plain_malloc_generator(song: Path, n: int, batch: int, checkpoint: Path | None = None) -> tuple[float, float]:
    """(a0) wall and CPU seconds of (a) with glibc's default malloc, in a fresh process (after a warm-up)."""
    done = subprocess.run([sys.executable, "-c", PLAIN_MALLOC_CHILD, str(Path(__file__).parent), str(song), str(n),
                           str(batch), str(checkpoint or "")], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"(a0) child failed with {done.returncode}: {done.stderr[-2000:]}")
    wall, cpu = done.stdout.split()[-2:]
    return float(wall), float(cpu)


def full_pipeline(G, song: Path, config: RenderConfig, out: Path, audio: bool = True) -> float:
    """(b) seconds of ``render`` to a finished MP4 (``audio=False``: the video stream only)."""
    t0 = time.perf_counter()
    render(song, output=out, config=config, generator=G, progress=False, overwrite=True, audio=audio)
    return time.perf_counter() - t0


def peer_way(G, song: Path, config: RenderConfig, device: torch.device, workdir: Path, out: Path) -> float:
    """(c) seconds of batch-1 generation, one PNG per frame, then moviepy ImageSequenceClip + audio to MP4."""
    try:
        from moviepy import AudioFileClip, ImageSequenceClip
    except ImportError:
        raise SystemExit('row (c) needs moviepy: pip install -e ".[bench]"') from None
    from PIL import Image

    curves = clip_curves(song, config)
    t0 = time.perf_counter()
    walk = LatentWalk(G, curves, config.walk, seed=config.seed, device=device)
    frames_dir = workdir / "png"
    frames_dir.mkdir(exist_ok=True)
    paths = []
    with torch.inference_mode():
        for batch in walk.batches(1):
            image = G.synthesis(batch.ws, noise_mode=config.walk.noise_mode, noise_scale=batch.noise_scale)
            array = ((image[0].permute(1, 2, 0).cpu().numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
            path = frames_dir / f"frame_{batch.start:06d}.png"
            Image.fromarray(array).save(path)
            paths.append(str(path))
    clip = ImageSequenceClip(paths, fps=float(config.fps))
    audio = AudioFileClip(str(song))
    clip = clip.with_audio(audio.subclipped(0, clip.duration))
    clip.write_videofile(str(out), codec="libx264", audio_codec="aac", logger=None)
    audio.close()
    clip.close()
    return time.perf_counter() - t0


MEMORY_CHILD = textwrap.dedent("""
    import sys
    from musicvideo.config import RenderConfig
    from musicvideo.render import render
    song, ckpt, out, fps = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    render(song, checkpoint=ckpt, output=out, config=RenderConfig(fps=fps, device="cpu"), progress=False,
           overwrite=True)
    # VmHWM: this process's own peak (ru_maxrss would include the parent's peak inherited through vfork/exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print(int(line.split()[1]) // 1024)
""")


def peak_rss_mb(song: Path, checkpoint: Path, out: Path, fps: float, env: dict) -> tuple[float, float]:
    """Peak RSS (MB) of the render process and wall seconds, in a fresh process."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(song), str(checkpoint), str(out), str(fps)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"memory child failed with {done.returncode}: {done.stderr[-2000:]}")
    return float(done.stdout.split()[-1]), time.perf_counter() - t0


def encoder_only(frames_batch: np.ndarray, n: int, size: int, workers: int, preset: str, out: Path) -> float:
    """(e) seconds for SegmentedVideoWriter to encode ``n`` frames (a batch of real frames repeated), no audio."""
    from musicvideo.video.codecs import VideoConfig
    from musicvideo.video.segmented import SegmentedVideoWriter

    t0 = time.perf_counter()
    with SegmentedVideoWriter(out, width=size, height=size, fps=FPS, config=VideoConfig(preset=preset),
                              overwrite=True, workers=workers) as writer:
        done = 0
        while done < n:
            chunk = frames_batch[: n - done]
            writer.write(chunk)
            done += len(chunk)
    return time.perf_counter() - t0


def cuda_rows(frames: int, device: str = "cuda", resolutions: tuple[int, ...] = (512, 1024),
              channel_base: int = 32768) -> list[tuple[str, str]]:
    """GPU rows at 512 and 1024 px with a config-f sized generator in fp16 (random weights).

    (a) generator only, (e) the parallel encoder alone on real frames (default workers and twice as many),
    (b) the full pipeline with x264 medium and superfast (the default), and superfast with RGB into ffmpeg instead
    of the device's yuv420p (the old way, for the gain of converting on the GPU). cuDNN autotuning is on in every
    row (as in ``render``) and each row is warmed up on its own batch shapes first, so no row pays another's tuning.
    """
    from musicvideo.video import segmented

    rows = []
    device = torch.device(device)
    torch.backends.cudnn.benchmark = True
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        song = write_wav(tmp / "song.wav", demo_song(frames / FPS + 1, sample_rate=44100), 44100)
        for res in resolutions:
            torch.manual_seed(0)
            G = Generator(GeneratorConfig(img_resolution=res, z_dim=512, w_dim=512, channel_base=channel_base,
                                          channel_max=512)).to(device)
            config = RenderConfig(fps=FPS, duration_s=frames / FPS, device=device.type)
            batch = auto_batch_size(device, res, res)
            generator_only(G, song, config, device, batch)  # warm-up: every batch shape of the timed run
            a = generator_only(G, song, config, device, batch)
            rows.append((f"{res} px (a) generator only, fp16, batch {batch}", f"{frames / a:.1f} frames/s"))
            for other in (32,) if batch != 32 else ():
                generator_only(G, song, config, device, other)
                t = generator_only(G, song, config, device, other)
                rows.append((f"{res} px (a) generator only, fp16, batch {other}", f"{frames / t:.1f} frames/s"))
            with torch.inference_mode():
                z = torch.randn(16, G.z_dim, device=device)
                sample = to_uint8_nhwc(G.synthesis(G.mapping(z, truncation_psi=0.7))).cpu().numpy()
            for per in (4, 2):
                workers = max(1, cores // per)
                e = encoder_only(sample, frames, res, workers, "medium", tmp / f"e{res}.mp4")
                rows.append((f"{res} px (e) encoder only, x264 medium, {workers} ffmpeg x {per} threads",
                             f"{frames / e:.1f} frames/s"))
            for preset in ("medium", "superfast"):
                video = dataclasses.replace(config.video, preset=preset)
                for per in (4, 2):
                    segmented.CORES_PER_ENCODER = per
                    b = full_pipeline(G, song, dataclasses.replace(config, video=video), tmp / f"gpu{res}.mp4")
                    rows.append((f"{res} px (b) full pipeline, x264 {preset}, {cores // per} ffmpeg x {per} threads",
                                 f"{frames / b:.1f} frames/s, b/a {b / a:.2f}"))
            segmented.CORES_PER_ENCODER = 4
            # the same superfast render with RGB into ffmpeg (its own conversion), as before frames were converted
            # to yuv420p on the device: the encoder CPU that conversion saves, end to end
            render_module = sys.modules["musicvideo.render"]
            saved, render_module.DEVICE_YUV_TYPES = render_module.DEVICE_YUV_TYPES, ()
            try:
                b = full_pipeline(G, song, dataclasses.replace(config, video=dataclasses.replace(
                    config.video, preset="superfast")), tmp / f"gpu{res}.mp4")
            finally:
                render_module.DEVICE_YUV_TYPES = saved
            rows.append((f"{res} px (b) full pipeline, x264 superfast, RGB into ffmpeg, {cores // 4} ffmpeg x 4 "
                         "threads", f"{frames / b:.1f} frames/s, b/a {b / a:.2f}"))
            del G
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def gap_rows(frames: int, device: str = "cuda", res: int = 1024, channel_base: int = 32768,
             batch: int | None = None) -> list[tuple[str, str]]:
    """Where (a) loses against the bare generator: the generator on one fixed batch of ws, then adding one stage of
    (a) at a time (per-frame noise scale, the walk's ws, the uint8 conversion, the copy to the host).

    On an H200 (a) made 125-133 frames/s at 1024 px where the generator alone made 172; each row here is timed
    like (a) (warm-up on the same shapes, then ``frames`` frames, synchronised at the end).
    """
    device = torch.device(device)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(img_resolution=res, z_dim=512, w_dim=512, channel_base=channel_base,
                                  channel_max=512)).to(device).eval()
    batch = batch or auto_batch_size(device, res, res)
    rows: list[tuple[str, str]] = []

    def stage(name: str, step) -> None:
        for _ in range(2):  # the first pass warms up (cuDNN autotuning for these shapes)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            with torch.inference_mode():
                for start in starts:
                    step(start)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
        rows.append((f"{res} px gap: {name}, batch {batch}", f"{len(starts) * batch / seconds:.1f} frames/s"))

    def walked(start: int):
        b = walk.batch(start, start + batch)
        return G.synthesis(b.ws, noise_mode="const", noise_scale=b.noise_scale)

    if frames < batch:
        raise SystemExit(f"--gpu-frames must be at least the batch size ({batch}) for the gap rows")
    with tempfile.TemporaryDirectory() as tmp:
        song = write_wav(Path(tmp) / "song.wav", demo_song(frames / FPS + 1, sample_rate=44100), 44100)
        config = RenderConfig(fps=FPS, duration_s=frames / FPS, device=device.type)
        walk = LatentWalk(G, clip_curves(song, config), config.walk, seed=config.seed, device=device)
        fixed = walk.batch(0, batch)
        starts = range(0, frames - frames % batch, batch)  # whole batches only
        stage("synthesis, fixed ws", lambda s: G.synthesis(fixed.ws, noise_mode="const"))
        stage("+ per-frame noise scale", lambda s: G.synthesis(fixed.ws, noise_mode="const",
                                                               noise_scale=fixed.noise_scale))
        stage("+ the walk's ws", walked)
        stage("+ uint8 RGB", lambda s: to_uint8_nhwc(walked(s)))
        stage("+ copy to the host", lambda s: to_uint8_nhwc(walked(s)).cpu())
        n = len(starts) * batch
        short = dataclasses.replace(config, duration_s=n / FPS)
        generator_only(G, song, short, device, batch)  # warm-up
        a = generator_only(G, song, short, device, batch)
        rows.append((f"{res} px gap: (a) itself (FrameBatches, as render), batch {batch}", f"{n / a:.1f} frames/s"))
    return rows


def throughput_rows(n: int, repeat: int, tmp: Path, song: Path | None = None, start_s: float = 0.0,
                    checkpoint: Path | None = None) -> list[tuple[str, str]]:
    """Rows (a), (b), (c) and their ratios on the CPU with one generator (the embedded default unless given).

    ``song``: render ``n`` frames of this song from ``start_s`` instead of the synthesized demo song (the audio
    encoder's share of (b) depends on the music). ``checkpoint``: this network instead of the default one (the
    encoder's share of (b) depends on the generator's cost).
    """
    device = torch.device("cpu")
    G = load_generator(checkpoint, device="cpu")  # None: the embedded default checkpoint
    size = G.img_resolution
    seconds = n / FPS
    label = f"{song.name} from {start_s:g} s" if song is not None else "the demo song (synthesized)"
    if song is None:
        song, start_s = write_wav(tmp / "song.wav", demo_song(seconds + 1, sample_rate=44100), 44100), 0.0
    config = RenderConfig(fps=FPS, start_s=start_s, duration_s=seconds, device="cpu")
    batch = auto_batch_size(device, size, size, image_bytes=largest_activation_bytes(G))
    analyze(song, fps=FPS)  # cache the analysis; warm up torch's kernels for every batch shape used below
    generator_only(G, song, config, device, batch)
    generator_only(G, song, dataclasses.replace(config, duration_s=2 / FPS), device, 1)

    # interleaved and repeated, best of each: the machine may be shared. CPU seconds (this process and its
    # ffmpeg children) are taken too: they say what each way costs, and vary less than wall time on a busy machine
    slow = dataclasses.replace(config, video=dataclasses.replace(config.video, preset="medium"))
    a = b = b_slow = b_mute = a_plain = float("inf")
    cpu_a = cpu_b = cpu_plain = float("inf")
    ratios = []
    for _ in range(repeat):
        c0 = cpu_seconds()
        a_run = generator_only(G, song, config, device, batch)
        c1 = cpu_seconds()
        b_run = full_pipeline(G, song, config, tmp / "b.mp4")
        c2 = cpu_seconds()
        b_slow = min(b_slow, full_pipeline(G, song, slow, tmp / "b_slow.mp4"))
        b_mute = min(b_mute, full_pipeline(G, song, config, tmp / "b_mute.mp4", audio=False))
        # in a fresh process: malloc settings are process-wide, and glibc's adaptive threshold is off for good
        # once anything has been set, so this process cannot go back to the pristine defaults
        a0_run, cpu0_run = plain_malloc_generator(song, n, batch, checkpoint)
        a_plain, cpu_plain = min(a_plain, a0_run), min(cpu_plain, cpu0_run)
        a, b = min(a, a_run), min(b, b_run)
        cpu_a, cpu_b = min(cpu_a, c1 - c0), min(cpu_b, c2 - c1)
        ratios.append(b_run / a_run)
    c = peer_way(G, song, config, device, tmp, tmp / "c.mp4")
    preset = config.video.preset
    return [
        ("song", label),
        ("generator", f"{checkpoint.name if checkpoint else 'the embedded default'}: {size} px, "
                      f"{sum(p.numel() for p in G.parameters()) / 1e6:.2f} M parameters, "
                      f"{1000 * cpu_a / n:.0f} CPU-ms per frame"),
        (f"(a) generator only, {size} px, {n} frames, batch {batch}", f"{a:.2f} s, {n / a:.2f} frames/s"),
        ("(a0) the same without keeping freed memory (glibc's default mmap/munmap)",
         f"{a_plain:.2f} s, {n / a_plain:.2f} frames/s; a0/a {a_plain / a:.3f}; CPU-s per frame "
         f"{1000 * cpu_plain / n:.1f} ms" if malloc_supported() else "n/a: not glibc"),
        (f"(b) full pipeline to MP4 with audio (render, x264 {preset})", f"{b:.2f} s, {n / b:.2f} frames/s"),
        ("(b') the same with x264 preset medium", f"{b_slow:.2f} s, {n / b_slow:.2f} frames/s"),
        (f"(b-) the same as (b) without audio (x264 {preset} only)",
         f"{b_mute:.2f} s, {n / b_mute:.2f} frames/s; b-/a {b_mute / a:.3f}"),
        ("(c) peer way: batch 1, PNG per frame, moviepy (x264 medium)", f"{c:.2f} s, {n / c:.2f} frames/s"),
        ("b/a, best of each (target <= 1.15)", f"{b / a:.3f}"),
        (f"b/a of each interleaved pair ({repeat} pairs): median, range",
         f"{float(np.median(ratios)):.3f}, {min(ratios):.3f}-{max(ratios):.3f}"),
        ("CPU-s per frame (a), (b) with ffmpeg; (b)/(a)",
         f"{1000 * cpu_a / n:.1f} ms, {1000 * cpu_b / n:.1f} ms; {cpu_b / cpu_a:.3f}"),
        ("b'/a", f"{b_slow / a:.3f}"),
        ("c/b (target >= 2)", f"{c / b:.2f}"),
    ]


def memory_rows(fps: float, tmp: Path) -> list[tuple[str, str]]:
    """Peak RSS of 1- and 10-minute renders, each in a fresh process, first run and with the analysis cached."""
    torch.manual_seed(0)
    tiny = Generator(GeneratorConfig(z_dim=16, w_dim=16, img_resolution=32, channel_base=256, channel_max=32,
                                     mapping_layers=2))
    ckpt = save_native(tiny, tmp / "tiny.safetensors")
    env = dict(os.environ, MUSICVIDEO_CACHE_DIR=str(tmp / "cache"))
    rows, result = [], {}
    for minutes in (1, 10):
        long_song = write_wav(tmp / f"song{minutes}.wav", demo_song(60.0 * minutes, sample_rate=44100), 44100)
        cold = peak_rss_mb(long_song, ckpt, tmp / f"m{minutes}.mp4", fps, env)
        warm = peak_rss_mb(long_song, ckpt, tmp / f"m{minutes}.mp4", fps, env)
        result[minutes] = (cold, warm)
        frames = int(60 * minutes * fps)
        rows.append((f"peak RSS, {minutes}-min render ({frames} frames), first run: decodes + analyses the song",
                     f"{cold[0]:.0f} MB ({cold[1]:.0f} s)"))
        rows.append((f"peak RSS, {minutes}-min render ({frames} frames), analysis cached",
                     f"{warm[0]:.0f} MB ({warm[1]:.0f} s)"))
    for label, i in (("first run", 0), ("analysis cached", 1)):
        ratio = result[10][i][0] / result[1][i][0]
        rows.append((f"RSS 10 min / 1 min, {label} (target <= 1.10)", f"{ratio:.3f}"))
    rows.append(("memory rows use", f"a 32 px test generator at {fps:g} fps; 44.1 kHz stereo song; render "
                                    "process only (VmHWM), ffmpeg apart"))
    return rows


def markdown_table(rows: list[tuple[str, str]]) -> str:
    """A two-column Markdown table (row, result) with the first column padded to one width."""
    width = max(len(r[0]) for r in rows)
    return "\n".join([f"| {'row':<{width}} | result |", f"|{'-' * (width + 2)}|--------|"] +
                     [f"| {k:<{width}} | {v} |" for k, v in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48, help="frames per row (a)-(c) (default 48)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of (a) and (b), best taken (default 3)")
    parser.add_argument("--memory-fps", type=float, default=2.0, help="fps of the memory rows (default 2)")
    parser.add_argument("--skip-memory", action="store_true", help="skip the 1- vs 10-minute memory rows")
    parser.add_argument("--skip-throughput", action="store_true", help="only the memory rows")
    parser.add_argument("--gpu-frames", type=int, default=600, help="frames per GPU row (default 600)")
    parser.add_argument("--song", type=Path, default=None,
                        help="rows (a)-(c) on this song instead of the synthesized demo song")
    parser.add_argument("--start", type=float, default=0.0, help="where in --song the frames start (seconds)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="rows (a)-(c) with this network instead of the embedded default checkpoint")
    parser.add_argument("--gap", action="store_true",
                        help="only the GPU rows that split (a) into stages (where it loses against the generator)")
    parser.add_argument("--results", default=None, help="append the table to this Markdown file")
    args = parser.parse_args()
    if args.gap:
        os.environ.setdefault("MUSICVIDEO_CACHE_DIR", tempfile.mkdtemp(prefix="mv-gap-cache-"))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        res = 1024 if device == "cuda" else 64  # on a CPU only a smoke test of the rows
        print(markdown_table(gap_rows(args.gpu_frames if device == "cuda" else 16, device, res=res,
                                      channel_base=32768 if device == "cuda" else 1024)))
        return

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["MUSICVIDEO_CACHE_DIR"] = str(tmp / "cache")
        if not args.skip_throughput:
            rows += throughput_rows(args.frames, args.repeat, tmp, args.song, args.start, args.checkpoint)
        if not args.skip_memory:
            rows += memory_rows(args.memory_fps, tmp)

    rows += cuda_rows(args.gpu_frames) if torch.cuda.is_available() else [("GPU rows (512/1024 px config-f fp16)",
                                                                "no CUDA: skipped")]
    table = markdown_table(rows)
    print(table)
    if args.results:
        command = "python benchmarks/render_throughput.py " + " ".join(sys.argv[1:])
        load = os.getloadavg()[0]
        network = args.checkpoint.name if args.checkpoint else "embedded default checkpoint"
        text = (f"\n## Render throughput (render helper, issue 4 items 1, 2, 4)\n\n`{command.strip()}` on "
                f"{platform.machine()} with {os.cpu_count()} cores, torch {torch.__version__}, load average "
                f"{load:.1f}, {datetime.date.today()}. Same generator ({network}), frames, size "
                "and latents in (a)-(c).\n\n" + table + "\n")
        with open(args.results, "a", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
