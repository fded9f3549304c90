"""FrameFeatures -> ReactiveCurves: the 0..1 control curves and the speed the latent walk integrates.

Every time constant is in seconds and applied with the exact frame period, so a render at 24 fps and one at 60 fps
move the same way. Normalisation clips at percentiles so that one loud hit does not flatten the rest of the song.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import ConfigError


@dataclass
class CurveConfig:
    """Knobs that turn features into the curves the latent walk follows."""

    low_percentile: float = 5.0  # loudness at or below this percentile of the clip maps to 0
    high_percentile: float = 95.0  # loudness at or above this percentile maps to 1
    min_range: float = 0.1  # smallest loudness range (0..1 units) stretched to 0..1, so near-constant audio stays flat
    attack_s: float = 0.05  # loudness rise time constant, seconds
    release_s: float = 0.5  # loudness fall time constant, seconds (long: loudness follows sections, beats pulse)
    onset_release_s: float = 0.12  # onset fall time constant, seconds
    beat_release_s: float = 0.3  # how fast a beat's pulse decays, seconds
    pulse_source: Literal["beat", "onset", "both"] = "beat"  # what makes the jolts: tracked beats, onsets or both
    beat_strength_floor: float = 0.4  # a beat's pulse height is between this (weak onset) and 1 (strongest onset)
    quiet_pulse: float = 0.25  # pulse height in the quietest parts relative to the loudest (calm drift when quiet)
    speed_min: float = 0.06  # walk speed in silence/quiet parts, keyframe segments per second
    speed_max: float = 0.7  # walk speed at full loudness, segments per second
    speed_gamma: float = 1.5  # loudness^gamma shapes speed: >1 keeps quiet parts calm
    beat_boost: float = 0.4  # extra speed at the peak of a pulse, segments per second

    def __post_init__(self) -> None:
        if not 0 <= self.low_percentile < self.high_percentile <= 100:
            raise ConfigError("curves: need 0 <= low_percentile < high_percentile <= 100")
        for name in ("attack_s", "release_s", "onset_release_s", "beat_release_s", "min_range"):
            if getattr(self, name) < 0:
                raise ConfigError(f"curves.{name} must be >= 0")
        if self.speed_min < 0 or self.speed_max < self.speed_min or self.beat_boost < 0 or self.speed_gamma <= 0:
            raise ConfigError("curves: need 0 <= speed_min <= speed_max, beat_boost >= 0 and speed_gamma > 0")
        if self.pulse_source not in ("beat", "onset", "both"):
            raise ConfigError(f"curves.pulse_source must be 'beat', 'onset' or 'both', got {self.pulse_source!r}")
        if not 0 <= self.beat_strength_floor <= 1:
            raise ConfigError("curves.beat_strength_floor must be in [0, 1]")
        if not 0 <= self.quiet_pulse <= 1:
            raise ConfigError("curves.quiet_pulse must be in [0, 1]")


@dataclass
class ReactiveCurves:
    """Per-frame control curves (length ``n_frames``, float32).

    Attributes
    ----------
    fps : float
        Frame rate.
    loudness : numpy.ndarray
        0..1, percentile-clipped and attack/release smoothed.
    pulse : numpy.ndarray
        0..1 envelope of beats (or onsets): jumps at a beat, decays with ``beat_release_s``.
    speed : numpy.ndarray
        >= 0, the latent walk's speed in keyframe segments per second.
    times_s : numpy.ndarray
        Song time of each frame.
    onset : numpy.ndarray
        0..1 smoothed onset strength.
    beat : numpy.ndarray
        0..1: 1 on each beat frame, decaying with ``beat_release_s``.
    """

    fps: float
    loudness: np.ndarray
    pulse: np.ndarray
    speed: np.ndarray
    times_s: np.ndarray | None = None
    onset: np.ndarray | None = None
    beat: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.speed)
        if self.times_s is None:
            self.times_s = np.arange(n, dtype=np.float64) / float(self.fps)
        if self.onset is None:
            self.onset = np.zeros(n, np.float32)
        if self.beat is None:
            self.beat = np.zeros(n, np.float32)

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.speed)


def percentile_normalize(x: np.ndarray, low: float, high: float, *, min_range: float = 0.0,
                         reference: np.ndarray | None = None) -> np.ndarray:
    """Map the ``low``..``high`` percentiles of ``reference`` (default ``x``) to 0..1 and clip.

    Parameters
    ----------
    x : numpy.ndarray
        Values.
    low, high : float
        Percentiles (0..100).
    min_range : float
        The mapped range is at least this wide (extended downwards, not below 0), so near-constant or silent
        input is not stretched into noise.
    reference : numpy.ndarray, optional
        Values whose percentiles are used (e.g. the whole song when ``x`` is a clip).

    Returns
    -------
    numpy.ndarray
        float32 in 0..1 (zeros for empty input).
    """
    ref = x if reference is None else reference
    if len(ref) == 0 or len(x) == 0:
        return np.zeros(len(x), np.float32)
    lo, hi = (float(v) for v in np.percentile(ref, [low, high]))
    if hi - lo < min_range:
        lo = max(hi - min_range, 0.0)
        hi = lo + min_range
    if hi <= lo:
        return np.zeros(len(x), np.float32)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def attack_release(x: np.ndarray, fps: float, attack_s: float, release_s: float) -> np.ndarray:
    """One-pole envelope follower with separate rise and fall time constants in seconds.

    Parameters
    ----------
    x : numpy.ndarray
        Input per frame.
    fps : float
        Frame rate (the time constants are converted with the exact frame period).
    attack_s, release_s : float
        Time constants; 0 follows the input instantly.

    Returns
    -------
    numpy.ndarray
        float32 envelope, same length.
    """
    def coefficient(tau: float) -> float:
        return 1.0 if tau <= 0 else 1.0 - math.exp(-1.0 / (float(fps) * tau))

    up, down = coefficient(attack_s), coefficient(release_s)
    out = np.empty(len(x), np.float32)
    y = float(x[0]) if len(x) else 0.0
    for i, v in enumerate(np.asarray(x, dtype=np.float64).tolist()):
        y += (up if v > y else down) * (v - y)
        out[i] = y
    return out


def decaying_impulses(heights: np.ndarray, fps: float, release_s: float) -> np.ndarray:
    """Instant rise to each impulse height, exponential decay with time constant ``release_s`` seconds."""
    decay = 0.0 if release_s <= 0 else math.exp(-1.0 / (float(fps) * release_s))
    out = np.empty(len(heights), np.float32)
    y = 0.0
    for i, h in enumerate(np.asarray(heights, dtype=np.float64).tolist()):
        y = max(h, y * decay)
        out[i] = y
    return out


def reactive_curves(features, config: CurveConfig | None = None, *, reference=None) -> ReactiveCurves:
    """Turn per-frame features into the curves that drive the latent walk.

    Parameters
    ----------
    features : FrameFeatures
        From :func:`musicvideo.audio.analyze`.
    config : CurveConfig, optional
        Curve knobs.
    reference : FrameFeatures, optional
        Features whose loudness and onset percentiles set the normalisation (e.g. the whole song, so that
        clips of one song share one scale); default: ``features`` itself.

    Returns
    -------
    ReactiveCurves
        ``loudness``, ``onset``, ``beat``, ``pulse`` in 0..1 and ``speed`` >= 0, length ``features.n_frames``.

    Examples
    --------
    >>> curves = reactive_curves(analyze("song.mp3", fps=30))   # doctest: +SKIP
    >>> float(curves.speed.min()) >= 0                          # doctest: +SKIP
    True
    """
    cfg = config or CurveConfig()
    ref = reference if reference is not None else features
    fps = float(features.fps)

    loud = percentile_normalize(features.loudness, cfg.low_percentile, cfg.high_percentile,
                                min_range=cfg.min_range, reference=ref.loudness)
    loud = attack_release(loud, fps, cfg.attack_s, cfg.release_s)

    onset_raw = percentile_normalize(features.onset, 0.0, 99.0, min_range=cfg.min_range, reference=ref.onset)
    onset = attack_release(onset_raw, fps, 0.0, cfg.onset_release_s)

    # A beat's height follows the strongest onset next to it, so beats in quiet passages jolt less.
    near_onset = np.maximum.reduce([onset_raw, np.roll(onset_raw, 1), np.roll(onset_raw, -1)]) if len(onset_raw) \
        else onset_raw
    is_beat = np.asarray(features.beat) > 0.5
    beat = decaying_impulses(is_beat.astype(np.float32), fps, cfg.beat_release_s)
    strength = cfg.beat_strength_floor + (1.0 - cfg.beat_strength_floor) * near_onset
    strength = strength * (cfg.quiet_pulse + (1.0 - cfg.quiet_pulse) * loud)  # jolts grow with the loudness
    beat_pulse = decaying_impulses(np.where(is_beat, strength, 0.0), fps, cfg.beat_release_s)
    if cfg.pulse_source == "beat":
        pulse = beat_pulse
    elif cfg.pulse_source == "onset":
        pulse = onset * (cfg.quiet_pulse + (1.0 - cfg.quiet_pulse) * loud)
    else:
        pulse = np.maximum(beat_pulse, onset * (cfg.quiet_pulse + (1.0 - cfg.quiet_pulse) * loud))

    speed = cfg.speed_min + (cfg.speed_max - cfg.speed_min) * loud.astype(np.float64) ** cfg.speed_gamma
    speed = speed + cfg.beat_boost * pulse
    return ReactiveCurves(fps=fps, loudness=loud, pulse=pulse.astype(np.float32), speed=speed.astype(np.float32),
                          times_s=np.asarray(features.times_s, dtype=np.float64), onset=onset, beat=beat)
