"""AudioClip + fps -> FrameFeatures. (STUB: owned by the audio helper; keep the names, fill in the rest.)"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class AnalysisConfig:
    """Knobs of the audio analysis (part of the cache key)."""

    sample_rate: int = 22050
    hop_length: int = 512


@dataclass
class FrameFeatures:
    """Per-frame features of a clip; every array has length ``n_frames`` (see DESIGN.md)."""

    fps: float
    start_s: float
    duration_s: float
    times_s: np.ndarray
    loudness_db: np.ndarray
    loudness: np.ndarray
    onset: np.ndarray
    beat: np.ndarray
    beat_times_s: np.ndarray
    tempo_bpm: float
    percussive: np.ndarray
    harmonic: np.ndarray
    chroma: np.ndarray
    bass: np.ndarray
    mid: np.ndarray
    treble: np.ndarray

    @property
    def n_frames(self) -> int:
        return len(self.times_s)
