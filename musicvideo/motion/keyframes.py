"""Seeds -> z -> w keyframes: the loop of latents the walk moves along.

Every keyframe comes from one integer seed. Its latent ``z`` is ``numpy.random.RandomState(seed).randn(z_dim)``
(NVlabs' ``generate.py`` convention, and what ``musicvideo select`` shows for a seed), drawn on the CPU and then
moved to the device, so the same seed gives the same ``z`` on every machine and CPU and GPU renders agree up to
float noise. The second draw from the same seed is the keyframe's *pulse target*: the latent a beat pushes the
image toward. Keyframes are mapped to ``w`` without truncation; the walk truncates per frame, so that truncation can
follow the music.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import ConfigError

SEED_MAX = 2**32 - 1  # seeds are unsigned 32-bit, like NVlabs' generate.py and `musicvideo select`


@dataclass
class Keyframes:
    """The keyframe loop of a walk, on the generator's device.

    Attributes
    ----------
    seeds : list of int
        One seed per keyframe.
    z, pulse_z : torch.Tensor
        ``[K, z_dim]`` input latents of the keyframes and of their pulse targets.
    w, pulse_w : torch.Tensor
        ``[K, num_ws, w_dim]`` the same through the mapping network (not truncated).
    """

    seeds: list[int]
    z: torch.Tensor
    pulse_z: torch.Tensor
    w: torch.Tensor
    pulse_w: torch.Tensor

    def __len__(self) -> int:
        return len(self.seeds)


def keyframe_seeds(seed: int, n_keyframes: int, seeds: Sequence[int] | None = None) -> list[int]:
    """The seeds of the keyframe loop.

    Parameters
    ----------
    seed : int
        Seed of the whole loop, used when ``seeds`` is not given.
    n_keyframes : int
        Number of keyframes derived from ``seed``.
    seeds : sequence of int, optional
        Explicit keyframe seeds (e.g. from ``musicvideo select``); they win over ``seed`` and ``n_keyframes``.

    Returns
    -------
    list of int
        ``seeds`` itself, or ``n_keyframes`` distinct 32-bit seeds derived from ``seed`` with numpy's SeedSequence
        (so seed 1 does not share keyframes with seed 2).
    """
    if seeds is not None and len(seeds) > 0:
        out = [int(s) for s in seeds]
        for s in out:
            if not 0 <= s <= SEED_MAX:
                raise ConfigError(f"keyframe seed {s} is out of range 0..{SEED_MAX}")
        return out
    if n_keyframes < 1:
        raise ConfigError(f"walk.n_keyframes must be at least 1, got {n_keyframes}")
    if not 0 <= int(seed) <= SEED_MAX:
        raise ConfigError(f"seed must be in 0..{SEED_MAX}, got {seed}")
    state = np.random.SeedSequence(int(seed)).generate_state(n_keyframes, dtype=np.uint32)
    return [int(s) for s in state]


def song_seed(song: str | Path) -> int:
    """The default keyframe seed of a song: derived from its content (the bytes of the file), so a song always
    starts on the same image and two songs on different ones.

    Parameters
    ----------
    song : str or Path
        The audio file.

    Returns
    -------
    int
        A seed in ``0..2**32 - 1``.
    """
    from ..audio.cache import file_hash

    return int(file_hash(song)[:8], 16)


def z_from_seed(seed: int, z_dim: int, *, draws: int = 1) -> torch.Tensor:
    """The input latent(s) of one seed: ``draws`` consecutive ``RandomState(seed).randn(z_dim)`` vectors.

    Parameters
    ----------
    seed : int
        The seed.
    z_dim : int
        Latent size.
    draws : int
        How many consecutive vectors to draw; the first is the keyframe, the second its pulse target.

    Returns
    -------
    torch.Tensor
        ``[draws, z_dim]`` float32 on the CPU. The first row is the same whatever ``draws`` is.
    """
    rng = np.random.RandomState(int(seed))
    return torch.from_numpy(np.stack([rng.randn(z_dim) for _ in range(draws)]).astype(np.float32))


def _label(generator: torch.nn.Module, batch: int, device: torch.device) -> torch.Tensor | None:
    """Class label for conditional models: class 0 (one-hot); None for unconditional ones."""
    c_dim = int(getattr(generator, "c_dim", 0) or 0)
    if c_dim == 0:
        return None
    c = torch.zeros(batch, c_dim, device=device)
    c[:, 0] = 1
    return c


def map_z(generator: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """``z [B, z_dim]`` -> ``w [B, num_ws, w_dim]`` through the mapping network, without truncation.

    Each row is mapped on its own, so a latent's ``w`` does not depend on which other latents share its batch
    (BLAS picks different kernels for different batch sizes; split renders need bit-equal latents).
    """
    rows = []
    with torch.inference_mode():
        for i in range(z.shape[0]):
            zi = z[i:i + 1]
            rows.append(generator.mapping(zi, _label(generator, 1, zi.device), truncation_psi=1.0))
    return torch.cat(rows, dim=0)


def make_keyframes(generator: torch.nn.Module, seeds: Sequence[int], *, device: torch.device | str) -> Keyframes:
    """Keyframe latents and pulse targets for ``seeds``.

    Parameters
    ----------
    generator : Generator
        Supplies ``z_dim`` and the mapping network; must already be on ``device``.
    seeds : sequence of int
        One seed per keyframe (see :func:`keyframe_seeds`).
    device : torch.device or str
        Where the latents live.

    Returns
    -------
    Keyframes
    """
    device = torch.device(device)
    z_dim = int(generator.z_dim)
    both = torch.stack([z_from_seed(s, z_dim, draws=2) for s in seeds])  # [K, 2, z_dim]
    z = both[:, 0].to(device)
    pulse_z = both[:, 1].to(device)
    return Keyframes(seeds=list(seeds), z=z, pulse_z=pulse_z, w=map_z(generator, z), pulse_w=map_z(generator, pulse_z))
