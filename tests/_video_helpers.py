"""Shared helpers of the video tests: synthesized songs (stdlib ``wave``) and frames with known content."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, *, duration_s: float = 3.0, sample_rate: int = 48000, channels: int = 2,
              sample_width: int = 2) -> Path:
    """A tone per channel (440 Hz * (channel + 1)) at half scale, as PCM WAV."""
    t = np.arange(int(round(duration_s * sample_rate))) / sample_rate
    tones = np.stack([0.5 * np.sin(2 * np.pi * 440 * (c + 1) * t) for c in range(channels)], axis=1)
    scale = 2 ** (8 * sample_width - 1) - 1
    ints = np.round(tones * scale).astype("<i4")
    if sample_width == 2:
        data = ints.astype("<i2").tobytes()
    else:  # 24-bit: the low three bytes of each little-endian int32
        data = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(sample_width)
        w.setframerate(sample_rate)
        w.writeframes(data)
    return path


def gradient_frames(n: int, height: int = 64, width: int = 64, *, seed: int = 0) -> np.ndarray:
    """Smooth, moving colour gradients (compress well, so lossy round trips stay close): uint8 [n, h, w, 3]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phases = rng.uniform(0, 2 * np.pi, size=3)
    frames = np.empty((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        for c in range(3):
            wave_ = np.sin(x / width * 2 * np.pi + y / height * np.pi * (c + 1) + phases[c] + 0.2 * i)
            frames[i, :, :, c] = np.clip(128 + 100 * wave_, 0, 255).astype(np.uint8)
    return frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 arrays."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def leftovers(directory: Path) -> list[str]:
    """Files in ``directory`` that look like temporaries of an output."""
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def sigint_default() -> None:
    """``preexec_fn`` for a child a test interrupts with SIGINT.

    A shell that starts the tests in the background (``cmd &`` in a script) ignores SIGINT for them, and a child
    inherits that: it would never see the signal. The child gets the default back, so Python turns SIGINT into
    KeyboardInterrupt as it does in a terminal.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
