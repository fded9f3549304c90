"""FrameFeatures -> ReactiveCurves. (STUB: owned by the audio helper; keep the names, fill in the rest.)"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CurveConfig:
    """Knobs that turn features into the curves the latent walk follows."""

    attack_s: float = 0.03
    release_s: float = 0.25


@dataclass
class ReactiveCurves:
    """Per-frame control curves (length n_frames, float32)."""

    fps: float
    loudness: np.ndarray
    pulse: np.ndarray
    speed: np.ndarray
