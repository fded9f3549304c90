"""What every checkpoint format module returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..stylegan2 import GeneratorConfig
from ..stylegan3 import StyleGAN3Config

NetworkConfig = GeneratorConfig | StyleGAN3Config  # the architecture of either family


@dataclass
class LoadedCheckpoint:
    """A checkpoint converted to our layout, before any network is built.

    Attributes
    ----------
    config : GeneratorConfig or StyleGAN3Config
        The architecture; its type says the family (StyleGAN2 or StyleGAN3).
    state_dict : dict of str to Tensor
        Parameters and buffers under NVlabs' ``G_ema`` key names (stylegan2-ada-pytorch's or stylegan3's).
        ``mapping.w_avg`` is always present (computed when the file had none).
    format : str
        Short name of the source format: 'native', 'nvlabs-pytorch', 'nvlabs-tf', 'rosinality'.
    path : Path
        The file it came from.
    metadata : dict
        Anything else worth showing in ``musicvideo inspect`` (training kimg, source class names...).
    """

    config: NetworkConfig
    state_dict: dict[str, torch.Tensor]
    format: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """'stylegan2' or 'stylegan3' (from the config's type)."""
        return "stylegan3" if isinstance(self.config, StyleGAN3Config) else "stylegan2"
