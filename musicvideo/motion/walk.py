"""ReactiveCurves -> per-frame latents. (STUB: owned by the motion helper; keep the names, fill in the rest.)"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WalkConfig:
    """Knobs of the latent walk."""

    space: str = "w"
    n_keyframes: int = 8
