"""musicvideo.motion: keyframe latents and the audio-driven walk between them.

``LatentWalk(generator, curves, config, seed=, device=)`` yields the ws of any frame range batch by batch;
``plan_walk`` times it in bars and sections; ``make_keyframes`` / ``z_from_seed`` turn seeds into latents (the same
ones ``musicvideo select`` shows); ``song_seed`` is a song's default seed; ``plan_camera`` moves a StyleGAN3
network's input (translation and rotation) with the music, as the walk's ``WalkBatch.transforms``.
Importing this package does not import torch (configs load without it); the latents are made with it.
"""

from __future__ import annotations

import importlib
from typing import Any

from .camera import CameraPath, accepts_transform, plan_camera
from .choreography import WalkPlan, plan_walk
from .walk import LatentWalk, WalkBatch, WalkConfig, interpolation_weights, layer_groups, positions_from_speed

_KEYFRAMES = ("Keyframes", "keyframe_seeds", "make_keyframes", "map_z", "song_seed", "z_from_seed")

__all__ = ["CameraPath", "Keyframes", "LatentWalk", "WalkBatch", "WalkConfig", "WalkPlan", "accepts_transform",
           "interpolation_weights", "keyframe_seeds", "layer_groups", "make_keyframes", "map_z", "plan_camera",
           "plan_walk", "positions_from_speed", "song_seed", "z_from_seed"]


def __getattr__(name: str) -> Any:
    if name in _KEYFRAMES:
        return getattr(importlib.import_module(".keyframes", __name__), name)
    raise AttributeError(f"module 'musicvideo.motion' has no attribute {name!r}")
