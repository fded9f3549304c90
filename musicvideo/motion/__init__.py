"""musicvideo.motion: keyframe latents and the audio-driven walk between them.

``LatentWalk(generator, curves, config, seed=, device=)`` yields the ws of any frame range batch by batch;
``make_keyframes`` / ``z_from_seed`` turn seeds into latents (the same ones ``musicvideo select`` shows).
"""

from .keyframes import Keyframes, keyframe_seeds, make_keyframes, map_z, z_from_seed
from .walk import LatentWalk, WalkBatch, WalkConfig, interpolation_weights, positions_from_speed

__all__ = ["Keyframes", "LatentWalk", "WalkBatch", "WalkConfig", "interpolation_weights", "keyframe_seeds",
           "make_keyframes", "map_z", "positions_from_speed", "z_from_seed"]
