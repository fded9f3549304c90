"""Sections: the song's form (verse, chorus, ...) as boundaries snapped to downbeats and repeat-aware labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Sections:
    """The form of a song.

    Attributes
    ----------
    starts_s : numpy.ndarray
        float64 start of each section in seconds; the first is 0.
    labels : list of str
        One label per section, "A", "B", ...: a part that returns gets the label it had the first time.
    """

    starts_s: np.ndarray
    labels: list[str]


def find_sections(*, mel: np.ndarray, chroma: np.ndarray, beat_times_s: np.ndarray, downbeat_times_s: np.ndarray,
                  duration_s: float, sr: int, hop_length: int, beat_confidence: float) -> Sections:
    """Structural segmentation of a whole song.

    Parameters
    ----------
    mel : numpy.ndarray
        ``[n_mels, K]`` mel power spectrogram.
    chroma : numpy.ndarray
        ``[K, 12]`` chroma.
    beat_times_s, downbeat_times_s : numpy.ndarray
        Beats and downbeats in seconds (may be empty: then fixed-length time windows stand in for beats).
    duration_s : float
        Length of the song.
    sr, hop_length : int
        Feature frame ``k`` is at ``k * hop_length / sr`` seconds.
    beat_confidence : float
        0..1; with a low value, boundaries are not snapped to the (untrusted) downbeats.

    Returns
    -------
    Sections
    """
    return Sections(np.zeros(1), ["A"])
