"""The streaming render loop: a song and a generator become a finished, in-sync video.

::

    song ─► analyze ─► reactive_curves ─► LatentWalk ─► batches of ws ─► G.synthesis ─► uint8 on the device
         ─► (CUDA: pinned host buffer, copied on a side stream) ─► bounded queue ─► encoder thread ─► VideoWriter

uint8 means RGB ``[B, H, W, 3]``, which ffmpeg converts to the codec's format; or, on a GPU with an H.264/HEVC
output at the generator's size, I420 planes converted on the device (:func:`to_yuv420`): half the bytes to copy
and pipe, and no colour conversion in ffmpeg, whose CPU time is what limits a GPU render without NVENC.

Generation, the device-to-host copy and encoding overlap: the main thread keeps the device busy while a background
thread pipes finished batches into ffmpeg. Frames never touch the disk, and memory does not grow with song length
(per-frame curves are O(N) floats; the queue holds a few batches). Every check of the user's input runs before any
work starts, and an error or Ctrl-C leaves no output and no temporary file.

Timing contract: frame ``i`` shows song time ``start + i / fps``; a clip of ``duration`` seconds has exactly
``ceil(duration * fps)`` frames; a ``frame_range=(a, b)`` render holds exactly frames ``a..b-1`` of the full clip
(bit-identical latents), which is what split renders join.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import math
import os
import queue
import sys
import threading
import time
import types
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from .atomic import check_output_path
from .config import RenderConfig, exact_fps, frame_count
from .device import resolve_device
from .errors import (AudioError, CheckpointError, ConfigError, MusicVideoError, MusicVideoWarning, OutputError,
                     require_file, upscale_notice)
from .malloc import keep_freed_memory

if TYPE_CHECKING:  # torch is imported on first use, so bad input is reported without waiting for it
    import torch

FPS_RANGE = (1, 240)
SIZE_RANGE = (16, 8192)
CUDA_MAX_BATCH = 32  # see auto_batch_size
# well inside glibc's 64 MB thread heap, with room for the up-sampling conv's slightly larger intermediate and the
# maps alive beside it: a generator thread's blocks up to about this size are reused batch after batch inside
# musicvideo.malloc.keep_freed_memory; a larger one is mmapped and page-faulted every time (measured: batch 16 of
# the default network, 32 MB maps, still faults; batch 8 does not). A network whose maps exceed it even at batch 1
# generates in the calling thread instead, whose heap has no such limit (cpu_generator_workers).
CPU_BLOCK_BYTES = 24 << 20
QUEUE_BATCHES = 3  # batches between the generator and the encoder: enough to absorb jitter, small for memory
# Devices whose renders convert frames to yuv420p themselves (to_yuv420). Not the CPU: there torch's elementwise
# passes cost more than ffmpeg's SIMD conversion (1.6 ms against 0.3 ms a 256-px frame), and the cores are taken.
DEVICE_YUV_TYPES = ("cuda",)
# BT.709 luma weights
KR, KB = 0.2126, 0.0722


@dataclass
class RenderResult:
    """What a render produced.

    Attributes
    ----------
    path : Path
        The finished video.
    n_frames : int
        Frames in it.
    fps : float
        Frame rate (``fps_exact`` keeps NTSC rates exact).
    width, height : int
        Output size in pixels.
    elapsed_s : float
        Wall time of the whole call, analysis and encoding included.
    frames_per_s : float
        ``n_frames / elapsed_s``.
    device : str
        Where the generator ran.
    batch_size : int
        Frames per batch at the end (smaller than at the start after an out-of-memory retry).
    frame_range : tuple of int
        The clip frames ``[a, b)`` in the file.
    fps_exact : Fraction
        The exact frame rate.
    """

    path: Path
    n_frames: int
    fps: float
    width: int
    height: int
    elapsed_s: float
    frames_per_s: float
    device: str
    batch_size: int
    frame_range: tuple[int, int] = (0, 0)
    fps_exact: Fraction = Fraction(0)


@dataclass
class RenderPlan:
    """The checked inputs of a render (what :func:`plan_render` found); no work has been done yet."""

    song: Path
    output: Path
    config: RenderConfig
    fps: Fraction
    start_s: float
    duration_s: float
    n_frames: int
    frame_range: tuple[int, int]
    device: torch.device
    checkpoint: Path | None
    width: int | None
    height: int | None


# ---------------------------------------------------------------- preflight


def load_seeds_file(path: str | Path) -> list[int]:
    """Keyframe seeds from a JSON file: ``{"seeds": [..], ...}`` (what ``musicvideo select`` writes) or ``[..]``.

    Raises
    ------
    ConfigError
        When the file is missing, not JSON, or holds no list of non-negative integers.
    """
    p = require_file(path, "seeds file", ConfigError)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"seeds file {p} is not valid JSON: {exc}") from None
    seeds = data.get("seeds") if isinstance(data, dict) else data
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(f"seeds file {p} must hold a non-empty list of seeds, as [1, 2] or {{\"seeds\": [1, 2]}}")
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds):
        raise ConfigError(f"seeds file {p}: every seed must be an integer in 0..4294967295")
    return [int(s) for s in seeds]


def _requested_size(config: RenderConfig) -> tuple[int | None, int | None]:
    if config.size is not None and (config.width is not None or config.height is not None):
        raise ConfigError("give either size or width and height, not both")
    if config.size is not None:
        return config.size, config.size
    if (config.width is None) != (config.height is None):
        raise ConfigError("give both --width and --height (or --size for a square video)")
    return config.width, config.height


def _size_flags(config: RenderConfig) -> tuple[str, str]:
    """The flags the user typed for the width and height, so a range error names the one to change."""
    return ("--size", "--size") if config.size is not None else ("--width", "--height")


def _check_size(width: int, height: int, config: RenderConfig,
                flags: tuple[str, str] = ("--width", "--height")) -> None:
    from .video.codecs import DNXHR_MIN_SIZE, needs_even_size

    lo, hi = SIZE_RANGE
    for flag, value in zip(flags, (width, height)):
        if not lo <= value <= hi:
            raise ConfigError(f"{flag} must be {lo}..{hi} pixels, got {value}")
        if needs_even_size(config.video) and value % 2:
            raise ConfigError(f"{flag} must be even for {config.video.codec} (yuv chroma is subsampled), "
                              f"got {value} (use {value - 1} or {value + 1})")
    if config.video.codec == "dnxhr" and (width < DNXHR_MIN_SIZE[0] or height < DNXHR_MIN_SIZE[1]):
        raise ConfigError(f"DNxHR needs at least {DNXHR_MIN_SIZE[0]}x{DNXHR_MIN_SIZE[1]} pixels, got "
                          f"{width}x{height} (use a larger size or --codec prores)")


def plan_render(song: str | Path, *, checkpoint: str | Path | None = None, output: str | Path | None = None,
                config: RenderConfig | None = None, seeds_file: str | Path | None = None, overwrite: bool = False,
                frame_range: tuple[int, int] | None = None, check_output: bool = True) -> RenderPlan:
    """Check every input of a render without doing any work (cheap: reads the song's header only).

    Parameters are those of :func:`render`, and:

    check_output : bool
        Check that the output's folder exists and can be written (False: a batch checks its folder itself, before
        creating it; the output's name and extension are checked either way).

    Returns
    -------
    RenderPlan
        The resolved song, output, frame rate, clip and device.

    Raises
    ------
    MusicVideoError
        The first problem found, as one line naming it and the fix.
    """
    from .audio import audio_duration_s, check_clip
    from .video.codecs import check_container, default_extension, for_output, resolve_encoder

    config = config or RenderConfig()
    fps = exact_fps(config.fps)
    if not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
        raise ConfigError(f"--fps must be {FPS_RANGE[0]}..{FPS_RANGE[1]}, got {float(fps):g}")
    width, height = _requested_size(config)
    if config.batch_size is not None and config.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {config.batch_size}")
    if config.start_s < 0 or not math.isfinite(config.start_s):
        raise ConfigError(f"--start must be >= 0 seconds, got {config.start_s}")
    if config.duration_s is not None and not config.duration_s > 0:
        raise ConfigError(f"--duration must be > 0 seconds, got {config.duration_s}")

    song_path = require_file(song, "song", AudioError)
    if checkpoint is not None:
        checkpoint = require_file(checkpoint, "checkpoint", CheckpointError)
    if seeds_file is not None:
        seeds = load_seeds_file(seeds_file)
        config = dataclasses.replace(config, walk=dataclasses.replace(config.walk, seeds=seeds))

    out = Path(output).expanduser() if output is not None else Path.cwd() / (song_path.stem +
                                                                             default_extension(config.video))
    if out.is_dir():
        raise OutputError(f"output {out} is a directory: name the video inside it (add .mp4 or .mov, e.g. "
                          f"{out / (song_path.stem + '.mp4')})")
    # no codec given: the extension decides (.mov ProRes, .mp4 H.264), as the help says
    config = dataclasses.replace(config, video=for_output(config.video, out))
    check_container(out, config.video)
    if width is not None and height is not None:
        _check_size(width, height, config, _size_flags(config))
    if check_output:
        out = check_output_path(out, overwrite=overwrite)
    if out.resolve() == song_path.resolve():
        raise ConfigError(f"output {out} is the song itself (choose another -o)")

    # the same past-the-end rule as analyze and preview (musicvideo.audio.check_clip): refused, with the length
    duration = check_clip(audio_duration_s(song_path), float(config.start_s), config.duration_s, fps,
                          song_name=song_path.name)
    n_frames = frame_count(duration, fps)
    if n_frames < 1:
        raise ConfigError(f"the clip is shorter than one frame ({duration:g} s at {float(fps):g} fps)")
    a, b = (0, n_frames) if frame_range is None else (int(frame_range[0]), int(frame_range[1]))
    if not 0 <= a < b <= n_frames:
        raise ConfigError(f"frame range [{a}, {b}) is outside the clip's {n_frames} frames (0 <= a < b <= N)")
    device = resolve_device(config.device)
    resolve_encoder(config.video)  # nvenc='on' without NVENC, or an encoder missing from the ffmpeg build
    return RenderPlan(song=song_path, output=out, config=config, fps=fps, start_s=float(config.start_s),
                      duration_s=duration, n_frames=n_frames, frame_range=(a, b), device=device,
                      checkpoint=checkpoint, width=width, height=height)


def largest_activation_bytes(generator: Any) -> int | None:
    """Bytes of the largest fp32 feature map one image makes in ``generator``'s synthesis network (StyleGAN2 or
    StyleGAN3, see :func:`musicvideo.generator.largest_activation_bytes`), or None for another kind of generator."""
    from .generator import largest_activation_bytes as family_bytes

    return family_bytes(generator)


def auto_batch_size(device: torch.device, height: int, width: int, *, fp16: bool = True,
                    image_bytes: int | None = None) -> int:
    """Frames per generator batch for a device and resolution.

    CPU/MPS: about half a megapixel per batch (larger batches gain nothing there and delay the encoder). On the
    CPU also at most what keeps the largest feature map of a batch under ``CPU_BLOCK_BYTES`` (give
    ``image_bytes``, see :func:`largest_activation_bytes`): larger blocks cannot stay in a generator thread's
    malloc heap and are mapped afresh every batch (``musicvideo.malloc``); at 512 px with 32 channels batch 1
    then renders 1.3-1.4x the frames/s of batch 2 (benchmarks/RESULTS.md). CUDA:
    what fits in 60 % of the free memory at a rough 0.6 kB of activations per pixel in fp16 (double in fp32), or
    twice the largest feature map (``image_bytes``, halved in fp16) where that is more: StyleGAN3's filtered
    leaky ReLU holds several times what StyleGAN2 does at the same size (an estimate: not yet measured on a GPU),
    as a power of two, at most 32; an out-of-memory error halves it during the render anyway. The cap is measured
    (benchmarks/RESULTS.md, H200): batch 64 gains nothing over 32 in fp16 at 512 and 1024 px, and cuDNN's
    kernels for fp32 and grouped (fused) convolutions at batch 64 run at under half the speed of batch 32.

    Returns
    -------
    int
        At least 1.
    """
    import torch

    pixels = max(1, height * width)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        per_image = pixels * (600 if fp16 else 1200)
        if image_bytes:  # StyleGAN3: far more than the image's pixels suggest (StyleGAN2 stays on the pixel rule)
            per_image = max(per_image, 2 * int(image_bytes) // (2 if fp16 else 1))
        fit = int(0.6 * free // per_image)
        size = 1
        while size * 2 <= min(fit, CUDA_MAX_BATCH):
            size *= 2
        return size
    size = int(min(16, max(1, 2**19 // pixels)))
    if device.type == "cpu" and image_bytes:
        size = min(size, max(1, CPU_BLOCK_BYTES // int(image_bytes)))
    return size


# ---------------------------------------------------------------- the loop


def to_uint8_nhwc(images: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` in [-1, 1] -> ``[B, H, W, 3]`` uint8 on the same device (rounded, clipped)."""
    import torch

    if images.dtype != torch.float32:
        images = images.float()  # fp16 has 1/8 steps between 128 and 256: scale in fp32
    # +128 instead of +127.5: the cast truncates, so this rounds to nearest
    return (images * 127.5 + 128).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def to_yuv420(images: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` in [-1, 1] -> ``[B, H * 3 // 2, W]`` uint8 I420 planes, BT.709 at studio range.

    The RGB is first rounded and clipped to 8 bits exactly as :func:`to_uint8_nhwc` does, so both paths start from
    the same pixels. Chroma is sited as H.264 and MPEG-2 expect by default ("left"): each sample sits on an even
    column, halfway between two rows, filtered [1, 2, 1] / 4 across and [1, 1] / 2 down (edges repeated).

    Parameters
    ----------
    images : torch.Tensor
        Generator output, any float dtype; H and W even.

    Returns
    -------
    torch.Tensor
        uint8 on the same device: each frame's Y plane (H rows of W) followed by U and V (H/2 x W/2 each), the
        layout of ffmpeg's ``rawvideo yuv420p``.
    """
    import torch

    n, _, h, w = images.shape
    if h % 2 or w % 2:
        raise ValueError(f"yuv420p needs an even frame size, got {w}x{h}")
    rgb = (images.float() * 127.5 + 128).clamp_(0, 255).floor_()  # the 8-bit RGB of to_uint8_nhwc, in float
    r, g, b = rgb.unbind(1)
    luma = KR * r + (1 - KR - KB) * g + KB * b  # 0..255
    chroma = torch.stack(((b - luma) / (2 * (1 - KB)), (r - luma) / (2 * (1 - KR))), 1)  # -127.5..127.5
    chroma = 0.5 * (chroma[:, :, 0::2] + chroma[:, :, 1::2])  # vertical: between rows 2k and 2k+1
    left = torch.cat((chroma[..., :1], chroma[..., 1:-1:2]), -1)  # column 2k-1 (column 0 repeated at the edge)
    chroma = 0.5 * chroma[..., 0::2] + 0.25 * (left + chroma[..., 1::2])
    y = (luma * (219 / 255) + 16.5).clamp_(0, 255).to(torch.uint8)
    uv = (chroma * (224 / 255) + 128.5).clamp_(0, 255).to(torch.uint8)
    return torch.cat((y.reshape(n, -1), uv.reshape(n, -1)), 1).view(n, h * 3 // 2, w)


def device_converts_yuv(device: torch.device, video: Any, in_size: tuple[int, int],
                        out_size: tuple[int, int]) -> bool:
    """Whether a render on ``device`` hands ffmpeg I420 planes made by :func:`to_yuv420` rather than RGB.

    Only on a GPU (:data:`DEVICE_YUV_TYPES`), and only where the writer takes such frames
    (:func:`~musicvideo.video.encoder.yuv420p_input_allowed`: a yuv420p codec, frames out at the generator's size;
    scaling, cropping and padding happen in ffmpeg, before its conversion).
    """
    from .video.encoder import yuv420p_input_allowed

    return device.type in DEVICE_YUV_TYPES and yuv420p_input_allowed(video, in_size, out_size)


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(exc, oom) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


class _EncoderThread(threading.Thread):
    """Takes host batches from a bounded queue and pipes them into the VideoWriter, off the main thread."""

    def __init__(self, writer: Any, progress: Any, depth: int, *, writer_keeps_frames: bool = False) -> None:
        super().__init__(name="musicvideo-encoder", daemon=True)
        self.writer = writer
        # a writer that queues frames internally must copy them before the buffer goes back to the pool
        self.copy = writer_keeps_frames
        self.progress = progress
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.cancelled = threading.Event()

    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            frames, ready, release = item
            try:
                if self.error is None and not self.cancelled.is_set():
                    if ready is not None:
                        ready.synchronize()  # the device-to-host copy of this batch has landed
                    self.writer.write(frames, copy=self.copy)
                    self.progress.update(len(frames))
            except BaseException as exc:  # keep draining so the producer never blocks forever
                self.error = exc
            finally:
                if release is not None:
                    release()

    def put(self, item: tuple) -> None:
        """Queue a batch, waiting while the queue is full; re-raises an encoder error in the caller."""
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until every queued batch is encoded; raise the encoder's error if there was one."""
        self.put(None)
        self.join()
        if self.error is not None:
            raise self.error

    def cancel(self) -> None:
        """Drop what is queued and stop (used on errors and Ctrl-C)."""
        self.cancelled.set()
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is not None and item[2] is not None:
                item[2]()
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            pass
        self.join(timeout=5)


class _HostBuffers:
    """A pool of pinned host buffers for CUDA batches, plus the side stream that copies into them.

    The buffers are made at the first batch, in its frame shape (RGB or I420), for ``batch_size`` frames.
    """

    def __init__(self, device: torch.device, batch_size: int, count: int) -> None:
        import torch

        self.batch_size, self.count = batch_size, count
        self.free: queue.Queue = queue.Queue()
        self.stream = torch.cuda.Stream(device)

    def copy(self, frames: torch.Tensor) -> tuple[np.ndarray, Any, Callable[[], None]]:
        import torch

        if self.count:  # first batch: allocate
            for _ in range(self.count):
                self.free.put(torch.empty((self.batch_size, *frames.shape[1:]), dtype=torch.uint8, pin_memory=True))
            self.count = 0
        buffer = self.free.get()  # blocks while the encoder still holds every buffer: back-pressure
        host = buffer[:frames.shape[0]]
        self.stream.wait_stream(torch.cuda.current_stream(frames.device))
        with torch.cuda.stream(self.stream):
            host.copy_(frames, non_blocking=True)
            frames.record_stream(self.stream)
            ready = torch.cuda.Event()
            ready.record(self.stream)
        return host.numpy(), ready, lambda: self.free.put(buffer)


def _generate(generator: Any, walk: Any, start: int, stop: int, noise_mode: str,
              convert: Callable[[torch.Tensor], torch.Tensor] = to_uint8_nhwc) -> torch.Tensor:
    import torch

    with torch.inference_mode():
        batch = walk.batch(start, stop)
        camera = {} if batch.transforms is None else {"transform": batch.transforms}  # StyleGAN3's camera only
        images = generator.synthesis(batch.ws, noise_mode=noise_mode, noise_scale=batch.noise_scale, **camera)
        return convert(images)


def cpu_generator_workers(device: torch.device, noise_mode: str, block_bytes: int | None = None) -> int:
    """Batches generated at once on ``device``: one per torch CPU thread on the CPU, else 1.

    On the CPU, single-threaded batches side by side use the cores better than one batch spread over all of them
    (the generator's small convolutions parallelise poorly, and torch's threads spin while they wait for each
    other, taking the cores the encoder needs). 'random' noise draws from torch's global generator, whose order
    only one worker keeps reproducible.

    Parameters
    ----------
    device : torch.device
        Where the generator runs.
    noise_mode : str
        The walk's noise mode.
    block_bytes : int, optional
        The largest feature map of one batch (:func:`largest_activation_bytes` times the batch size). Above
        ``CPU_BLOCK_BYTES`` (a large network at 512 or 1024 px, already at batch 1) a batch runs in the calling
        thread on all cores instead: only the main thread's malloc heap can keep such blocks for the next batch
        (``musicvideo.malloc``); in a generator thread they are mapped and page-faulted afresh every batch
        (config-f at 512 and 1024 px: 1.3x the frames/s and 0.6x the memory, ``benchmarks/cpu_malloc.py``).

    Returns
    -------
    int
    """
    import torch

    from .malloc import supported as malloc_keeps_memory

    if device.type != "cpu" or noise_mode == "random":
        return 1
    if block_bytes is not None and block_bytes > CPU_BLOCK_BYTES and malloc_keeps_memory():
        return 1
    return max(1, min(torch.get_num_threads(), 8))


class FrameBatches:
    """uint8 frame batches of clip frames ``[start, stop)`` on the walk's device, in order.

    Batches sit on a grid of the batch size counted from frame 0, so a range that starts on it is cut into the
    very batches of a full render (the generator's float results depend on the batch). With ``workers > 1``
    (CPU) that many batches are generated at once in threads, each single-threaded; torch's thread count is
    restored afterwards. An out-of-memory error halves the batch size and renders the failed batch again.

    Parameters
    ----------
    generator, walk
        The generator and the :class:`~musicvideo.motion.walk.LatentWalk` (on the same device).
    start, stop : int
        Frame range.
    batch_size : int
        Frames per batch at the start; :attr:`batch_size` holds the size in use.
    noise_mode : str
        Passed to ``synthesis``.
    workers : int or None
        Batches generated at once; None chooses as ``render`` does (:func:`cpu_generator_workers`, given the
        largest feature map of a batch).
    log : callable, optional
        Receives one-line notices (batch size halved).
    convert : callable
        Generator images -> uint8 frames: :func:`to_uint8_nhwc` (RGB ``[B, H, W, 3]``) or :func:`to_yuv420`.
    """

    def __init__(self, generator: Any, walk: Any, *, start: int, stop: int, batch_size: int,
                 noise_mode: str = "const", workers: int | None = 1, log: Callable[[str], None] | None = None,
                 convert: Callable[[torch.Tensor], torch.Tensor] = to_uint8_nhwc) -> None:
        self.generator, self.walk, self.start, self.stop = generator, walk, start, stop
        if workers is None:
            image_bytes = largest_activation_bytes(generator)
            workers = cpu_generator_workers(walk.device, noise_mode, image_bytes and image_bytes * batch_size)
        self.batch_size, self.noise_mode, self.workers, self.log = batch_size, noise_mode, max(1, workers), log
        self.convert = convert

    def _end(self, pos: int) -> int:
        return min((pos // self.batch_size + 1) * self.batch_size, self.stop)

    def _halve(self) -> None:
        """After an out-of-memory error (called outside the ``except`` block, so the failed batch's tensors held
        by the traceback are freed before the cache is emptied)."""
        import torch

        device = self.walk.device
        if self.batch_size == 1:
            raise MusicVideoError(f"out of {device.type} memory even at batch size 1 "
                                  "(render a smaller --size, or use --device cpu)") from None
        if device.type == "cuda":
            torch.cuda.empty_cache()
        self.batch_size = max(1, self.batch_size // 2)
        if self.log is not None:
            self.log(f"out of memory: batch size halved to {self.batch_size}")

    def _submit(self, pool: Any, start: int, stop: int) -> Any:
        """The batch ``[start, stop)`` as a future: running in ``pool``, or computed here and now without one."""
        from concurrent.futures import Future

        if pool is not None:
            return pool.submit(_generate, self.generator, self.walk, start, stop, self.noise_mode, self.convert)
        future: Future = Future()
        try:
            future.set_result(_generate(self.generator, self.walk, start, stop, self.noise_mode, self.convert))
        except Exception as exc:  # noqa: BLE001 - re-raised by result(), as from a pool
            future.set_exception(exc)
        return future

    def __iter__(self) -> Iterator[torch.Tensor]:
        import torch
        from concurrent.futures import ThreadPoolExecutor

        pool, threads = None, torch.get_num_threads()
        if self.workers > 1:
            torch.set_num_threads(1)
            pool = ThreadPoolExecutor(self.workers, thread_name_prefix="musicvideo-generator")
        pending: collections.deque = collections.deque()  # (end, future) in frame order
        try:
            pos = queued = self.start
            while pos < self.stop:
                # with a pool, one batch more than workers waits in its queue: a worker that finishes out of
                # order starts the next batch at once instead of idling until the oldest one is taken
                while queued < self.stop and len(pending) < self.workers + (pool is not None):
                    end = self._end(queued)
                    pending.append((end, self._submit(pool, queued, end)))
                    queued = end
                end, future = pending.popleft()
                frames = None
                try:
                    frames = future.result()
                except Exception as exc:
                    if not _is_out_of_memory(exc):
                        raise
                if frames is None:  # out of memory: drop what was queued after it (the grid changes) and retry
                    for _, later in pending:
                        later.cancel()
                        with contextlib.suppress(Exception):
                            later.result()
                    pending.clear()
                    del future
                    self._halve()
                    queued = pos
                    continue
                yield frames
                pos = end
        finally:
            for _, future in pending:
                future.cancel()
            if pool is not None:
                pool.shutdown(wait=True)
                torch.set_num_threads(threads)


def stream_frames(generator: Any, walk: Any, writer: Any, *, start: int, stop: int, batch_size: int,
                  noise_mode: str = "const", progress: Any = None, log: Callable[[str], None] | None = None,
                  writer_keeps_frames: bool = False, workers: int | None = None) -> int:
    """Render frames ``[start, stop)`` of ``walk`` through ``generator`` into ``writer``.

    Parameters
    ----------
    generator : Generator
        On the walk's device.
    walk : LatentWalk
        Supplies the ws of each batch.
    writer : VideoWriter
        Receives uint8 batches (``write(frames, copy=False)``): RGB from :func:`to_uint8_nhwc`, or I420 planes from
        :func:`to_yuv420` when its ``input_format`` is ``'yuv420p'``.
    start, stop : int
        Frame range.
    batch_size : int
        Frames per batch at the start; halved on an out-of-memory error (the batch is retried). Batches are
        aligned to multiples of it, so a range starting on a multiple renders bit-identical frames to a full render.
    noise_mode : str
        Passed to ``synthesis``.
    progress : tqdm, optional
        Updated with encoded frames.
    log : callable, optional
        Receives one-line notices (batch size halved).
    writer_keeps_frames : bool
        The writer holds on to the arrays it is given (a queueing writer): hand it copies.
    workers : int, optional
        Batches generated at once; default as :class:`FrameBatches` chooses for ``workers=None``.

    Returns
    -------
    int
        The batch size in use at the end.
    """
    device = walk.device
    if progress is None:
        from tqdm import tqdm

        progress = tqdm(disable=True)
    pool = None
    if device.type == "cuda":
        pool = _HostBuffers(device, batch_size, QUEUE_BATCHES + 2)
    convert = to_yuv420 if getattr(writer, "input_format", "rgb24") == "yuv420p" else to_uint8_nhwc
    batches = FrameBatches(generator, walk, start=start, stop=stop, batch_size=batch_size, noise_mode=noise_mode,
                           workers=workers, log=log, convert=convert)
    encoder = _EncoderThread(writer, progress, QUEUE_BATCHES, writer_keeps_frames=writer_keeps_frames)
    encoder.start()
    try:
        # closing: on an error the generator threads are joined and torch's thread count restored right away
        with contextlib.closing(iter(batches)) as frame_batches:
            for frames in frame_batches:
                if pool is not None:
                    encoder.put(pool.copy(frames))
                else:
                    encoder.put((frames.cpu().numpy(), None, None))
        encoder.finish()
    except BaseException:
        encoder.cancel()
        raise
    return batches.batch_size


def _parallel_encoding(device: Any, video: Any, n_frames: int) -> bool:
    """Encode with several ffmpeg processes at once: a CUDA render outpaces one CPU encoder (no NVENC) when there
    are cores to spare; on a CPU render the generator is the bottleneck and the cores are busy already."""
    from .video.codecs import resolve_encoder

    if device.type != "cuda" or (os.cpu_count() or 1) < 8 or n_frames < 256:
        return False
    return not resolve_encoder(video).endswith("_nvenc")


# ---------------------------------------------------------------- entry point


def render(song: str | Path, *, checkpoint: str | Path | None = None, output: str | Path | None = None,
           config: RenderConfig | None = None, seeds_file: str | Path | None = None, overwrite: bool = False,
           progress: bool = True, frame_range: tuple[int, int] | None = None, audio: bool = True,
           generator: Any = None) -> RenderResult:
    """Render a music video: the song's audio drives a walk through the generator's latent space.

    Parameters
    ----------
    song : str or Path
        The audio file (mp3, wav, flac, ogg, m4a, ...).
    checkpoint : str or Path, optional
        A StyleGAN2 checkpoint; None uses the embedded default network (ignored when ``generator`` is given).
    output : str or Path, optional
        The video to write; default ``<song stem>.mp4`` (``.mov`` for prores/dnxhr) in the current directory.
        Without a codec in ``config`` its extension decides: ``.mp4`` H.264, ``.mov`` ProRes.
    config : RenderConfig, optional
        Every knob (fps, size, clip, seed, device, batch size, analysis, curves, walk, video).
    seeds_file : str or Path, optional
        JSON keyframe seeds (``{"seeds": [...]}`` from ``musicvideo select``, or a plain list).
    overwrite : bool
        Replace an existing output.
    progress : bool
        Show a progress bar (frames, fps, ETA) on stderr.
    frame_range : tuple of int, optional
        Render only clip frames ``[a, b)`` (for split renders); the file holds exactly those frames, with the
        matching stretch of audio when ``audio`` is true.
    audio : bool
        Mux the song's audio (trimmed to the clip or range).
    generator : Generator, optional
        An already loaded generator (moved to the configured device); saves loading it again in batch work.

    Returns
    -------
    RenderResult

    Raises
    ------
    MusicVideoError
        For bad input, before any work starts (missing song/checkpoint, unwritable or existing output, an output
        without .mp4/.mov, fps or size out of range, a clip that runs past the end of the song, a device that is
        not there): one line, the same the command line prints, naming the flag to change.

    Warns
    -----
    MusicVideoWarning
        When the output is more than twice the generator's resolution (one line naming both sizes).

    Examples
    --------
    >>> import musicvideo                                                             # doctest: +SKIP
    >>> musicvideo.render("song.mp3", output="video.mp4").path                        # doctest: +SKIP
    PosixPath('video.mp4')
    """
    t0 = time.perf_counter()
    plan = plan_render(song, checkpoint=checkpoint, output=output, config=config, seeds_file=seeds_file,
                       overwrite=overwrite, frame_range=frame_range)
    import torch

    config = plan.config
    device = plan.device

    if generator is None:
        from .generator import load_generator

        generator = load_generator(plan.checkpoint, device=str(device))
    else:
        generator = generator.to(device)
    generator.eval()
    in_w, in_h = int(generator.img_width), int(generator.img_height)
    width, height = (plan.width, plan.height) if plan.width is not None else (in_w, in_h)
    if plan.width is None:
        _check_size(width, height, config, ("the generator's width", "the generator's height"))
    notice = upscale_notice((in_w, in_h), (width, height))
    if notice:
        import warnings

        warnings.warn(MusicVideoWarning(notice), stacklevel=2)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    batch_size = config.batch_size or auto_batch_size(device, in_h, in_w,
                                                      image_bytes=largest_activation_bytes(generator))

    # ---- analysis and the walk (O(N) floats)
    from .audio import analyze, reactive_curves
    from .motion.keyframes import song_seed
    from .motion.walk import LatentWalk
    from .video.encoder import AudioSource, VideoWriter

    features = analyze(plan.song, fps=plan.fps, start_s=plan.start_s, duration_s=plan.duration_s,
                       config=config.analysis)
    curves = reactive_curves(features, config.curves)
    if len(curves.speed) != plan.n_frames:
        raise RuntimeError(f"analysis gave {len(curves.speed)} frames, expected {plan.n_frames}")
    seed = config.seed if config.seed is not None else song_seed(plan.song)  # default: the song's own
    walk = LatentWalk(generator, curves, config.walk, seed=seed, device=device)

    a, b = plan.frame_range
    source = None
    if audio:
        seg_start = plan.start_s + float(Fraction(a) / plan.fps)
        seg_end = min(plan.start_s + float(Fraction(b) / plan.fps), plan.start_s + plan.duration_s)
        source = AudioSource(plan.song, start_s=seg_start, duration_s=seg_end - seg_start)

    from tqdm import tqdm

    bar = tqdm(total=b - a, unit="frame", desc=plan.output.name, disable=not progress, dynamic_ncols=True,
               file=sys.stderr, smoothing=0.1)
    video = config.video
    if device.type == "cpu" and not video.threads:
        # the generator needs the cores on a CPU render; an x264 with a thread per core fights it for them
        video = dataclasses.replace(video, threads=max(1, (os.cpu_count() or 1) // 4))
    yuv = device_converts_yuv(device, video, (in_w, in_h), (width, height))
    writer_args = dict(width=width, height=height, fps=plan.fps, config=video, audio=source, overwrite=overwrite,
                       input_width=in_w, input_height=in_h, input_format="yuv420p" if yuv else "rgb24")
    parallel = _parallel_encoding(device, config.video, b - a)
    if parallel:
        from .video.segmented import SegmentedVideoWriter

        writer = SegmentedVideoWriter(plan.output, **writer_args)
    else:
        writer = VideoWriter(plan.output, queue_batches=0, **writer_args)
    try:
        # on the CPU the generator's large activations would be mmapped and page-faulted afresh every batch
        with writer, keep_freed_memory(device.type == "cpu"):
            batch_size = stream_frames(generator, walk, writer, start=a, stop=b, batch_size=batch_size,
                                       noise_mode=config.walk.noise_mode, progress=bar, log=bar.write,
                                       writer_keeps_frames=parallel)
            path = writer.close()
    finally:
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone: keep the exception that ended us
            bar.close()
    elapsed = time.perf_counter() - t0
    return RenderResult(path=Path(path), n_frames=b - a, fps=float(plan.fps), width=width, height=height,
                        elapsed_s=elapsed, frames_per_s=(b - a) / elapsed if elapsed > 0 else 0.0,
                        device=str(device), batch_size=batch_size, frame_range=(a, b), fps_exact=plan.fps)


class _CallableModule(types.ModuleType):
    """``musicvideo.render`` is both this module and the function: importing the submodule rebinds the package
    attribute to the module, so the module forwards calls to :func:`render` and either way it can be called."""

    def __call__(self, *args: Any, **kwargs: Any) -> RenderResult:
        return render(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
