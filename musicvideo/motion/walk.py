"""ReactiveCurves -> per-frame latents, batch by batch.

Every section label has a loop of keyframe latents (:mod:`musicvideo.motion.keyframes`); where on which loop each
frame is comes from :mod:`musicvideo.motion.choreography`: timed in bars when the song has a trusted beat (keyframes
are reached on downbeats, loudness spreads the travel inside a segment), by the integral of the speed curve in
seconds when it has none, and back to a label's first keyframe whenever that label returns. Between keyframes the
latent is interpolated (Catmull-Rom by default, so keyframes never show as kinks). On top of that:

- *layer-wise hits* in w+: each style layer is pushed toward the keyframe's pulse target by its group's drive,
  ``pulse_strength * gain * curves.drive[i, group]``: bass and kicks move the coarse layers (composition), mid and
  chord changes the middle ones (shapes, colour), treble and hats the fine ones (texture). Beats hit with an attack
  before and a release after them, scaled by the beat confidence and the song's character (see
  :mod:`musicvideo.audio.curves`);
- *chroma mode* (optional): twelve pitch-class latents, weighted by the chroma, pull the middle layers;
- *truncation* ``psi = truncation_psi + truncation_loudness * level[i]``: loud passages stray further from the
  average image, quiet ones settle toward it (``level``: the loudness smoothed over about a second, so that
  truncation follows phrases and only the layer-wise hits react to each beat; ``loudness`` for curves without it);
- *noise strength* ``noise_base + noise_loudness * level[i] + noise_fine * drive[i, fine]``;
- *camera* (StyleGAN3 only): per-frame input transforms from :mod:`musicvideo.motion.camera` (a drift with the
  harmony, pushes on hits, turns at section changes), in :attr:`WalkBatch.transforms`.

Only per-frame tables are kept (O(N) small numbers, ~130 bytes a frame); latents are made on demand for any frame
range ``[a, b)`` and are bit-identical to the same frames of a full render, so a song can be split over workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Literal

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:  # torch is imported where latents are made, so reading a config stays light
    import torch

    from .camera import CameraPath
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
    noise_fine : float
        Added to the noise strength in proportion to the fine layers' drive (hats and treble make texture shimmer).
    timing : {'bars', 'seconds'}
        Keyframe travel timed in bars when the song has a beat the analysis trusts (arrivals on downbeats), or
        always by the speed curve in seconds.
    bars_per_keyframe : int
        Bars per keyframe segment (1, 2, 4, 8, ...); 0 chooses from the song's character (2 energetic, 4 calm).
    bar_shaping : float
        0..1: how much loudness shapes the motion inside a segment (0 = evenly in time, 1 = all by loudness).
    min_beat_confidence : float
        Below this beat confidence of the song the walk is timed in seconds.
    sections : bool
        Each section label gets its own keyframes, and a returning label returns to its looks.
    section_change : {'morph', 'cut'}
        A section change as a quick morph that completes on its downbeat, or a hard cut on it.
    section_morph_s : float
        Length of that morph, seconds (four times as long when timed in seconds).
    coarse_gain, middle_gain, fine_gain : float
        How strongly the coarse (composition), middle (shapes, colour) and fine (texture) layers follow their drive
        (bass and kick; mid and chord changes; treble and hats), times ``pulse_strength``.
    chroma : bool
        Chroma mode: twelve pitch-class latents, weighted by the chroma, pull the middle layers (harmony changes
        the picture).
    chroma_strength : float
        0..1: how far the chroma latents pull the middle layers.
    camera : {'auto', 'on', 'off'}
        The StyleGAN3 camera (:mod:`musicvideo.motion.camera`): translation and rotation of the network's input,
        moved by the music. 'auto' uses it when the network takes an input transform (StyleGAN3) and not for
        StyleGAN2, which has no such input ('on' with StyleGAN2 notes that and renders without it).
    camera_drift : float
        Speed of the slow drift, image widths per second at full harmonic activity (it follows the slow loudness
        and chord changes, never the drums, and the song's character).
    camera_radius : float
        The camera stays within this distance of the centre, image widths (0 < radius <= 0.5): further out a
        StyleGAN3 network shows what lies beyond the field of view it was trained on.
    camera_push : float
        Forward surge on a full hit, image widths (the walk's hit envelope: peaks on the beat, scaled by beat
        confidence; none without a trusted beat).
    camera_turn_deg : float
        Roll between section labels, degrees: the first label at 0, the next ones at +1, -1, +0.5, -0.5 times it
        (a returning section returns to its angle; the analysis' sections, whatever ``sections`` says; 0: no turns).
    camera_turn_bars : float
        The turn eases in over this many bars and arrives on the section's first downbeat (0: a hard turn on it).
    camera_roll_deg : float
        Amplitude of a slow roll that follows the drift, degrees.
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
    noise_fine: float = 0.3
    timing: Literal["bars", "seconds"] = "bars"
    bars_per_keyframe: int = 0
    bar_shaping: float = 0.7
    min_beat_confidence: float = 0.3
    sections: bool = True
    section_change: Literal["morph", "cut"] = "morph"
    section_morph_s: float = 0.4
    coarse_gain: float = 1.0
    middle_gain: float = 0.6
    fine_gain: float = 1.0
    chroma: bool = False
    chroma_strength: float = 0.5
    camera: Literal["auto", "on", "off"] = "auto"
    camera_drift: float = 0.04
    camera_radius: float = 0.15
    camera_push: float = 0.03
    camera_turn_deg: float = 10.0
    camera_turn_bars: float = 1.0
    camera_roll_deg: float = 2.0

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
        if self.timing not in ("bars", "seconds"):
            raise ConfigError(f"walk.timing must be 'bars' or 'seconds', got {self.timing!r}")
        if self.section_change not in ("morph", "cut"):
            raise ConfigError(f"walk.section_change must be 'morph' or 'cut', got {self.section_change!r}")
        if self.bars_per_keyframe < 0:
            raise ConfigError(f"walk.bars_per_keyframe must be >= 1, or 0 for automatic, got {self.bars_per_keyframe}")
        for name in ("bar_shaping", "min_beat_confidence", "chroma_strength"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"walk.{name} must be in 0..1, got {getattr(self, name)}")
        if self.camera not in ("auto", "on", "off"):
            raise ConfigError(f"walk.camera must be 'auto', 'on' or 'off', got {self.camera!r}")
        for name in ("speed_scale", "pulse_strength", "truncation_psi", "truncation_loudness",
                     "noise_base", "noise_loudness", "noise_fine", "section_morph_s", "coarse_gain", "middle_gain",
                     "fine_gain", "camera_drift", "camera_push", "camera_turn_deg", "camera_turn_bars",
                     "camera_roll_deg"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"walk.{name} must be a finite number >= 0, got {value}")
        if self.pulse_strength > 1:
            raise ConfigError(f"walk.pulse_strength must be in 0..1, got {self.pulse_strength}")
        if self.truncation_psi + self.truncation_loudness > 2:
            raise ConfigError("walk.truncation_psi + walk.truncation_loudness must be <= 2 "
                              f"(got {self.truncation_psi} + {self.truncation_loudness}); 1 is the trained variety")
        if not (math.isfinite(self.camera_radius) and 0 < self.camera_radius <= 0.5):
            raise ConfigError(f"walk.camera_radius must be above 0 and at most 0.5 image widths, "
                              f"got {self.camera_radius}")
        for name, most in (("camera_turn_deg", 180.0), ("camera_roll_deg", 45.0)):
            if getattr(self, name) > most:
                raise ConfigError(f"walk.{name} must be at most {most:g} degrees, got {getattr(self, name)}")
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
    transforms : torch.Tensor or None
        ``[stop - start, 3, 3]`` float32 StyleGAN3 input transforms (NVlabs' convention) on the device, for
        ``synthesis(..., transform=)``; None when the camera is off.
    """

    start: int
    stop: int
    ws: torch.Tensor
    noise_scale: torch.Tensor
    transforms: torch.Tensor | None = None

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
    for j in range(1, index.shape[1]):
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


def layer_groups(num_ws: int) -> np.ndarray:
    """``[3, num_ws]`` 0/1 masks of the coarse, middle and fine style layers.

    The split follows StyleGAN's resolutions (Karras et al.: 4-8 px coarse, 16-32 px middle, the rest fine), as
    fractions of the layers so that any resolution has all three: at 256 px (14 layers) layers 0-3, 4-7 and 8-13.
    """
    c = max(1, round(num_ws * 2 / 7))
    m = max(c + 1, round(num_ws * 4 / 7)) if num_ws > 2 else c
    mask = np.zeros((3, num_ws), np.float32)
    mask[0, :c] = 1
    mask[1, c:m] = 1
    mask[2, m:] = 1
    return mask


def label_seeds(seed: int, label: int, n_keyframes: int, seeds: list[int] | None = None,
                n_labels: int = 1) -> list[int]:
    """The keyframe seeds of one section label's loop.

    Label 0 has the keyframes of ``seed`` itself (a song without sections walks as before); label ``j`` those of a
    seed derived from ``(seed, j)``. Explicit ``seeds`` are shared by all labels, each starting at its own place in
    the list, so every label opens on a different chosen look.
    """
    from .keyframes import keyframe_seeds

    if seeds:
        shift = (label * len(seeds)) // max(n_labels, 1)
        return list(seeds[shift:]) + list(seeds[:shift])
    if label == 0:
        return keyframe_seeds(seed, n_keyframes)
    derived = int(np.random.SeedSequence([int(seed), int(label)]).generate_state(1, dtype=np.uint32)[0])
    return keyframe_seeds(derived, n_keyframes)


class LatentWalk:
    """Per-frame latents of a clip, made on demand for any frame range.

    Parameters
    ----------
    generator : Generator
        Supplies the mapping network, ``w_avg`` and sizes; must be on ``device``.
    curves : ReactiveCurves
        ``fps``, ``loudness`` (0..1), ``pulse`` (0..1) and ``speed`` (keyframe segments per second), length N;
        when present, ``drive`` (per layer group), ``chroma``, ``character`` and ``timing`` (beats, bars, sections).
    config : WalkConfig, optional
        The walk's knobs (defaults when None).
    seed : int or None
        Seed of the keyframe loops when ``config.seeds`` is not set (None: 0; ``render`` passes the song's own
        seed, :func:`~musicvideo.motion.keyframes.song_seed`, when the config has none).
    device : torch.device or str
        Where the latents are made.

    Examples
    --------
    >>> walk = LatentWalk(G, curves, WalkConfig(), seed=1, device="cpu")       # doctest: +SKIP
    >>> for batch in walk.batches(8):                                          # doctest: +SKIP
    ...     images = G.synthesis(batch.ws, noise_mode="const", noise_scale=batch.noise_scale)
    """

    def __init__(self, generator: Any, curves: Any, config: WalkConfig | None = None, *, seed: int | None = 0,
                 device: torch.device | str = "cpu") -> None:
        import torch

        from .choreography import plan_walk
        from .keyframes import make_keyframes, map_z, z_from_seed

        self.config = cfg = config or WalkConfig()
        seed = 0 if seed is None else int(seed)
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
        # truncation and noise follow the slow loudness where the curves have one (phrases, not beats)
        level = getattr(curves, "level", None)
        level = self.loudness if level is None or len(level) != n else \
            np.clip(np.nan_to_num(np.asarray(level, dtype=np.float64)), 0.0, 1.0)
        drive = getattr(curves, "drive", None)
        self.num_ws = int(generator.num_ws)
        if drive is not None and np.shape(drive) == (n, 3):
            drive = np.clip(np.nan_to_num(np.asarray(drive, dtype=np.float64)), 0.0, 1.0)
            mask = layer_groups(self.num_ws) * np.array([[cfg.coarse_gain], [cfg.middle_gain], [cfg.fine_gain]])
        else:  # curves without a layer drive: every layer follows the pulse
            drive = np.repeat(self.pulse[:, None], 3, axis=1)
            mask = np.full((3, self.num_ws), 1.0 / 3)

        # The plan in musical time (bars, sections) and the keyframe loop of every section label.
        self.plan = plan_walk(curves, n_keyframes=cfg.n_keyframes, timing=cfg.timing,
                              bars_per_keyframe=cfg.bars_per_keyframe, bar_shaping=cfg.bar_shaping,
                              sections=cfg.sections, section_change=cfg.section_change,
                              section_morph_s=cfg.section_morph_s, min_beat_confidence=cfg.min_beat_confidence,
                              speed_scale=cfg.speed_scale)
        self.positions = self.plan.positions
        n_labels = len(self.plan.labels)
        seeds, offsets = [], []
        for j in range(n_labels):
            offsets.append(len(seeds))
            seeds += label_seeds(seed, j, cfg.n_keyframes, cfg.seeds, n_labels)
        k = len(seeds) // n_labels  # keyframes per label loop
        self.keyframes: Keyframes = make_keyframes(generator, seeds, device=self.device)
        self.w_avg = generator.w_avg.detach().to(self.device, torch.float32)

        # Per-frame tables, computed once for the whole clip (so any range reads the same numbers) and uploaded
        # once (so a batch needs no host-to-device copy, which would stall a GPU pipeline): ~130 bytes per frame.
        # Columns 0-3 blend the frame's own loop; 4-7 the next section's first keyframe during a morph.
        index, weight = interpolation_weights(self.positions, k, loop=cfg.loop, interpolation=cfg.interpolation)
        offset = np.asarray(offsets, np.int64)
        index = index + offset[self.plan.label][:, None]
        morph = self.plan.morph.astype(np.float64)[:, None]
        next_first = offset[self.plan.next_label]
        self._index_host = np.concatenate([index, np.repeat(next_first[:, None], 4, axis=1)], axis=1)
        self._weight_host = np.concatenate([weight * (1 - morph), np.zeros((n, 4))], axis=1)
        self._weight_host[:, 5] = morph[:, 0]  # column 1 of a Catmull-Rom/linear blend is "from" (weight 1 on a key)
        self._morphing = bool(np.any(self.plan.morph > 0))

        def upload(array: np.ndarray, dtype: Any) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(self.device, dtype)

        cols = 8 if self._morphing else 4  # no morph in the clip: the second half is all zeros, skip it
        self._index = upload(self._index_host[:, :cols], torch.int64)
        self._weight = upload(self._weight_host[:, :cols].astype(np.float32), torch.float32)
        self._drive = upload((cfg.pulse_strength * drive).astype(np.float32), torch.float32)
        self._mask = upload(mask.astype(np.float32), torch.float32)
        self._psi = upload((cfg.truncation_psi + cfg.truncation_loudness * level).astype(np.float32), torch.float32)
        self._noise = upload((cfg.noise_base + cfg.noise_loudness * level +
                              cfg.noise_fine * drive[:, 2]).astype(np.float32), torch.float32)
        self._chroma = self._chroma_keys = None
        chroma = getattr(curves, "chroma", None)
        if cfg.chroma and chroma is not None and np.shape(chroma) == (n, 12):
            # twelve pitch-class latents (from seed + 12), pulling the middle layers as the chroma weights them
            base = int(np.random.SeedSequence([int(seed), 12]).generate_state(1, dtype=np.uint32)[0])
            z12 = torch.stack([z_from_seed(s, int(generator.z_dim))[0]
                               for s in _chroma_seeds(base)]).to(self.device)
            self._chroma_keys = map_z(generator, z12).flatten(1)  # [12, num_ws * w_dim]
            weights = np.clip(np.nan_to_num(np.asarray(chroma, np.float64)), 0.0, 1.0) * cfg.chroma_strength
            self._chroma = upload(weights.astype(np.float32), torch.float32)
            self._chroma_mask = upload(layer_groups(self.num_ws)[1].astype(np.float32), torch.float32)
        self.camera = self._plan_camera(generator, curves, seed)
        self._transforms = None if self.camera is None else upload(self.camera.matrices, torch.float32)

    def _plan_camera(self, generator: Any, curves: Any, seed: int) -> CameraPath | None:
        """The StyleGAN3 camera of the clip, or None where it is off or the network has no input transform."""
        from .camera import accepts_transform, plan_camera

        cfg = self.config
        if cfg.camera == "off":
            return None
        if not accepts_transform(generator):
            if cfg.camera == "on":
                import warnings

                from ..errors import MusicVideoWarning

                warnings.warn(MusicVideoWarning(
                    'walk.camera = "on" needs a StyleGAN3 network (its input takes a transform); this network '
                    'has none, so it renders without the camera'), stacklevel=3)
            return None
        return plan_camera(curves, drift=cfg.camera_drift, radius=cfg.camera_radius, push=cfg.camera_push,
                           turn_deg=cfg.camera_turn_deg, turn_bars=cfg.camera_turn_bars, roll_deg=cfg.camera_roll_deg,
                           min_beat_confidence=cfg.min_beat_confidence, seed=seed)

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
                w = map_z(self.generator, self._z_path(self.keyframes.z, start, stop))
                target = map_z(self.generator, self._z_path(self.keyframes.pulse_z, start, stop))
            # each layer group is pushed toward the pulse target by its own drive (bass: coarse, treble: fine)
            amount = (self._drive[start:stop] @ self._mask).clamp(max=1.0)
            w = w + (target - w) * amount.unsqueeze(-1)
            if self._chroma is not None:
                weights = self._chroma[start:stop]
                pulled = (weights @ self._chroma_keys).view_as(w) - w * weights.sum(dim=1).view(-1, 1, 1)
                w = w + pulled * self._chroma_mask.view(1, -1, 1)
            ws = self._truncate(w, self._psi[start:stop].view(-1, 1, 1))
            noise_scale = self._noise[start:stop].clone()
            transforms = None if self._transforms is None else self._transforms[start:stop].clone()
        return WalkBatch(start=start, stop=stop, ws=ws, noise_scale=noise_scale, transforms=transforms)

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

    def _z_path(self, points: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Z-space positions of frames ``[start, stop)``, one row at a time (slerp between the two keyframes; for
        'cubic', the Catmull-Rom blend of the four, rescaled to the blended norm so it stays on the shell where
        Gaussian latents live); a morph slerps on toward the next section's first keyframe."""
        import torch

        rows = []
        for i in range(start, stop):
            index, weight = self._index_host[i], self._weight_host[i]
            keep = 1.0 - float(weight[5])
            if self.config.interpolation == "cubic":
                v = sum(points[int(index[j])] * float(weight[j] / keep) for j in range(4)) if keep > 0 else None
                norm = sum(points[int(index[j])].norm() * float(weight[j] / keep) for j in range(4)) \
                    if keep > 0 else None
                row = v / v.norm().clamp_min(1e-12) * norm if keep > 0 else points[int(index[5])]
            else:
                row = _slerp_row(points[int(index[1])], points[int(index[2])], float(weight[2] / keep)) \
                    if keep > 0 else points[int(index[5])]
            if 0 < keep < 1:
                row = _slerp_row(row, points[int(index[5])], 1.0 - keep)
            rows.append(row)
        return torch.stack(rows)


def _chroma_seeds(seed: int) -> list[int]:
    """The seeds of the twelve pitch-class latents of chroma mode (C, C#, ..., B)."""
    from .keyframes import keyframe_seeds

    return keyframe_seeds(seed, 12)
