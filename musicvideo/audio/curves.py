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
    beat_attack_s: float = 0.07  # a hit starts this long before its beat and peaks on it, seconds (~2 frames at 30)
    beat_release_s: float = 0.3  # how fast a beat's hit decays after its peak, seconds
    pulse_source: Literal["beat", "onset", "both"] = "beat"  # what makes the hits: tracked beats, onsets or both
    beat_strength_floor: float = 0.4  # a beat's hit height is between this (weak onset) and 1 (strongest onset)
    quiet_pulse: float = 0.25  # hit height in the quietest parts relative to the loudest (calm drift when quiet)
    downbeat_gain: float = 1.5  # a downbeat hits this many times harder than the other beats of the bar
    confidence_low: float = 0.3  # beat confidence at or below which beats do not hit (and bars are not trusted)
    confidence_high: float = 0.6  # beat confidence from which beats hit at full height
    speed_min: float = 0.06  # walk speed in silence/quiet parts, keyframe segments per second
    speed_max: float = 0.7  # walk speed at full loudness, segments per second
    speed_gamma: float = 1.5  # loudness^gamma shapes speed: >1 keeps quiet parts calm
    beat_boost: float = 0.4  # extra speed at the peak of a hit, segments per second
    character: bool = True  # scale speed and hits by the song's absolute character (quiet beatless songs drift)
    character_quiet_db: float = -40.0  # song loudness (power mean, dBFS) that counts as quiet
    character_loud_db: float = -12.0  # song loudness that counts as loud
    character_onsets_per_s: float = 3.0  # percussive onsets per second that count as a dense groove
    character_min: float = 0.25  # speed and hit multiplier of the calmest song (quiet, no beat, no onsets)
    character_max: float = 1.25  # multiplier of the most energetic song (loud, dense, steady beat)
    band_gate: float = 0.35  # band level (0..1 of the analysis' dB scale, 0.35 = -39 dBFS at its -60 floor) below
    #                         which a band is silent for the layer drive
    band_release_s: float = 0.15  # how fast a band's transient (kick, snare, hat) decays in the layer drive, seconds
    band_range: float = 0.2  # band rise above its recent average (0..1 dB-scale units, 0.2 = 12 dB) = full drive
    chroma_release_s: float = 0.5  # smoothing of the chroma weights (chroma mode), seconds

    def __post_init__(self) -> None:
        if not 0 <= self.low_percentile < self.high_percentile <= 100:
            raise ConfigError("curves: need 0 <= low_percentile < high_percentile <= 100")
        for name in ("attack_s", "release_s", "onset_release_s", "beat_attack_s", "beat_release_s", "min_range",
                     "band_release_s", "chroma_release_s"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"curves.{name} must be >= 0")
        if self.speed_min < 0 or self.speed_max < self.speed_min or self.beat_boost < 0 or self.speed_gamma <= 0:
            raise ConfigError("curves: need 0 <= speed_min <= speed_max, beat_boost >= 0 and speed_gamma > 0")
        if self.pulse_source not in ("beat", "onset", "both"):
            raise ConfigError(f"curves.pulse_source must be 'beat', 'onset' or 'both', got {self.pulse_source!r}")
        if not 0 <= self.beat_strength_floor <= 1:
            raise ConfigError("curves.beat_strength_floor must be in [0, 1]")
        if not 0 <= self.quiet_pulse <= 1:
            raise ConfigError("curves.quiet_pulse must be in [0, 1]")
        if not self.downbeat_gain >= 1:
            raise ConfigError(f"curves.downbeat_gain must be >= 1 (1: downbeats hit like other beats), "
                              f"got {self.downbeat_gain}")
        if not 0 <= self.confidence_low < self.confidence_high <= 1:
            raise ConfigError("curves: need 0 <= confidence_low < confidence_high <= 1")
        if not self.character_quiet_db < self.character_loud_db:
            raise ConfigError("curves: need character_quiet_db < character_loud_db")
        if not self.character_onsets_per_s > 0:
            raise ConfigError("curves.character_onsets_per_s must be > 0")
        if not 0 <= self.character_min <= self.character_max:
            raise ConfigError("curves: need 0 <= character_min <= character_max")
        if not 0 <= self.band_gate < 1 or not self.band_range > 0:
            raise ConfigError("curves: need 0 <= band_gate < 1 and band_range > 0")


LAYER_GROUPS = ("coarse", "middle", "fine")  # the columns of ReactiveCurves.drive


@dataclass
class SongCharacter:
    """The song's absolute character, which scales how much the walk moves and hits.

    Attributes
    ----------
    loudness_db : float
        Power mean of the frames' loudness above -70 dBFS (a gated, LUFS-like level), dBFS.
    onsets_per_s : float
        Percussive onsets (a rise of 6 dB or more within 50 ms in the percussive part) per second.
    beat_confidence : float
        The analysis' confidence in the song's beat, 0..1.
    energy : float
        0..1: loudness times rhythm (onset density and beat confidence); ~0.1 for a quiet beatless pad,
        ~0.9 for a loud dense groove.
    scale : float
        The multiplier of speed and hits, ``character_min + (character_max - character_min) * energy``
        (1 when ``CurveConfig.character`` is off).
    """

    loudness_db: float
    onsets_per_s: float
    beat_confidence: float
    energy: float
    scale: float


@dataclass
class MusicalTime:
    """The song's beats, bars and sections as the walk needs them (from :class:`~musicvideo.audio.FrameFeatures`).

    Attributes
    ----------
    beat_times_s, downbeat_times_s : numpy.ndarray
        Beats and downbeats inside the clip, song time in seconds.
    beat_confidence : float
        0..1 for the whole song.
    beats_per_bar : int
        Meter (0 without beats).
    tempo_bpm : float
        Tempo (0 without a beat).
    bar_index : numpy.ndarray
        int64 per frame: the song's bar (-1 before the first downbeat or without bars).
    section_index : numpy.ndarray
        int64 per frame: index into ``section_starts_s`` / ``section_labels``.
    section_starts_s : numpy.ndarray
        Starts of the whole song's sections, seconds.
    section_labels : list of str
        Label per section; a returning part keeps its label.
    section_start_bars : numpy.ndarray or None
        The song's bar each section starts with (-1 without bars), None when the features do not carry it.
    bar_position : numpy.ndarray or None
        Per frame, the continuous bar coordinate in the whole song (-1 without bars), or None.
    """

    beat_times_s: np.ndarray
    downbeat_times_s: np.ndarray
    beat_confidence: float
    beats_per_bar: int
    tempo_bpm: float
    bar_index: np.ndarray
    section_index: np.ndarray
    section_starts_s: np.ndarray
    section_labels: list[str]
    section_start_bars: np.ndarray | None = None
    bar_position: np.ndarray | None = None

    @classmethod
    def from_features(cls, features) -> "MusicalTime | None":
        """The musical time of ``features``, or None when they carry no structure (old .npz files, stand-ins)."""
        if getattr(features, "downbeat_times_s", None) is None or getattr(features, "section_index", None) is None:
            return None
        n = len(features.times_s)
        labels = [str(x) for x in np.asarray(features.section_labels).reshape(-1)] or ["A"]
        section_index = np.clip(np.asarray(features.section_index, np.int64), 0, len(labels) - 1)
        starts = np.asarray(features.section_starts_s, np.float64).reshape(-1)
        start_bars = getattr(features, "section_start_bars", None)
        start_bars = None if start_bars is None else np.asarray(start_bars, np.int64).reshape(-1)
        if len(starts) != len(labels):
            starts, labels, section_index = np.zeros(1), ["A"], np.zeros(n, np.int64)
            start_bars = None
        if start_bars is not None and len(start_bars) != len(labels):
            start_bars = None
        return cls(beat_times_s=np.asarray(features.beat_times_s, np.float64),
                   downbeat_times_s=np.asarray(features.downbeat_times_s, np.float64),
                   beat_confidence=float(np.nan_to_num(getattr(features, "beat_confidence", 0.0))),
                   beats_per_bar=int(getattr(features, "beats_per_bar", 0) or 0),
                   tempo_bpm=float(getattr(features, "tempo_bpm", 0.0) or 0.0),
                   bar_index=np.asarray(getattr(features, "bar_index", np.full(n, -1)), np.int64),
                   section_index=section_index, section_starts_s=starts, section_labels=labels,
                   section_start_bars=start_bars,
                   bar_position=None if getattr(features, "bar_position", None) is None
                   else np.asarray(features.bar_position, np.float64))


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
        0..1 hit envelope of beats (or onsets): rises over ``beat_attack_s`` to a peak on the beat, decays with
        ``beat_release_s``; scaled by beat confidence and the song's character.
    speed : numpy.ndarray
        >= 0, the latent walk's speed in keyframe segments per second.
    times_s : numpy.ndarray
        Song time of each frame.
    onset : numpy.ndarray
        0..1 smoothed onset strength.
    beat : numpy.ndarray
        0..1: 1 on each beat frame, decaying with ``beat_release_s``.
    drive : numpy.ndarray or None
        ``[n_frames, 3]`` 0..1 layer drive (:data:`LAYER_GROUPS`): how far the coarse, middle and fine layers are
        pushed this frame (bass and kick, mid and chord changes, treble and hats; plus each beat's hit shared out by
        what sounds on it). None: every layer follows ``pulse``.
    level : numpy.ndarray or None
        0..1 loudness smoothed over about a second: follows phrases and sections, not beats (the walk's truncation
        and noise strength follow it, so that only the layer-wise hits react to each beat).
    chroma : numpy.ndarray or None
        ``[n_frames, 12]`` smoothed pitch-class weights summing to 1 (0 in silence), for the walk's chroma mode.
    character : SongCharacter or None
        The song's absolute character.
    timing : MusicalTime or None
        Beats, bars and sections; None walks in seconds without sections.
    """

    fps: float
    loudness: np.ndarray
    pulse: np.ndarray
    speed: np.ndarray
    times_s: np.ndarray | None = None
    onset: np.ndarray | None = None
    beat: np.ndarray | None = None
    drive: np.ndarray | None = None
    level: np.ndarray | None = None
    chroma: np.ndarray | None = None
    character: SongCharacter | None = None
    timing: MusicalTime | None = None

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


def one_pole(x: np.ndarray, fps: float, time_s: float) -> np.ndarray:
    """Symmetric one-pole low-pass along axis 0 (the same time constant up and down), float32.

    Parameters
    ----------
    x : numpy.ndarray
        ``[n]`` or ``[n, k]`` values per frame.
    fps : float
        Frame rate.
    time_s : float
        Time constant in seconds (0: no smoothing).

    Returns
    -------
    numpy.ndarray
        The smoothed values, same shape; starts at ``x[0]``.
    """
    from scipy.signal import lfilter

    x = np.asarray(x, dtype=np.float64)
    if time_s <= 0 or len(x) == 0:
        return x.astype(np.float32)
    a = 1.0 - math.exp(-1.0 / (float(fps) * time_s))
    zi = (1.0 - a) * x[:1]  # start settled at the first value, not at zero
    out, _ = lfilter([a], [1.0, -(1.0 - a)], x, axis=0, zi=zi)
    return out.astype(np.float32)


def confidence_gain(confidence, low: float, high: float) -> np.ndarray:
    """0 at or below ``low``, 1 at or above ``high``, smooth in between: how far a beat is trusted to hit."""
    x = np.clip((np.asarray(confidence, dtype=np.float64) - low) / max(high - low, 1e-9), 0.0, 1.0)
    return x * x * (3 - 2 * x)


def hit_envelope(times_s: np.ndarray, peak_frames: np.ndarray, heights: np.ndarray, *, attack_s: float,
                 release_s: float) -> np.ndarray:
    """Hits that build up to a peak on given frames and then decay.

    Each hit rises (smoothstep) over the ``attack_s`` seconds before its peak frame, peaks there with its height,
    and decays exponentially with time constant ``release_s``; overlapping hits combine by maximum, so the curve
    never exceeds the largest height. The picture leads the sound by at most ``attack_s`` and never lags it.

    Parameters
    ----------
    times_s : numpy.ndarray
        Time of each frame, seconds (increasing).
    peak_frames : numpy.ndarray
        int frame index of each hit's peak (the frame that shows the beat).
    heights : numpy.ndarray
        ``[n_hits]`` or ``[n_hits, k]`` peak heights (k curves at once, e.g. one per layer group).
    attack_s, release_s : float
        Rise before the peak and decay time constant after it, seconds.

    Returns
    -------
    numpy.ndarray
        float32 ``[n_frames]`` or ``[n_frames, k]``.

    Examples
    --------
    >>> t = np.arange(30) / 30
    >>> env = hit_envelope(t, np.array([15]), np.array([1.0]), attack_s=0.07, release_s=0.2)
    >>> int(np.argmax(env)), bool(env[14] > 0), bool(env[16] > env[17] > 0)
    (15, True, True)
    """
    times_s = np.asarray(times_s, dtype=np.float64)
    heights = np.asarray(heights, dtype=np.float64)
    flat = heights.ndim == 1
    h2 = heights[:, None] if flat else heights
    out = np.zeros((len(times_s), h2.shape[1]), np.float64)
    tail_s = 7.0 * release_s  # exp(-7) < 0.001: nothing visible after that
    for p, h in zip(np.asarray(peak_frames, np.int64).tolist(), h2):
        if not 0 <= p < len(times_s) or not np.any(h > 0):
            continue
        t0 = times_s[p]
        a = int(np.searchsorted(times_s, t0 - attack_s, side="right"))
        b = int(np.searchsorted(times_s, t0 + tail_s, side="right"))
        dt = times_s[a:b] - t0
        shape = np.empty(b - a)
        before = dt < 0
        x = 1.0 + dt[before] / attack_s if attack_s > 0 else np.zeros(int(before.sum()))
        shape[before] = x * x * (3 - 2 * x)
        shape[~before] = np.exp(-dt[~before] / release_s) if release_s > 0 else (dt[~before] == 0).astype(float)
        np.maximum(out[a:b], shape[:, None] * h[None, :], out=out[a:b])
    out = out.astype(np.float32)
    return out[:, 0] if flat else out


def song_character(features, config: CurveConfig | None = None) -> SongCharacter:
    """The song's absolute character: gated loudness, percussive onset density and beat confidence.

    Unlike the curves, which are normalised within the song, this is measured on absolute scales, so a quiet
    beatless pad and a loud steady groove get different energies however each varies inside itself.

    Parameters
    ----------
    features : FrameFeatures
        Whole song (or the clip), with ``loudness_db``, ``percussive`` and ``beat_confidence``.
    config : CurveConfig, optional
        ``character_*`` knobs.

    Returns
    -------
    SongCharacter
    """
    cfg = config or CurveConfig()
    fps = float(features.fps)
    db = np.asarray(features.loudness_db, dtype=np.float64)
    loud = db[np.isfinite(db) & (db > -70.0)]  # absolute gate, as LUFS gates silence out
    loudness_db = float(10 * np.log10(np.mean(10 ** (loud / 10)))) if len(loud) else -120.0
    level = float(np.clip((loudness_db - cfg.character_quiet_db) / (cfg.character_loud_db - cfg.character_quiet_db),
                          0.0, 1.0))
    # a percussive onset: the percussive part rises 6 dB (0.1 of the 60 dB scale) within 50 ms
    perc = np.asarray(getattr(features, "percussive", np.zeros(0)), dtype=np.float64)
    k = max(1, int(math.ceil(0.05 * fps)))
    duration_s = len(perc) / fps if fps > 0 else 0.0
    onsets_per_s = 0.0
    if len(perc) > k and duration_s > 0:
        recent_min = np.min(np.stack([perc[k - j - 1:len(perc) - j - 1] for j in range(k)]), axis=0)
        rising = (perc[k:] - recent_min) > 0.1
        onsets_per_s = float(np.count_nonzero(rising[1:] & ~rising[:-1]) + int(rising[0] if len(rising) else 0)) \
            / duration_s
    confidence = float(np.clip(np.nan_to_num(getattr(features, "beat_confidence", 0.0)), 0.0, 1.0))
    density = min(onsets_per_s / cfg.character_onsets_per_s, 1.0)
    rhythm = 0.5 * (density + confidence)
    energy = math.sqrt(level) * (0.15 + 0.85 * rhythm)  # a loud drone is not energetic; a whispered groove a bit
    scale = cfg.character_min + (cfg.character_max - cfg.character_min) * energy if cfg.character else 1.0
    return SongCharacter(loudness_db=loudness_db, onsets_per_s=onsets_per_s, beat_confidence=confidence,
                         energy=float(energy), scale=float(scale))


def _gated(values, gate: float) -> np.ndarray:
    return np.clip((np.asarray(values, dtype=np.float64) - gate) / (1.0 - gate), 0.0, 1.0)


def band_transients(features, config: CurveConfig | None = None) -> np.ndarray:
    """``[n, 3]`` 0..1 transients of the bass, the mid (and chord changes) and the treble: how far each band has
    just risen above its recent average, on the absolute dB scale (a band below ``band_gate`` counts as silent, so
    a kick-only track has no treble transients and a hi-hat-only track no bass ones)."""
    cfg = config or CurveConfig()
    fps = float(features.fps)
    n = len(features.times_s)
    out = np.zeros((n, 3), np.float32)
    if n == 0:
        return out
    scale = (1.0 - cfg.band_gate) / cfg.band_range  # band_range is in dB-scale units; the gated level is stretched
    for j, name in enumerate(("bass", "mid", "treble")):
        level = _gated(getattr(features, name, np.zeros(n)), cfg.band_gate)
        # rises before the sound over beat_attack_s (a backward pass: the picture may lead, never lag), decays after
        fast = np.maximum(attack_release(level, fps, 0.0, cfg.band_release_s),
                          attack_release(level[::-1], fps, 0.0, cfg.beat_attack_s / 2)[::-1])
        slow = one_pole(level, fps, 0.5)
        out[:, j] = np.clip((fast - slow) * scale, 0.0, 1.0)
    chroma = np.asarray(getattr(features, "chroma", np.zeros((n, 12))), dtype=np.float64)
    if chroma.shape == (n, 12):  # a chord change moves the middle layers too (where there is harmony to hear)
        total = chroma.sum(axis=1, keepdims=True)
        dist = np.divide(chroma, total, out=np.zeros_like(chroma), where=total > 0)
        change = 0.5 * np.abs(one_pole(dist, fps, 0.05) - one_pole(dist, fps, 0.6)).sum(axis=1)
        harmony = _gated(getattr(features, "harmonic", np.zeros(n)), cfg.band_gate)
        out[:, 1] = np.maximum(out[:, 1], np.clip(3.0 * change * harmony, 0.0, 1.0))
    return out


def chroma_weights(features, config: CurveConfig | None = None) -> np.ndarray | None:
    """``[n, 12]`` smoothed, sharpened pitch-class weights summing to 1 per frame (0 in silence), or None."""
    cfg = config or CurveConfig()
    n = len(features.times_s)
    chroma = getattr(features, "chroma", None)
    if chroma is None or np.shape(chroma) != (n, 12):
        return None
    c = one_pole(np.clip(np.nan_to_num(np.asarray(chroma, np.float64)), 0, None), float(features.fps),
                 cfg.chroma_release_s).astype(np.float64) ** 2  # squared: the chord's notes, not every overtone
    total = c.sum(axis=1, keepdims=True)
    present = _gated(getattr(features, "harmonic", np.ones(n)), cfg.band_gate)[:, None] > 0
    return np.where(present & (total > 1e-9), c / np.maximum(total, 1e-12), 0.0).astype(np.float32)


def reactive_curves(features, config: CurveConfig | None = None, *, reference=None) -> ReactiveCurves:
    """Turn per-frame features into the curves that drive the latent walk.

    Parameters
    ----------
    features : FrameFeatures
        From :func:`musicvideo.audio.analyze`.
    config : CurveConfig, optional
        Curve knobs.
    reference : FrameFeatures, optional
        Features whose loudness and onset percentiles and whose character set the scales (e.g. the whole song, so
        that clips of one song share one scale); default: ``features`` itself.

    Returns
    -------
    ReactiveCurves
        ``loudness``, ``onset``, ``beat``, ``pulse`` in 0..1, ``speed`` >= 0, ``drive`` ``[N, 3]``, ``chroma``
        ``[N, 12]``, the song's ``character`` and its musical ``timing``; length ``features.n_frames``.

    Examples
    --------
    >>> curves = reactive_curves(analyze("song.mp3", fps=30))   # doctest: +SKIP
    >>> float(curves.speed.min()) >= 0                          # doctest: +SKIP
    True
    """
    cfg = config or CurveConfig()
    ref = reference if reference is not None else features
    fps = float(features.fps)
    n = len(features.times_s)
    times = np.asarray(features.times_s, dtype=np.float64)

    loud = percentile_normalize(features.loudness, cfg.low_percentile, cfg.high_percentile,
                                min_range=cfg.min_range, reference=ref.loudness)
    loud = attack_release(loud, fps, cfg.attack_s, cfg.release_s)

    onset_raw = percentile_normalize(features.onset, 0.0, 99.0, min_range=cfg.min_range, reference=ref.onset)
    onset = attack_release(onset_raw, fps, 0.0, cfg.onset_release_s)
    character = song_character(ref, cfg) if hasattr(ref, "loudness_db") else \
        SongCharacter(0.0, 0.0, 1.0, 0.5, 1.0)

    # Beats hit with an attack before and a release after the beat frame. A beat's height follows the strongest
    # onset next to it (beats in quiet passages hit less), the loudness, its place in the bar, and how far the
    # analysis trusts the beat there (no hits on beats it does not trust).
    near_onset = np.maximum.reduce([onset_raw, np.roll(onset_raw, 1), np.roll(onset_raw, -1)]) if n else onset_raw
    is_beat = np.asarray(features.beat) > 0.5
    beat_frames = np.flatnonzero(is_beat)
    beat = decaying_impulses(is_beat.astype(np.float32), fps, cfg.beat_release_s)
    strength = cfg.beat_strength_floor + (1.0 - cfg.beat_strength_floor) * near_onset
    strength = strength * (cfg.quiet_pulse + (1.0 - cfg.quiet_pulse) * loud)  # hits grow with the loudness
    song_conf = float(np.clip(np.nan_to_num(getattr(features, "beat_confidence", 1.0)), 0.0, 1.0))
    local_conf = np.asarray(getattr(features, "local_beat_confidence", np.full(n, song_conf)), dtype=np.float64)
    trust = confidence_gain(np.minimum(local_conf, song_conf), cfg.confidence_low, cfg.confidence_high)
    downbeat = np.asarray(getattr(features, "downbeat", np.zeros(n))) > 0.5
    accent = np.where(downbeat, 1.0, 1.0 / cfg.downbeat_gain)
    heights = np.clip(strength * trust * accent * character.scale, 0.0, 1.0)[beat_frames]

    # what sounds on each beat decides which layers its hit moves (a kick: coarse; a hat: fine)
    transients = band_transients(features, cfg)
    if len(beat_frames):
        window = np.stack([transients[np.clip(beat_frames + d, 0, n - 1)] for d in (-1, 0, 1, 2)]).max(axis=0)
        top = window.max(axis=1, keepdims=True)
        ratio = window / np.maximum(top, 1e-9)
        share = np.where(top > 0.05, 0.1 + 0.9 * ratio * ratio, 1.0)  # nothing stands out: every layer alike
    else:
        share = np.zeros((0, 3))
    band_hits = hit_envelope(times, beat_frames, heights[:, None] * share, attack_s=cfg.beat_attack_s,
                             release_s=cfg.beat_release_s)
    beat_pulse = hit_envelope(times, beat_frames, heights, attack_s=cfg.beat_attack_s, release_s=cfg.beat_release_s)
    onset_pulse = onset * (cfg.quiet_pulse + (1.0 - cfg.quiet_pulse) * loud) * min(character.scale, 1.0)
    if cfg.pulse_source == "beat":
        pulse = beat_pulse
    elif cfg.pulse_source == "onset":
        pulse, band_hits = onset_pulse, np.zeros((n, 3), np.float32)
    else:
        pulse = np.maximum(beat_pulse, onset_pulse)
    drive = np.clip(band_hits + transients * min(character.scale, 1.0), 0.0, 1.0).astype(np.float32)
    if cfg.pulse_source != "beat":
        drive = np.maximum(drive, onset_pulse[:, None] * np.array([0.0, 0.5, 1.0], np.float32))

    speed = cfg.speed_min + (cfg.speed_max - cfg.speed_min) * loud.astype(np.float64) ** cfg.speed_gamma
    speed = speed * character.scale + cfg.beat_boost * pulse
    return ReactiveCurves(fps=fps, loudness=loud, pulse=np.asarray(pulse, np.float32),
                          speed=speed.astype(np.float32), times_s=times, onset=onset, beat=beat, drive=drive,
                          level=np.clip(one_pole(loud, fps, 1.0), 0.0, 1.0),
                          chroma=chroma_weights(features, cfg), character=character,
                          timing=MusicalTime.from_features(features))
