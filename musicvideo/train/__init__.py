"""Training: the image dataset tool and reader, the discriminator, augmentation, the loop, snapshots, quality.

Names are imported lazily (``from musicvideo.train import ImageZipDataset`` loads only that module), so the
command line's ``--help`` stays instant and the dataset tool does not import the training loop.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it (each helper adds its own rows)
_API = {
    "ImageZipDataset": ".dataset",
    "DatasetError": ".dataset_tool",
    "DatasetReport": ".dataset_tool",
    "make_dataset": ".dataset_tool",
    "QualityReport": ".quality",
    "measure_quality": ".quality",
    "Discriminator": ".discriminator",
    "DiscriminatorConfig": ".discriminator",
    "load_discriminator": ".discriminator",
    "StyleGAN2Loss": ".loss",
    "AugmentPipe": ".augment",
    "AdaController": ".augment",
    "TrainConfig": ".loop",
    "TrainResult": ".loop",
    "train": ".loop",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name], __name__), name)
    raise AttributeError(f"module 'musicvideo.train' has no attribute {name!r}")
