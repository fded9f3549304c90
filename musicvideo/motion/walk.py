"""ReactiveCurves -> per-frame latents, batch by batch.

The walk moves along a loop of keyframe latents (:mod:`musicvideo.motion.keyframes`). Its position, in keyframe
segments, is the running integral of the speed curve, so loud passages travel further per frame than quiet ones:
``position[i] = sum(speed[:i]) / fps``. Between keyframes the latent is interpolated (Catmull-Rom by default, so
keyframes never show as kinks). On top of that:

- a *pulse*: the latent is pushed toward the keyframe's pulse target by ``pulse_strength * curves.pulse[i]``; the
  pulse curve jumps on beats/onsets (less in quiet passages, see ``curves.quiet_pulse``) and decays with the
  curves' release time;
- *truncation* ``psi = truncation_psi + truncation_loudness * loudness[i]``: loud frames stray further from the
  average image, quiet frames settle toward it;
- *noise strength* ``noise_base + noise_loudness * loudness[i]``: the fine texture shimmers more when it is loud.

Only the per-frame position, loudness and pulse arrays are kept (O(N) floats); latents are made on demand for any
frame range ``[a, b)`` and are bit-identical to the same frames of a full render, so a song can be split over workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Literal

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:  # torch is imported where latents are made, so reading a config stays light
    import torch

    from .keyframes import Keyframes


@dataclass
class WalkConfig:
    """Knobs of the latent walk (the ``[walk]`` table of a config file).

    Attributes
    ----------
    space : {'w', 'z'}
        Interpolate keyframes in w space (straight lines, default; smooth and faithful) or in z space (great-circle
        slerp, then the mapping network per frame; livelier, less predictable).
    n_keyframes : int
        Keyframes in the loop when ``seeds`` is not given.
    seeds : list of int or None
        Explicit keyframe seeds (e.g. from ``musicvideo select``); overrides ``n_keyframes`` and the render seed.
    loop : bool
        After the last keyframe, continue to the first (True) or stop and hold on the last one (False).
    interpolation : {'cubic', 'smoothstep', 'linear'}
        Path between keyframes: Catmull-Rom spline (smooth speed through keyframes), ease-in/out per segment
        (slows to a stop at every keyframe), or straight (visible kinks at keyframes).
    speed_scale : float
        Multiplies the speed curve (keyframe segments per second); 2.0 walks twice as far for the same music.
    pulse_strength : float
        How far a full pulse moves the latent toward the pulse target (0 = no pulse, 1 = all the way).
    truncation_psi : float
        Truncation at silence: 1 = full variety, lower = closer to the average image (cleaner, blander).
    truncation_loudness : float
        Added to ``truncation_psi`` in proportion to loudness (0..1), so loud frames are more varied.
    truncation_cutoff : int or None
        Truncate only the first N style layers (coarse structure); None truncates all layers.
    noise_mode : {'const', 'random', 'none'}
        Per-pixel noise inputs: fixed buffers (reproducible, default), fresh noise every frame (flickers, not
        reproducible) or none (smoother, plastic).
    noise_base : float
        Noise-input strength at silence (1 = as trained).
    noise_loudness : float
        Added to ``noise_base`` in proportion to loudness.
    """

    space: Literal["w", "z"] = "w"
    n_keyframes: int = 8
    seeds: list[int] | None = None
    loop: bool = True
    interpolation: Literal["cubic", "smoothstep", "linear"] = "cubic"
    speed_scale: float = 1.0
    pulse_strength: float = 0.35
    truncation_psi: float = 0.7
    truncation_loudness: float = 0.2
    truncation_cutoff: int | None = None
    noise_mode: Literal["const", "random", "none"] = "const"
    noise_base: float = 0.4
    noise_loudness: float = 0.6

    def __post_init__(self) -> None:
        if self.space not in ("w", "z"):
            raise ConfigError(f"walk.space must be 'w' or 'z', got {self.space!r}")
        if self.interpolation not in ("cubic", "smoothstep", "linear"):
            raise ConfigError(f"walk.interpolation must be 'cubic', 'smoothstep' or 'linear', "
                              f"got {self.interpolation!r}")
        if self.noise_mode not in ("const", "random", "none"):
            raise ConfigError(f"walk.noise_mode must be 'const', 'random' or 'none', got {self.noise_mode!r}")
        if self.n_keyframes < 1:
            raise ConfigError(f"walk.n_keyframes must be at least 1, got {self.n_keyframes}")
        if self.seeds is not None and len(self.seeds) == 0:
            self.seeds = None
        for name in ("speed_scale", "pulse_strength", "truncation_psi", "truncation_loudness",
                     "noise_base", "noise_loudness"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"walk.{name} must be a finite number >= 0, got {value}")
        if self.pulse_strength > 1:
            raise ConfigError(f"walk.pulse_strength must be in 0..1, got {self.pulse_strength}")
        if self.truncation_psi + self.truncation_loudness > 2:
            raise ConfigError("walk.truncation_psi + walk.truncation_loudness must be <= 2 "
                              f"(got {self.truncation_psi} + {self.truncation_loudness}); 1 is the trained variety")
        if self.truncation_cutoff is not None and self.truncation_cutoff < 1:
            raise ConfigError(f"walk.truncation_cutoff must be >= 1 or unset, got {self.truncation_cutoff}")


@dataclass
class WalkBatch:
    """The latents of frames ``[start, stop)``.

    Attributes
    ----------
    start, stop : int
        Frame range (clip frame indices).
    ws : torch.Tensor
        ``[stop - start, num_ws, w_dim]`` truncated latents on the walk's device, ready for ``synthesis``.
    noise_scale : torch.Tensor
        ``[stop - start]`` noise-input strength per frame, on the device.
    """

    start: int
    stop: int
    ws: torch.Tensor
    noise_scale: torch.Tensor

    def __len__(self) -> int:
        return self.stop - self.start


def positions_from_speed(speed: np.ndarray, fps: float, speed_scale: float = 1.0) -> np.ndarray:
    """Walk position of every frame, in keyframe segments: ``sum(speed[:i]) / fps`` (float64, starts at 0).

    Parameters
    ----------
    speed : ndarray
        Per-frame speed in keyframe segments per second (>= 0).
    fps : float
        Frame rate.
    speed_scale : float
        Multiplier of the speed.

    Returns
    -------
    ndarray
        float64 array of the same length as ``speed``.
    """
    step = np.nan_to_num(np.asarray(speed, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    step = np.maximum(step, 0.0) * (float(speed_scale) / float(fps))
    pos = np.zeros(len(step), dtype=np.float64)
    if len(step) > 1:
        np.cumsum(step[:-1], out=pos[1:])
    return pos


def interpolation_weights(pos: np.ndarray, n_keyframes: int, *, loop: bool,
                          interpolation: str) -> tuple[np.ndarray, np.ndarray]:
    """Which four keyframes each position blends, and with what weights.

    Parameters
    ----------
    pos : ndarray
        float64 positions in keyframe segments.
    n_keyframes : int
        Keyframes in the loop.
    loop : bool
        Wrap around after the last keyframe, or hold on it.
    interpolation : str
        'cubic' (uniform Catmull-Rom), 'smoothstep' or 'linear'.

    Returns
    -------
    index : ndarray
        int64 ``[n, 4]`` keyframe indices (previous, from, to, next).
    weight : ndarray
        float64 ``[n, 4]`` weights summing to 1.
    """
    k = n_keyframes
    pos = np.asarray(pos, dtype=np.float64)
    if not loop:
        pos = np.clip(pos, 0.0, k - 1)
    seg = np.floor(pos)
    t = pos - seg
    seg = seg.astype(np.int64)
    offsets = np.array([-1, 0, 1, 2], dtype=np.int64)
    index = seg[:, None] + offsets[None, :]
    index = np.mod(index, k) if loop else np.clip(index, 0, k - 1)
    weight = np.zeros((len(pos), 4), dtype=np.float64)
    if interpolation == "cubic":
        t2, t3 = t * t, t * t * t
        weight[:, 0] = 0.5 * (-t3 + 2 * t2 - t)
        weight[:, 1] = 0.5 * (3 * t3 - 5 * t2 + 2)
        weight[:, 2] = 0.5 * (-3 * t3 + 4 * t2 + t)
        weight[:, 3] = 0.5 * (t3 - t2)
    else:
        s = t * t * (3 - 2 * t) if interpolation == "smoothstep" else t
        weight[:, 1] = 1 - s
        weight[:, 2] = s
    return index, weight


def _blend(points: torch.Tensor, index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``sum_j weight[:, j] * points[index[:, j]]`` with one rounding per operation (no fused kernels), so every
    frame's result is the same whatever batch it is computed in."""
    shape = (-1,) + (1,) * (points.dim() - 1)
    out = points[index[:, 0]] * weight[:, 0].view(shape)
    for j in range(1, 4):
        out = out + points[index[:, j]] * weight[:, j].view(shape)
    return out


def _slerp_row(a: torch.Tensor, b: torch.Tensor, s: float) -> torch.Tensor:
    """Spherical interpolation of two latent vectors (great circle between their directions, norms lerped)."""
    import torch

    na, nb = a.norm(), b.norm()
    ua, ub = a / na, b / nb
    omega = torch.arccos(torch.clamp((ua * ub).sum(), -1.0, 1.0))
    so = torch.sin(omega)
    if float(so) < 1e-6:  # (anti)parallel: the great circle is undefined, a straight line is as good
        direction = ua * (1 - s) + ub * s
        direction = direction / direction.norm().clamp_min(1e-12)
    else:
        direction = ua * (torch.sin((1 - s) * omega) / so) + ub * (torch.sin(s * omega) / so)
    return direction * (na * (1 - s) + nb * s)


class LatentWalk:
    """Per-frame latents of a clip, made on demand for any frame range.

    Parameters
    ----------
    generator : Generator
        Supplies the mapping network, ``w_avg`` and sizes; must be on ``device``.
    curves : ReactiveCurves
        ``fps``, ``loudness`` (0..1), ``pulse`` (0..1) and ``speed`` (keyframe segments per second), length N.
    config : WalkConfig, optional
        The walk's knobs (defaults when None).
    seed : int
        Seed of the keyframe loop when ``config.seeds`` is not set.
    device : torch.device or str
        Where the latents are made.

    Examples
    --------
    >>> walk = LatentWalk(G, curves, WalkConfig(), seed=1, device="cpu")       # doctest: +SKIP
    >>> for batch in walk.batches(8):                                          # doctest: +SKIP
    ...     images = G.synthesis(batch.ws, noise_mode="const", noise_scale=batch.noise_scale)
    """

    def __init__(self, generator: Any, curves: Any, config: WalkConfig | None = None, *, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        import torch

        from .keyframes import keyframe_seeds, make_keyframes

        self.config = config or WalkConfig()
        self.generator = generator
        self.device = torch.device(device)
        self.fps = float(curves.fps)
        speed = np.asarray(curves.speed)
        n = len(speed)
        self.loudness = np.clip(np.nan_to_num(np.asarray(curves.loudness, dtype=np.float64)), 0.0, 1.0)
        self.pulse = np.clip(np.nan_to_num(np.asarray(curves.pulse, dtype=np.float64)), 0.0, 1.0)
        if len(self.loudness) != n or len(self.pulse) != n:
            raise ValueError(f"curves have different lengths: speed {n}, loudness {len(self.loudness)}, "
                             f"pulse {len(self.pulse)}")
        self.positions = positions_from_speed(speed, self.fps, self.config.speed_scale)
        seeds = keyframe_seeds(seed, self.config.n_keyframes, self.config.seeds)
        self.keyframes: Keyframes = make_keyframes(generator, seeds, device=self.device)
        self.w_avg = generator.w_avg.detach().to(self.device, torch.float32)
        self.num_ws = int(generator.num_ws)

        # Per-frame tables, computed once for the whole clip (so any range reads the same numbers) and uploaded
        # once (so a batch needs no host-to-device copy, which would stall a GPU pipeline): ~60 bytes per frame.
        cfg = self.config
        self._index_host, self._weight_host = interpolation_weights(
            self.positions, len(self.keyframes), loop=cfg.loop, interpolation=cfg.interpolation)

        def upload(array: np.ndarray, dtype: Any) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(self.device, dtype)

        self._index = upload(self._index_host, torch.int64)
        self._weight = upload(self._weight_host.astype(np.float32), torch.float32)
        self._pulse = upload((cfg.pulse_strength * self.pulse).astype(np.float32), torch.float32)
        self._psi = upload((cfg.truncation_psi + cfg.truncation_loudness * self.loudness).astype(np.float32),
                           torch.float32)
        self._noise = upload((cfg.noise_base + cfg.noise_loudness * self.loudness).astype(np.float32),
                             torch.float32)

    @property
    def n_frames(self) -> int:
        """Frames in the clip (the length of the curves)."""
        return len(self.positions)

    def batch(self, start: int, stop: int) -> WalkBatch:
        """Latents of frames ``[start, stop)``; identical whatever range or batch size they are asked for in."""
        import torch

        from .keyframes import map_z

        if not 0 <= start <= stop <= self.n_frames:
            raise IndexError(f"frame range [{start}, {stop}) outside 0..{self.n_frames}")
        cfg = self.config
        with torch.inference_mode():
            if cfg.space == "w":
                index, weight = self._index[start:stop], self._weight[start:stop]
                w = _blend(self.keyframes.w, index, weight)
                target = _blend(self.keyframes.pulse_w, index, weight)
            else:
                index, weight = self._index_host[start:stop], self._weight_host[start:stop]
                w = map_z(self.generator, self._z_path(self.keyframes.z, index, weight))
                target = map_z(self.generator, self._z_path(self.keyframes.pulse_z, index, weight))
            w = w + (target - w) * self._pulse[start:stop].view(-1, 1, 1)
            ws = self._truncate(w, self._psi[start:stop].view(-1, 1, 1))
            noise_scale = self._noise[start:stop].clone()
        return WalkBatch(start=start, stop=stop, ws=ws, noise_scale=noise_scale)

    def batches(self, batch_size: int, start: int = 0, stop: int | None = None) -> Iterator[WalkBatch]:
        """Latents of frames ``[start, stop)`` in batches of ``batch_size`` (the last one may be shorter).

        Parameters
        ----------
        batch_size : int
            Frames per batch (>= 1).
        start, stop : int
            Frame range; ``stop=None`` means to the end of the clip.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        stop = self.n_frames if stop is None else stop
        for a in range(start, stop, batch_size):
            yield self.batch(a, min(a + batch_size, stop))

    def _truncate(self, w: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """Truncation per frame, ``w_avg + psi * (w - w_avg)``, psi ``[B, 1, 1]`` following loudness."""
        import torch

        cutoff = self.config.truncation_cutoff
        truncated = self.w_avg + (w - self.w_avg) * psi
        if cutoff is None or cutoff >= self.num_ws:
            return truncated
        return torch.cat([truncated[:, :cutoff], w[:, cutoff:]], dim=1)

    def _z_path(self, points: torch.Tensor, index: np.ndarray, weight: np.ndarray) -> torch.Tensor:
        """Z-space positions, one row at a time (slerp between the two keyframes; for 'cubic', the Catmull-Rom blend
        of the four, rescaled to the blended norm so it stays on the shell where Gaussian latents live)."""
        import torch

        rows = []
        for i in range(len(index)):
            if self.config.interpolation == "cubic":
                v = sum(points[int(index[i, j])] * float(weight[i, j]) for j in range(4))
                norm = sum(points[int(index[i, j])].norm() * float(weight[i, j]) for j in range(4))
                rows.append(v / v.norm().clamp_min(1e-12) * norm)
            else:
                rows.append(_slerp_row(points[int(index[i, 1])], points[int(index[i, 2])], float(weight[i, 2])))
        return torch.stack(rows)
