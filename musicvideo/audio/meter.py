"""Meter: beat times -> downbeats, beats per bar and each beat's place in its bar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Meter:
    """Bars of a song.

    Attributes
    ----------
    downbeat_times_s : numpy.ndarray
        float64 times of the first beat of each bar (a subset of the beat times).
    beats_per_bar : int
        3, 4, ... (0 when there are no beats).
    beat_in_bar : numpy.ndarray
        int64 ``[n_beats]``: 1 on a downbeat, 2, 3, ... after it.
    """

    downbeat_times_s: np.ndarray
    beats_per_bar: int
    beat_in_bar: np.ndarray


def find_meter(beat_times_s: np.ndarray, *, mel: np.ndarray, percussive_mel: np.ndarray | None,
               chroma: np.ndarray, sr: int, hop_length: int) -> Meter:
    """Downbeats and beats per bar from features sampled at the beats.

    Parameters
    ----------
    beat_times_s : numpy.ndarray
        Beat times in seconds (from :func:`musicvideo.audio.beats.track_beats`).
    mel, percussive_mel : numpy.ndarray
        ``[n_mels, K]`` mel power spectrogram and its percussive part (None when HPSS is off).
    chroma : numpy.ndarray
        ``[K, 12]`` chroma.
    sr, hop_length : int
        Feature frame ``k`` is at ``k * hop_length / sr`` seconds.

    Returns
    -------
    Meter
    """
    n = len(beat_times_s)
    if n == 0:
        return Meter(np.zeros(0), 0, np.zeros(0, np.int64))
    beat_in_bar = np.arange(n) % 4 + 1  # placeholder: 4/4 from the first beat
    return Meter(np.asarray(beat_times_s, np.float64)[beat_in_bar == 1], 4, beat_in_bar.astype(np.int64))
