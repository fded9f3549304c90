"""Shared test helpers of the motion and render tests: a tiny generator, synthesized curves and songs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from musicvideo.generator.stylegan2 import Generator, GeneratorConfig


def tiny_generator(seed: int = 0) -> Generator:
    """A 32 px StyleGAN2 with random weights (milliseconds per frame on a CPU)."""
    torch.manual_seed(seed)
    return Generator(GeneratorConfig(z_dim=16, w_dim=16, img_resolution=32, channel_base=256, channel_max=32,
                                     mapping_layers=2))


def curves(speed, loudness=None, pulse=None, fps: float = 30.0) -> SimpleNamespace:
    """Stand-in ReactiveCurves: only the fields the walk reads."""
    speed = np.asarray(speed, dtype=np.float32)
    n = len(speed)
    zeros = np.zeros(n, dtype=np.float32)
    return SimpleNamespace(fps=fps, times_s=np.arange(n) / fps, speed=speed,
                           loudness=zeros if loudness is None else np.asarray(loudness, dtype=np.float32),
                           pulse=zeros if pulse is None else np.asarray(pulse, dtype=np.float32),
                           onset=zeros, beat=zeros)


def write_loud_quiet_song(path: Path, *, seconds: float = 4.0, section_s: float = 1.0,
                          sample_rate: int = 22050) -> Path:
    """The audio stage's synthesized song: quiet and loud sections (quiet first), 30 dB apart; returns the WAV."""
    from musicvideo.audio.synth import loud_quiet_song, write_wav

    samples = loud_quiet_song(seconds, sample_rate=sample_rate, section_s=section_s)
    return write_wav(path, samples, sample_rate)


def loud_sections(n_frames: int, fps: float, section_s: float = 1.0) -> np.ndarray:
    """True for the frames of the loud sections of :func:`write_loud_quiet_song`."""
    t = np.arange(n_frames) / fps
    return (t // section_s) % 2 == 1


def lossless(config, **changes):
    """A copy of a RenderConfig writing exact RGB H.264 (decoded frames equal the generator's uint8 frames)."""
    import dataclasses

    video = dataclasses.replace(config.video, lossless=True, preset="ultrafast")
    return dataclasses.replace(config, video=video, **changes)


def leftovers(directory: Path) -> list[str]:
    """Temporary files left in a directory (the atomic-output naming: ``.NAME.tmp-XXXX.ext``)."""
    return sorted(p.name for p in Path(directory).iterdir() if ".tmp-" in p.name)
