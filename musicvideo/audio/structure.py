"""The song's musical time and form: beats, beat confidence, downbeats and meter, sections.

:func:`analyze_structure` runs the three analyses on the whole song's spectra (:mod:`.beats`, :mod:`.meter`,
:mod:`.sections`) and returns a :class:`SongStructure`; :func:`frame_positions` reads it at video frame times
(bar index, beat in bar, section index), which is what the choreography plans with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .beats import track_beats
from .meter import find_meter
from .sections import find_sections


@dataclass
class SongStructure:
    """Beats, bars and sections of a whole song (song time in seconds).

    Attributes
    ----------
    beat_times_s : numpy.ndarray
        float64 beat times (empty when there is no beat to trust).
    tempo_bpm : float
        Main tempo (0 without a beat).
    beat_confidence : float
        0..1: near 0 for beatless music, high for a steady groove.
    beat_confidence_curve : numpy.ndarray
        float32 ``[K]`` local beat confidence per feature frame.
    downbeat_times_s : numpy.ndarray
        float64 first beat of each bar.
    beats_per_bar : int
        Meter (0 without beats).
    section_starts_s : numpy.ndarray
        float64 section starts, the first at 0.
    section_labels : numpy.ndarray
        str labels "A", "B", ... one per section; a returning part keeps its label.
    """

    beat_times_s: np.ndarray
    tempo_bpm: float
    beat_confidence: float
    beat_confidence_curve: np.ndarray
    downbeat_times_s: np.ndarray
    beats_per_bar: int
    section_starts_s: np.ndarray
    section_labels: np.ndarray


def analyze_structure(*, mel: np.ndarray, percussive_mel: np.ndarray | None, onset: np.ndarray,
                      chroma: np.ndarray, sr: int, hop_length: int, duration_s: float, start_bpm: float = 120.0,
                      tightness: float = 100.0, trim_beats: bool = False) -> SongStructure:
    """Beats, meter and sections of a whole song from its spectra.

    Parameters
    ----------
    mel, percussive_mel : numpy.ndarray
        ``[n_mels, K]`` mel power spectrogram and its HPSS percussive part (None when HPSS is off).
    onset : numpy.ndarray
        ``[K]`` full-band librosa onset strength (not normalised).
    chroma : numpy.ndarray
        ``[K, 12]`` chroma.
    sr, hop_length : int
        Feature frame ``k`` is at ``k * hop_length / sr`` seconds.
    duration_s : float
        Length of the song.
    start_bpm, tightness, trim_beats
        Beat tracker knobs (see :class:`~musicvideo.audio.features.AnalysisConfig`).

    Returns
    -------
    SongStructure
    """
    beats = track_beats(mel=mel, percussive_mel=percussive_mel, onset=onset, sr=sr, hop_length=hop_length,
                        start_bpm=start_bpm, tightness=tightness, trim=trim_beats)
    meter = find_meter(beats.times_s, mel=mel, percussive_mel=percussive_mel, chroma=chroma, sr=sr,
                       hop_length=hop_length)
    sections = find_sections(mel=mel, chroma=chroma, beat_times_s=beats.times_s,
                             downbeat_times_s=meter.downbeat_times_s, duration_s=duration_s, sr=sr,
                             hop_length=hop_length, beat_confidence=beats.confidence)
    return SongStructure(beat_times_s=np.asarray(beats.times_s, np.float64), tempo_bpm=float(beats.tempo_bpm),
                         beat_confidence=float(beats.confidence),
                         beat_confidence_curve=np.asarray(beats.confidence_curve, np.float32),
                         downbeat_times_s=np.asarray(meter.downbeat_times_s, np.float64),
                         beats_per_bar=int(meter.beats_per_bar),
                         section_starts_s=np.asarray(sections.starts_s, np.float64),
                         section_labels=np.asarray(sections.labels, dtype=str))


@dataclass
class FramePositions:
    """Where each video frame falls in the song's musical time (all int64 arrays ``[n_frames]``).

    Attributes
    ----------
    bar_index : numpy.ndarray
        Index into the song's downbeats of the bar the frame is in; -1 before the first downbeat or without bars.
    beat_in_bar : numpy.ndarray
        1 from the downbeat until the second beat of the bar, 2, 3, ... after; 0 where there are no bars.
    section_index : numpy.ndarray
        Index into the song's sections.
    bar_position : numpy.ndarray
        float64 bars since the song's first downbeat, continuous (3.5 = halfway through the song's fourth bar):
        linear between the song's downbeats, at the neighbouring bar's length before the first and after the last;
        -1 without bars. A clip reads it from the whole song's downbeats, so it counts bars exactly as the song.
    """

    bar_index: np.ndarray
    beat_in_bar: np.ndarray
    section_index: np.ndarray
    bar_position: np.ndarray


def frame_positions(times_s: np.ndarray, *, beat_times_s: np.ndarray, downbeat_times_s: np.ndarray,
                    section_starts_s: np.ndarray, tolerance_s: float = 0.0) -> FramePositions:
    """Bar index, beat in bar and section index of each frame time.

    Parameters
    ----------
    times_s : numpy.ndarray
        Frame times in song seconds.
    beat_times_s, downbeat_times_s, section_starts_s : numpy.ndarray
        The whole song's beats, downbeats and section starts.
    tolerance_s : float
        A frame up to this much before an event already counts as at it. Half a frame makes the frame that
        shows a beat (the nearest one) the first of that beat, so a frame marked as a downbeat is beat 1.

    Returns
    -------
    FramePositions
    """
    # plus a tiny epsilon: a frame that lands on an event (up to float error) counts as at it
    eps = float(tolerance_s) + 1e-6
    t = np.asarray(times_s, np.float64)
    bar = np.searchsorted(np.asarray(downbeat_times_s, np.float64), t + eps, side="right") - 1
    beat_in_bar = np.zeros(len(t), np.int64)
    if len(downbeat_times_s) and len(beat_times_s):
        beats = np.asarray(beat_times_s, np.float64)
        beat_idx = np.searchsorted(beats, t + eps, side="right") - 1
        down_idx = np.searchsorted(beats, np.asarray(downbeat_times_s, np.float64) - eps)  # beat index of each bar
        inside = bar >= 0
        beat_in_bar[inside] = beat_idx[inside] - down_idx[bar[inside]] + 1
    section = np.maximum(np.searchsorted(np.asarray(section_starts_s, np.float64), t + eps, side="right") - 1, 0)
    return FramePositions(bar.astype(np.int64), beat_in_bar, section.astype(np.int64),
                          bar_positions(t, np.asarray(downbeat_times_s, np.float64)))


def bar_positions(times_s: np.ndarray, downbeat_times_s: np.ndarray) -> np.ndarray:
    """Continuous bar coordinate of each time (see :class:`FramePositions`); -1 everywhere without downbeats."""
    t = np.asarray(times_s, np.float64)
    d = np.asarray(downbeat_times_s, np.float64)
    if len(d) == 0:
        return np.full(len(t), -1.0)
    if len(d) == 1:
        return np.where(t >= d[0], 0.0, -1.0)
    index = np.arange(len(d), dtype=np.float64)
    out = np.interp(t, d, index)
    first, last = d[1] - d[0], d[-1] - d[-2]
    out = np.where(t < d[0], (t - d[0]) / first, out)
    return np.where(t > d[-1], index[-1] + (t - d[-1]) / last, out)


def section_start_bars(section_starts_s: np.ndarray, downbeat_times_s: np.ndarray) -> np.ndarray:
    """The song's bar each section starts with: the index of the first downbeat at or after its start.

    Parameters
    ----------
    section_starts_s, downbeat_times_s : numpy.ndarray
        The whole song's section starts and downbeats (seconds).

    Returns
    -------
    numpy.ndarray
        int64 ``[n_sections]``; -1 where the song has no bars or no downbeat follows.
    """
    downbeats = np.asarray(downbeat_times_s, np.float64)
    # sections start on downbeats (up to float error); one in a stretch without beats starts with the next bar
    index = np.searchsorted(downbeats, np.asarray(section_starts_s, np.float64) - 1e-3)
    return np.where(index < len(downbeats), index, -1).astype(np.int64)
