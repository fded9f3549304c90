"""Shared helpers of the select and batch tests: a tiny native checkpoint, a short song, plans, drawn images."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch

from musicvideo.generator.stylegan2 import Generator, GeneratorConfig

TINY = dict(z_dim=16, w_dim=16, img_resolution=32, channel_base=256, channel_max=32, mapping_layers=2)


def tiny_generator(seed: int = 0) -> Generator:
    """A 32 px StyleGAN2 with random weights."""
    torch.manual_seed(seed)
    return Generator(GeneratorConfig(**TINY)).eval()


def tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """Save the tiny generator in the native format; returns the path."""
    from musicvideo.generator import save_native

    return save_native(tiny_generator(seed), path, overwrite=True)


def write_song(path: Path, seconds: float = 4.0, sample_rate: int = 22050) -> Path:
    """A synthesized song with loud and quiet sections (the audio stage's own synth)."""
    from musicvideo.audio.synth import loud_quiet_song, write_wav

    return write_wav(path, loud_quiet_song(seconds, sample_rate=sample_rate, section_s=1.0), sample_rate)


def write_plan(folder: Path, body: str, *, name: str = "plan.toml") -> Path:
    """Write a plan file (dedented) into ``folder``."""
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


THREE_CLIPS = """
    song = "song.wav"
    checkpoint = "tiny.safetensors"
    name = "test cut"

    [defaults]
    fps = 12
    size = 32
    codec = "prores"

    [[clips]]
    name = "intro"
    start = 0.0
    duration = 1.0
    seeds = [1, 2]

    [[clips]]
    name = "middle"
    start = 1.0
    duration = 1.0
    seeds = [3, 4]

    [[clips]]
    name = "end"
    start = 2.5
    duration = 1.0
    seeds = [5]
"""


def batch_folder(folder: Path, plan: str = THREE_CLIPS) -> Path:
    """A folder with song.wav (4 s), tiny.safetensors and plan.toml; returns the plan path."""
    write_song(folder / "song.wav")
    tiny_checkpoint(folder / "tiny.safetensors")
    return write_plan(folder, plan)


# ---------------------------------------------------------------- images of known look


def solid(rgb: tuple[int, int, int], size: int = 64) -> np.ndarray:
    """A uint8 image of one colour."""
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (size, size, 3)).copy()


def drawn_face(size: int = 128, background: tuple[int, int, int] = (40, 90, 160)) -> np.ndarray:
    """A frontal face the Haar cascade finds: shaded skin oval, brows, dark eyes, nose shadow, mouth (blurred)."""
    from PIL import Image, ImageDraw, ImageFilter

    im = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(im)
    s = size / 256

    def oval(box, colour):
        draw.ellipse([v * s for v in box], fill=colour)

    oval((58, 30, 198, 220), (225, 185, 150))                                    # face
    draw.rectangle([80 * s, 78 * s, 118 * s, 86 * s], fill=(60, 40, 30))          # brows
    draw.rectangle([138 * s, 78 * s, 176 * s, 86 * s], fill=(60, 40, 30))
    oval((84, 96, 114, 114), (30, 20, 20))                                        # eyes
    oval((142, 96, 172, 114), (30, 20, 20))
    draw.polygon([(128 * s, 110 * s), (116 * s, 152 * s), (140 * s, 152 * s)], fill=(190, 140, 110))  # nose
    oval((100, 168, 156, 184), (120, 40, 40))                                     # mouth
    return np.asarray(im.filter(ImageFilter.GaussianBlur(2 * s)))


class ColourSource:
    """Stand-in generator whose images are soft gradients of a seed-dependent hue (varied, known colours).

    It follows the Generator interface select_seeds uses: ``z_dim``, ``c_dim``, ``mapping`` and ``synthesis``.
    The hue of each image is drawn from its z, so different seeds give different colours.
    """

    z_dim = 8
    c_dim = 0

    def mapping(self, z, c=None, truncation_psi=1.0):
        return z[:, None, :]

    def synthesis(self, ws, noise_mode="const"):
        import colorsys

        z = ws[:, 0, :]
        out = []
        ramp = torch.linspace(0.75, 1.0, 32)
        for row in z:
            hue = float(torch.sigmoid(row[0] * 1.7))  # 0..1 over the hue circle (HSV)
            r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.9)
            rgb = torch.tensor([r, g, b])[:, None, None] * ramp[None, :, None] * torch.ones(1, 1, 32)
            out.append(rgb * 2 - 1)
        return torch.stack(out)
