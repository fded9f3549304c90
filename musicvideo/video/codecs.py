"""Codec presets. (STUB: owned by the video helper; keep the names, fill in the rest.)"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class VideoConfig:
    """Knobs of the encoder."""

    codec: str = "h264"
    crf: int = 18
    preset: str = "medium"
