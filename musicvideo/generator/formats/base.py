"""What every checkpoint format module returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..stylegan2 import GeneratorConfig


@dataclass
class LoadedCheckpoint:
    """A checkpoint converted to our layout, before any network is built.

    Attributes
    ----------
    config : GeneratorConfig
        The architecture.
    state_dict : dict of str to Tensor
        Parameters and buffers under the NVlabs stylegan2-ada-pytorch ``G_ema`` key names.
        ``mapping.w_avg`` is always present (computed when the file had none).
    format : str
        Short name of the source format: 'native', 'nvlabs-pytorch', 'nvlabs-tf', 'rosinality'.
    path : Path
        The file it came from.
    metadata : dict
        Anything else worth showing in ``musicvideo inspect`` (training kimg, source class names...).
    """

    config: GeneratorConfig
    state_dict: dict[str, torch.Tensor]
    format: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
