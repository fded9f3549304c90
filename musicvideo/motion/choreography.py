"""Musical time -> the walk's plan: where on which section's keyframe loop every frame is.

A music-video director works in bars and sections; so does this plan (no torch, O(N) floats):

- **Bars.** With a beat the analysis trusts, keyframe travel is timed in bars: one keyframe segment per
  ``bars_per_keyframe`` bars, counted from the start of the section, so every keyframe is reached on a downbeat.
  Inside a segment the loudness (the curves' speed) decides how the travel is spread: loud stretches move further
  per frame, quiet ones less, and the segment still ends on its downbeat.
- **Seconds.** Without a trusted beat (ambient, rubato) the position is the integral of the speed curve, as a plain
  audio-reactive walk.
- **Sections.** Each section label has its own keyframe loop, and every section starts at the beginning of its
  label's loop: the second chorus starts where the first did. A section change lands on its downbeat, as a quick
  morph that completes on it (default) or a hard cut.

:class:`WalkPlan` is what :class:`~musicvideo.motion.walk.LatentWalk` reads; :func:`plan_walk` makes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .walk import positions_from_speed


@dataclass
class WalkPlan:
    """Per-frame plan of a walk through per-section keyframe loops.

    Attributes
    ----------
    positions : numpy.ndarray
        float64 ``[N]`` position on the frame's label loop, in keyframe segments from the start of its section
        (whole numbers are keyframes).
    label : numpy.ndarray
        int64 ``[N]`` index into ``labels`` of the loop each frame walks on.
    morph : numpy.ndarray
        float32 ``[N]`` 0..1 weight of the *next* section's first keyframe (non-zero only just before a section
        change; 1 at a cut).
    next_label : numpy.ndarray
        int64 ``[N]`` the label whose first keyframe ``morph`` blends in.
    labels : list of str
        The section labels, in order of first appearance in the whole song.
    mode : str
        ``'bars'`` (timed in bars) or ``'seconds'`` (no trusted beat, or ``timing = "seconds"``).
    bars_per_keyframe : int
        Bars per keyframe segment in bars mode (0 in seconds mode).
    downbeat_frames : numpy.ndarray
        int64 frames nearest the downbeats inside the clip (empty in seconds mode).
    """

    positions: np.ndarray
    label: np.ndarray
    morph: np.ndarray
    next_label: np.ndarray
    labels: list[str]
    mode: str
    bars_per_keyframe: int
    downbeat_frames: np.ndarray


def _bar_coordinates(times_s: np.ndarray, downbeats_s: np.ndarray, bar_s: float,
                     first_bar: int = 0) -> tuple[np.ndarray, Any]:
    """Bar coordinate of each frame (the downbeats are whole numbers from ``first_bar``, the song's number of the
    first one, so a clip counts bars as the whole song does; linear in between, the median bar length outside),
    and the function that maps any time to it."""
    k = np.full(len(downbeats_s), float(first_bar))
    for j in range(1, len(downbeats_s)):  # a missed downbeat still counts its bar
        k[j] = k[j - 1] + max(1.0, round((downbeats_s[j] - downbeats_s[j - 1]) / bar_s))

    def at(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        out = np.interp(t, downbeats_s, k)
        out = np.where(t < downbeats_s[0], k[0] + (t - downbeats_s[0]) / bar_s, out)
        return np.where(t > downbeats_s[-1], k[-1] + (t - downbeats_s[-1]) / bar_s, out)

    return at(times_s), at


def _shape_segments(positions: np.ndarray, speed: np.ndarray, occurrence: np.ndarray, amount: float) -> np.ndarray:
    """Spread each whole segment's travel by the speed curve (loud frames move further), keeping its ends.

    A segment's fraction ``u`` (linear in bars) becomes ``(1 - amount) * u + amount * F(u)``, where ``F`` is the
    integral of the speed over the segment, normalised to 0..1; where a segment is cut by the clip's ends, its
    unseen part counts at the mean speed of its seen part.
    """
    if amount <= 0 or len(positions) < 3:
        return positions
    out = positions.copy()
    seg = np.floor(positions + 1e-9)
    key = np.stack([occurrence.astype(np.float64), seg], axis=1)
    change = np.flatnonzero(np.any(key[1:] != key[:-1], axis=1)) + 1
    starts = np.r_[0, change]
    stops = np.r_[change, len(positions)]
    s_all = np.maximum(np.nan_to_num(np.asarray(speed, np.float64)), 1e-6)
    for a, b in zip(starts.tolist(), stops.tolist()):
        if b - a < 2:
            continue
        u = positions[a:b] - seg[a]
        s = s_all[a:b]
        before = s[0] if a > 0 else s.mean()  # cut by the clip: the unseen part at the seen part's mean speed
        after = s[-1] if b < len(positions) else s.mean()
        pieces = np.r_[u[0] * before, np.diff(u) * s[:-1], (1.0 - u[-1]) * after]
        total = pieces.sum()
        if not total > 0:
            continue
        shaped = np.cumsum(pieces)[:-1] / total
        out[a:b] = seg[a] + (1.0 - amount) * u + amount * shaped
    return out


def plan_walk(curves: Any, *, n_keyframes: int, timing: str = "bars", bars_per_keyframe: int = 0,
              bar_shaping: float = 0.7, sections: bool = True, section_change: str = "morph",
              section_morph_s: float = 0.4, min_beat_confidence: float = 0.3,
              speed_scale: float = 1.0) -> WalkPlan:
    """Plan a walk in musical time.

    Parameters
    ----------
    curves : ReactiveCurves
        ``fps``, ``times_s``, ``speed`` and, when present, ``timing`` (beats, bars, sections) and ``character``.
    n_keyframes : int
        Keyframes per label loop.
    timing : {'bars', 'seconds'}
        Time keyframe travel in bars when the beat is trusted, or always in seconds.
    bars_per_keyframe : int
        Bars per keyframe segment; 0 chooses 2 for an energetic song and 4 for a calm one (doubled while a
        segment would be shorter than 1.5 s).
    bar_shaping : float
        0..1: how much the loudness spreads the travel inside a segment (0 = evenly in time).
    sections : bool
        One keyframe loop per section label (False: one loop for the whole clip).
    section_change : {'morph', 'cut'}
        How a section change looks.
    section_morph_s : float
        Length of the morph, ending on the section's downbeat (four times as long in seconds mode, where there is
        no downbeat to land on).
    min_beat_confidence : float
        Below this song beat confidence the walk is timed in seconds.
    speed_scale : float
        Multiplier of the speed curve in seconds mode.

    Returns
    -------
    WalkPlan
    """
    fps = float(curves.fps)
    speed = np.asarray(curves.speed, dtype=np.float64)
    n = len(speed)
    times = np.asarray(getattr(curves, "times_s", None) if getattr(curves, "times_s", None) is not None
                       else np.arange(n) / fps, dtype=np.float64)
    info = getattr(curves, "timing", None)
    character = getattr(curves, "character", None)

    # ---- which label each frame is on, and where each section occurrence starts
    if sections and info is not None and len(info.section_labels) > 0 and n > 0:
        song_labels = [str(x) for x in info.section_labels]
        labels = list(dict.fromkeys(song_labels))
        label_of_section = np.array([labels.index(x) for x in song_labels], np.int64)
        section = np.asarray(info.section_index, np.int64)
        label = label_of_section[section]
        boundaries = np.flatnonzero(section[1:] != section[:-1]) + 1
        occurrence_start_s = np.asarray(info.section_starts_s, np.float64)[section]
    else:
        labels = ["A"]
        label = np.zeros(n, np.int64)
        boundaries = np.zeros(0, np.int64)
        occurrence_start_s = np.full(n, times[0] if n else 0.0)
    occurrence = np.zeros(n, np.int64)
    if len(boundaries):
        occurrence[boundaries] = 1
        occurrence = np.cumsum(occurrence)

    # ---- bars or seconds
    downbeats = np.asarray(info.downbeat_times_s, np.float64) if info is not None else np.zeros(0)
    bar_s = 0.0
    if len(downbeats) >= 2:
        bar_s = float(np.median(np.diff(downbeats)))
    elif len(downbeats) == 1 and info.tempo_bpm > 0 and info.beats_per_bar > 0:
        bar_s = 60.0 / info.tempo_bpm * info.beats_per_bar
    trusted = info is not None and info.beat_confidence >= min_beat_confidence
    mode = "bars" if timing == "bars" and trusted and bar_s > 0 and n > 0 else "seconds"

    per_key = 0
    downbeat_frames = np.zeros(0, np.int64)
    if mode == "bars":
        energy = character.energy if character is not None else 0.5
        per_key = int(bars_per_keyframe) or (2 if energy >= 0.5 else 4)
        if not bars_per_keyframe:
            while per_key * bar_s < 1.5:  # a fast tempo: keep a keyframe on screen long enough to read
                per_key *= 2
        first = int(np.clip(np.round((downbeats[0] - times[0]) * fps), 0, n - 1))
        first_bar = max(0, int(np.asarray(info.bar_index)[first])) if len(info.bar_index) == n else 0
        bars, bar_at = _bar_coordinates(times, downbeats, bar_s, first_bar)
        song_bars = info.bar_position
        if song_bars is not None and len(song_bars) == n and np.all(song_bars >= 0) and len(info.bar_index) == n:
            bars = np.asarray(song_bars, np.float64)  # the whole song's bar clock: a clip counts as the song does
        # a section starts on a downbeat: its bar number is whole (without sections, bars count from the song's);
        # the analysis knows it from the whole song's downbeats, which a clip that starts inside the section does
        # not see (estimated from the clip's bar length only where the analysis does not say)
        start_bar = np.round(bar_at(occurrence_start_s)) if sections else np.zeros(n)
        known = info.section_start_bars
        if sections and known is not None and len(info.section_labels) > 0:
            song_bar = known[np.asarray(info.section_index, np.int64)].astype(np.float64)
            start_bar = np.where(song_bar >= 0, song_bar, start_bar)
        positions = (bars - start_bar) / per_key
        positions = _shape_segments(positions, speed, occurrence, float(bar_shaping))
        downbeat_frames = np.clip(np.round((downbeats - times[0]) * fps).astype(np.int64), 0, max(n - 1, 0))
    else:
        positions = positions_from_speed(speed, fps, speed_scale)
        # each section occurrence starts at 0; the first one (begun before the clip) where it would be by now
        mean_step = float(np.mean(np.maximum(speed, 0))) * speed_scale if n else 0.0
        offset = np.zeros(n)
        for start in [0, *boundaries.tolist()]:
            lead = max(0.0, times[start] - occurrence_start_s[start]) * mean_step if start == 0 else 0.0
            offset[start:] = positions[start] - lead
        positions = positions - offset

    # ---- section changes: a morph into the next label's first keyframe that completes on the change frame
    morph = np.zeros(n, np.float32)
    next_label = label.copy()
    morph_s = section_morph_s * (1.0 if mode == "bars" else 4.0)
    frames = int(round(morph_s * fps)) if section_change == "morph" else 0
    for f in boundaries.tolist():
        a = max(0, f - frames)
        if section_change == "cut" or frames == 0:
            continue
        x = (np.arange(a, f) - (f - frames) + 1) / (frames + 1)
        morph[a:f] = np.maximum(morph[a:f], (x * x * (3 - 2 * x)).astype(np.float32))
        next_label[a:f] = label[f]
    return WalkPlan(positions=np.asarray(positions, np.float64), label=label, morph=morph, next_label=next_label,
                    labels=labels, mode=mode, bars_per_keyframe=per_key, downbeat_frames=downbeat_frames)
