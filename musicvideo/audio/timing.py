"""Exact frame timing: fractional frame rates and frame counts without float drift.

Frame ``i`` of a clip shows song time ``t_i = start + i / fps`` and a clip of ``duration`` seconds has exactly
``ceil(duration * fps)`` frames (DESIGN.md, "Time"). These helpers are pure; ``musicvideo.config`` re-exports
them so every stage counts frames the same way.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..errors import ConfigError


def exact_fps(fps: float | str | Fraction) -> Fraction:
    """Return ``fps`` as an exact fraction, mapping the NTSC rates to their true values.

    Parameters
    ----------
    fps : float, str or Fraction
        ``29.97`` becomes ``30000/1001``, ``23.976`` becomes ``24000/1001``, ``59.94`` becomes ``60000/1001``;
        strings such as ``"30000/1001"`` are parsed exactly.

    Returns
    -------
    Fraction
        The frame rate.

    Raises
    ------
    ConfigError
        When fps is not a positive finite number.
    """
    try:
        if isinstance(fps, str):
            value = Fraction(fps.strip())
        elif isinstance(fps, Fraction):
            value = fps
        else:
            if not math.isfinite(float(fps)):
                raise ValueError
            value = Fraction(fps).limit_denominator(1_000_000)
    except (ValueError, ZeroDivisionError, TypeError):
        raise ConfigError(f"fps must be a positive number, got {fps!r} (e.g. --fps 30 or --fps 30000/1001)") from None
    if value <= 0:
        raise ConfigError(f"fps must be positive, got {fps!r} (e.g. --fps 30)")
    for base in (24, 30, 48, 60, 120):
        ntsc = Fraction(base * 1000, 1001)
        if abs(float(value) - float(ntsc)) < 0.006 and value != base:
            return ntsc
    return value


def frame_count(duration_s: float, fps: float | Fraction) -> int:
    """Number of frames of a clip: ``ceil(duration_s * fps)``, computed without float drift.

    A duration that is an exact multiple of the frame period gives exactly that many frames (10 s at 29.97 fps
    is 300 frames, not 301).

    Parameters
    ----------
    duration_s : float
        Clip length in seconds.
    fps : float or Fraction
        Frame rate.

    Returns
    -------
    int
        The frame count (0 for a non-positive duration).
    """
    exact = Fraction(duration_s).limit_denominator(10**9) * Fraction(fps)
    n = math.ceil(exact - Fraction(1, 10**6))  # forgive float noise in the duration, never a real fraction of a frame
    return max(int(n), 0)


def frame_times(start_s: float, n_frames: int, fps: float | Fraction) -> np.ndarray:
    """Song times ``start + i / fps`` of ``n_frames`` frames, float64.

    Computed as ``(start * fps + i) / fps`` so that a clip starting on a frame boundary of the whole song gets
    bit-identical times to the whole song's frames (clip analysis then equals whole-song analysis exactly).

    Parameters
    ----------
    start_s : float
        Time of frame 0 in seconds.
    n_frames : int
        Number of frames.
    fps : float or Fraction
        Frame rate.

    Returns
    -------
    numpy.ndarray
        float64 times in seconds, shape ``[n_frames]``.
    """
    rate = Fraction(fps)
    offset = Fraction(start_s).limit_denominator(10**9) * rate  # start in frames, exact
    return (np.arange(n_frames, dtype=np.float64) + float(offset)) / float(rate)
