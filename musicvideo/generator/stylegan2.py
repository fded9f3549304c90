"""The StyleGAN2 network in plain torch. (STUB: the generator-network helper replaces everything below the config.)"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GeneratorConfig:
    """Architecture of a StyleGAN2 generator; with a state dict it fully defines the network.

    The parameter names of :class:`Generator` are those of NVlabs stylegan2-ada-pytorch's ``G_ema.state_dict()`` for
    the same architecture, so every checkpoint format converts to that one layout.
    """

    z_dim: int = 512                # input latent size (0 for none)
    c_dim: int = 0                  # conditioning label size (0 = unconditional)
    w_dim: int = 512                # intermediate latent size
    img_resolution: int = 1024      # output resolution (of the longer side for non-square models)
    img_channels: int = 3           # RGB
    mapping_layers: int = 8         # fully connected layers in the mapping network
    mapping_lr_mul: float = 0.01    # learning-rate multiplier of the mapping layers (scales weights at run time)
    embed_features: int | None = None  # label embedding size (None = w_dim)
    layer_features: int | None = None  # mapping hidden size (None = w_dim)
    channel_base: int = 32768       # channels at resolution r are min(channel_base // r, channel_max)
    channel_max: int = 512
    num_fp16_res: int = 4           # the highest N resolutions run in fp16 on CUDA
    conv_clamp: float | None = 256  # clamp of conv outputs (NVlabs PyTorch models), None for TF/rosinality models
    architecture: str = "skip"      # 'skip' (StyleGAN2 default); 'orig' / 'resnet' where supported
    init_res: tuple[int, int] = (4, 4)  # (height, width) of the constant input; (4, 4) for square models
