"""A clip per section: where the song's sections start (on downbeats, on the frame grid) and each label's looks.

``clips = "sections"`` in a plan (and ``musicvideo batch --auto``) cuts the song at the section starts the analysis
found (:class:`musicvideo.audio.structure.SongStructure`). Each cut is moved to the frame nearest it, so clip ``i``
is frames ``[F_i, F_{i+1})`` of the song's frame grid (frame ``k`` shows ``t = k / fps``): the clips tile the song
without gaps or overlaps, and in the editor each one starts on the frame of its section's downbeat.

Looks: every section label has its keyframe seeds, one list per take; clips of the same label and take share them,
so the second chorus looks like the first. Seeds the plan does not give are derived from the song's own seed, the
label's place in the song and the take (stable: re-running gives the same looks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..config import exact_fps

#: Sections shorter than this many frames are merged into the one before (a clip the editor could not see).
MIN_SECTION_FRAMES = 2


@dataclass
class SectionCut:
    """One section of the song as a clip on the frame grid.

    Attributes
    ----------
    index : int
        Position in the song (0-based).
    label : str
        Section label ("A", "B", ...; a returning part keeps its label).
    label_index : int
        Index of the label in order of first appearance.
    start_frame, stop_frame : int
        Frames ``[start_frame, stop_frame)`` of the song at the plan's fps.
    start_s, duration_s : float
        The same in seconds (``start_frame / fps``, ``(stop_frame - start_frame) / fps``; the last section ends
        with the song).
    first_bar, last_bar : int
        Bars it spans, 1-based as an editor counts (0 when the song has no bars).
    """

    index: int
    label: str
    label_index: int
    start_frame: int
    stop_frame: int
    start_s: float
    duration_s: float
    first_bar: int = 0
    last_bar: int = 0

    @property
    def n_frames(self) -> int:
        """Frames of the clip."""
        return self.stop_frame - self.start_frame

    @property
    def bars_text(self) -> str:
        """``"bars 1-8"``, ``"bar 5"``, or ``""`` without bars."""
        if self.first_bar <= 0:
            return ""
        if self.last_bar <= self.first_bar:
            return f"bar {self.first_bar}"
        return f"bars {self.first_bar}-{self.last_bar}"


@dataclass
class SongSections:
    """The song's cut into sections, with the musical markers the timeline shows.

    Attributes
    ----------
    cuts : list of SectionCut
        In song order; one covering the whole song when the song cannot be cut (see ``note``).
    labels : list of str
        Section labels in order of first appearance.
    downbeat_times_s : numpy.ndarray
        The song's downbeats (empty without a trusted beat).
    section_starts_s : numpy.ndarray
        Where the analysis put the sections (before snapping to frames).
    note : str
        Why the song is one clip (one section, no beat), else empty.
    fps : Fraction
        The frame grid.
    n_labels : int
        Labels the walk sees in the song (``label_index`` counts among them).
    """

    cuts: list[SectionCut]
    labels: list[str]
    downbeat_times_s: np.ndarray
    section_starts_s: np.ndarray
    note: str = ""
    fps: Fraction = field(default_factory=lambda: Fraction(30))
    n_labels: int = 1


def cut_sections(*, duration_s: float, fps: float | Fraction, downbeat_times_s: np.ndarray,
                 section_starts_s: np.ndarray, section_labels: np.ndarray | list[str], beat_confidence: float,
                 min_beat_confidence: float = 0.3) -> SongSections:
    """Cut a song at its section starts, on the frame grid.

    Parameters
    ----------
    duration_s : float
        Length of the song.
    fps : float or Fraction
        Frame rate of the clips (kept exact).
    downbeat_times_s, section_starts_s, section_labels
        From the analysis (:class:`musicvideo.audio.features.SongAnalysis`).
    beat_confidence : float
        The song's beat confidence; below ``min_beat_confidence`` there are no downbeats to cut on.
    min_beat_confidence : float
        As the walk's ``min_beat_confidence``.

    Returns
    -------
    SongSections
        One cut per section; a single cut over the whole song (with ``note`` saying why) when the song has one
        section or no beat to trust.
    """
    rate = exact_fps(fps)
    total = _frames_in(duration_s, rate)
    starts = np.asarray(section_starts_s, np.float64)
    labels = [str(x) for x in section_labels]
    downbeats = np.asarray(downbeat_times_s, np.float64)
    trusted = beat_confidence >= min_beat_confidence and len(downbeats) > 0
    note = ""
    if not trusted:
        note = (f"no beat to cut on (beat confidence {beat_confidence:.2f}, needs {min_beat_confidence:.2f}): "
                "rendering the whole song as one clip")
        downbeats = np.zeros(0)
    elif len(starts) < 2:
        note = "the analysis found one section: rendering the whole song as one clip"
    if note:
        starts, labels = np.zeros(1), [labels[0] if labels else "A"]
    order = list(dict.fromkeys(labels))
    frames = [0] + [int(round(Fraction(float(s)).limit_denominator(10**9) * rate)) for s in starts[1:]]
    kept: list[int] = []
    for i, f in enumerate(frames):  # a section squeezed to under MIN_SECTION_FRAMES joins the one before
        if kept and (f - frames[kept[-1]] < MIN_SECTION_FRAMES or f > total - MIN_SECTION_FRAMES):
            continue
        kept.append(i)
    # bar numbers as the walk counts them (the first downbeat at or after the section's start); a section after
    # the last downbeat starts with the bar after it
    from ..audio.structure import section_start_bars

    first_bars = section_start_bars(starts, downbeats)
    first_bars = np.where(first_bars < 0, len(downbeats), first_bars)
    cuts = []
    for j, i in enumerate(kept):
        stop = frames[kept[j + 1]] if j + 1 < len(kept) else total
        start_s = float(Fraction(frames[i]) / rate)
        duration = float(Fraction(stop - frames[i]) / rate) if j + 1 < len(kept) else duration_s - start_s
        first = last = 0
        if len(downbeats):
            first = int(min(first_bars[i], len(downbeats) - 1)) + 1
            next_bar = int(first_bars[kept[j + 1]]) if j + 1 < len(kept) else len(downbeats)
            last = max(first, next_bar)
        cuts.append(SectionCut(index=j, label=labels[i], label_index=order.index(labels[i]), start_frame=frames[i],
                               stop_frame=stop, start_s=start_s, duration_s=duration, first_bar=first,
                               last_bar=last))
    return SongSections(cuts=cuts, labels=list(dict.fromkeys(c.label for c in cuts)), downbeat_times_s=downbeats,
                        section_starts_s=np.asarray(section_starts_s, np.float64), note=note, fps=rate,
                        n_labels=len(order))


def _frames_in(duration_s: float, fps: Fraction) -> int:
    from ..config import frame_count

    return max(frame_count(duration_s, fps), 1)


def analyse_sections(song: str | Path, *, fps: float | Fraction, analysis=None,
                     min_beat_confidence: float = 0.3) -> SongSections:
    """Analyse a song (cached) and cut it into sections at ``fps``; see :func:`cut_sections`."""
    from ..audio import analyze_song_cached

    result = analyze_song_cached(song, analysis)
    return cut_sections(duration_s=result.duration_s, fps=fps, downbeat_times_s=result.downbeat_times_s,
                        section_starts_s=result.section_starts_s, section_labels=result.section_labels,
                        beat_confidence=result.beat_confidence, min_beat_confidence=min_beat_confidence)


def derived_seeds(base_seed: int, label_index: int, take: int, n_keyframes: int) -> list[int]:
    """Keyframe seeds of a label's take when the plan gives none: from ``(base_seed, label, take)``, stable."""
    from ..motion.keyframes import keyframe_seeds

    seed = int(np.random.SeedSequence([int(base_seed), 7919, int(label_index), int(take)])
               .generate_state(1, dtype=np.uint32)[0])
    return keyframe_seeds(seed, n_keyframes)


def opening_first(seeds: list[int], label_index: int, n_labels: int) -> list[int]:
    """The walk's seed list that makes a section of label ``label_index`` open on ``seeds[0]``.

    The walk starts each label at its own place in an explicit seed list
    (:func:`musicvideo.motion.walk.label_seeds`: label ``j`` of ``n`` starts ``j * len / n`` seeds in); a section
    clip's look is its own list, so it is rotated back here and the clip shows the look's seeds in their order.
    """
    shift = (label_index * len(seeds)) // max(n_labels, 1)
    return list(seeds[len(seeds) - shift:]) + list(seeds[:len(seeds) - shift]) if shift else list(seeds)


def clip_name(cut: SectionCut, take: int) -> str:
    """``"01 A"`` for take 1, ``"01 A take 2"`` after: sorts in song order in the editor's bin."""
    return f"{cut.index + 1:02d} {cut.label}" + (f" take {take}" if take > 1 else "")


__all__ = ["SectionCut", "SongSections", "cut_sections", "analyse_sections", "derived_seeds", "opening_first",
           "clip_name",
           "MIN_SECTION_FRAMES"]
