"""musicvideo: audio-reactive music videos from a song and a StyleGAN2 or StyleGAN3 checkpoint.

The public API (imported lazily, so ``import musicvideo`` is cheap)::

    import musicvideo
    features = musicvideo.analyze("song.mp3", fps=30)
    G = musicvideo.load_generator("network.pkl")
    musicvideo.render("song.mp3", checkpoint="network.pkl", output="video.mp4")

Batches of clips and their timelines are in :mod:`musicvideo.batch`; the dataset tool and training in
:mod:`musicvideo.train` (``make_dataset``, ``train``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it
_API = {
    "analyze": ".audio",
    "decode_audio": ".audio",
    "FrameFeatures": ".audio",
    "reactive_curves": ".audio",
    "load_generator": ".generator",
    "Generator": ".generator",
    "render": ".render",
    "RenderConfig": ".config",
    "load_config": ".config",
    "MusicVideoError": ".errors",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name], __name__), name)
    raise AttributeError(f"module 'musicvideo' has no attribute {name!r}")
