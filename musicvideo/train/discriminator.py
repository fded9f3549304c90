"""StyleGAN2's discriminator in plain torch (and :func:`load_discriminator`, which reads one out of a checkpoint).

The module and tensor names follow NVlabs stylegan2-ada-pytorch (``training/networks.py``, ``Discriminator``):
blocks ``b{res}`` from the image resolution down to 8 (``fromrgb``, ``conv0``, ``conv1`` with 2x down-sampling,
``skip`` for 'resnet'), the epilogue ``b4`` (minibatch standard deviation ``mbstd``, ``conv``, ``fc``, ``out``) and,
for conditional networks, a label ``mapping``. Every conv layer holds a ``resample_filter`` buffer as NVlabs' does, so
the ``D`` of an NVlabs pickle loads with ``strict=True``. The arithmetic reuses the generator's equalised-learning-
rate pieces (:mod:`musicvideo.generator.stylegan2`): weights stored N(0, 1) and scaled at run time, lrelu with gain
sqrt(2), the [1, 3, 3, 1] FIR low-pass before every stride-2 convolution, outputs clamped to +-``conv_clamp``.

:func:`load_discriminator` (in :mod:`.discriminator_load`) reads the ``D`` of an NVlabs PyTorch or TensorFlow pickle
(through the restricted unpickler: nothing in the file runs) or the ``d`` of a rosinality training checkpoint
(renamed to our layout), and returns None for files that hold only a generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..generator.stylegan2 import (ACT_GAIN, FullyConnectedLayer, GeneratorConfig, bias_act, fir_filter2d,
                                   make_fir_filter, normalize_2nd_moment)

__all__ = ["DiscriminatorConfig", "Discriminator", "DiscriminatorBlock", "DiscriminatorEpilogue", "ConvLayer",
           "MinibatchStdLayer", "LabelMapping", "load_discriminator"]


@dataclass
class DiscriminatorConfig:
    """Architecture of a StyleGAN2 discriminator (NVlabs' ``Discriminator`` constructor arguments).

    With a state dict it fully defines the network. The defaults are NVlabs' training defaults except the
    resolution, which must match the generator's.
    """

    c_dim: int = 0                  # conditioning label size (0 = unconditional)
    img_resolution: int = 256       # input resolution (square, a power of 2, >= 8)
    img_channels: int = 3           # RGB
    channel_base: int = 32768       # channels at resolution r are min(channel_base // r, channel_max)
    channel_max: int = 512
    num_fp16_res: int = 4           # the highest N resolutions run in fp16 on CUDA
    conv_clamp: float | None = 256  # clamp of conv outputs (keeps fp16 finite), None = off
    architecture: str = "resnet"    # 'resnet' (default), 'skip' or 'orig'
    mbstd_group_size: int | None = 4  # minibatch-stddev group size (None = whole batch)
    mbstd_num_channels: int = 1     # features appended by the minibatch-stddev layer (0 = no such layer)
    cmap_dim: int | None = None     # size of the mapped label (None = channels at 4x4); conditional only
    mapping_layers: int = 8         # fully connected layers of the label mapping (NVlabs' default for D)
    mapping_lr_mul: float = 0.01    # learning-rate multiplier of those layers (0.1 in TensorFlow networks)

    def validate(self) -> None:
        """Raise ValueError if the numbers do not describe a buildable network."""
        r = self.img_resolution
        if r < 8 or r & (r - 1):
            raise ValueError(f"img_resolution must be a power of 2 >= 8 (got {r})")
        if self.architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"unknown architecture {self.architecture!r} (expected 'orig', 'skip' or 'resnet')")
        if self.img_channels < 1 or self.c_dim < 0 or self.channel_base < 1 or self.channel_max < 1:
            raise ValueError("img_channels, channel_base and channel_max must be >= 1 and c_dim >= 0")
        if self.mbstd_num_channels < 0 or (self.mbstd_group_size is not None and self.mbstd_group_size < 1):
            raise ValueError("mbstd_num_channels must be >= 0 and mbstd_group_size None or >= 1")
        if self.mbstd_num_channels and self.channels(4) % self.mbstd_num_channels:
            raise ValueError(f"{self.channels(4)} channels at 4x4 do not split into {self.mbstd_num_channels} "
                             "minibatch-stddev groups")
        if self.mapping_layers < 0:
            raise ValueError("mapping_layers must be >= 0")

    @property
    def block_resolutions(self) -> list[int]:
        """Resolutions of the down-sampling blocks: img_resolution, ..., 8."""
        return [2**i for i in range(int(math.log2(self.img_resolution)), 2, -1)]

    def channels(self, res: int) -> int:
        """Feature channels at resolution ``res``."""
        return min(self.channel_base // res, self.channel_max)

    @property
    def label_dim(self) -> int:
        """Size of the mapped label the output is projected on (0 for unconditional networks)."""
        if self.c_dim == 0:
            return 0
        return self.channels(4) if self.cmap_dim is None else int(self.cmap_dim)

    @classmethod
    def for_generator(cls, config: GeneratorConfig) -> "DiscriminatorConfig":
        """The discriminator NVlabs' ``train.py`` pairs with a generator: same resolution, channels and labels.

        Parameters
        ----------
        config : GeneratorConfig
            One of our StyleGAN2 generator configs (any source format).

        Returns
        -------
        DiscriminatorConfig
            'resnet' architecture, fp16 for the 4 highest resolutions with conv_clamp 256, minibatch-stddev groups
            of 4, an 8-layer label mapping: NVlabs' defaults.

        Raises
        ------
        ValueError
            For non-square generators (NVlabs' discriminator is square only).
        """
        if tuple(config.init_res) != (4, 4):
            raise ValueError(f"non-square generators ({config.img_shape[1]}x{config.img_shape[0]}) have no "
                             "StyleGAN2 discriminator; train a square network")
        return cls(c_dim=config.c_dim, img_resolution=config.img_resolution, img_channels=config.img_channels,
                   channel_base=config.channel_base, channel_max=config.channel_max)


# ---------------------------------------------------------------------------------------------- layers


class ConvLayer(torch.nn.Module):
    """Equalised-lr convolution with optional 2x down-sampling (FIR low-pass, then stride 2), bias, activation.

    NVlabs' ``Conv2dLayer`` for the discriminator's cases (``up=1``); it keeps a ``resample_filter`` buffer even when
    it does not resample, as NVlabs' does, so the state dicts match.
    """

    def __init__(self, *,
                 in_channels: int,          # input channels
                 out_channels: int,         # output channels
                 kernel_size: int,          # kernel width and height
                 bias: bool = True,         # add a bias before the activation
                 activation: str = "linear",  # 'linear', 'relu' or 'lrelu'
                 down: int = 1,             # 1 or 2
                 resample_filter: tuple[float, ...] = (1, 3, 3, 1),
                 conv_clamp: float | None = None,  # clamp outputs to +-X
                 ) -> None:
        super().__init__()
        assert down in (1, 2)
        self.activation, self.down, self.conv_clamp = activation, down, conv_clamp
        self.register_buffer("resample_filter", make_fir_filter(resample_filter))
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = ACT_GAIN[activation]
        k, f = kernel_size, self.resample_filter.shape[0]
        # NVlabs' conv2d_resample padding for down=2: the filter's own (f-1)//2, f//2 - 1 plus the kernel's k//2.
        self._down_pad = (k // 2 + (f - 1) // 2, k // 2 + (f - 2) // 2)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        if self.down == 2:
            p0, p1 = self._down_pad
            x = F.conv2d(fir_filter2d(x, self.resample_filter, (p0, p1, p0, p1)), w, stride=2)
        else:
            x = F.conv2d(x, w, padding=w.shape[-1] // 2)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class DiscriminatorBlock(torch.nn.Module):
    """One resolution: (fromRGB), conv0 3x3, conv1 3x3 with 2x down-sampling, residual 1x1 ``skip`` ('resnet')."""

    def __init__(self, *,
                 in_channels: int,          # input feature channels, 0 = first block (reads the image)
                 tmp_channels: int,         # channels inside the block
                 out_channels: int,         # channels passed to the next (half-resolution) block
                 resolution: int,           # input resolution of this block
                 img_channels: int,
                 architecture: str = "resnet",
                 resample_filter: tuple[float, ...] = (1, 3, 3, 1),
                 conv_clamp: float | None = None,
                 use_fp16: bool = False,    # run in fp16 when the discriminator's fp16 mode is on (CUDA)
                 ) -> None:
        super().__init__()
        assert in_channels in (0, tmp_channels)
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.architecture, self.use_fp16 = architecture, use_fp16
        self.register_buffer("resample_filter", make_fir_filter(resample_filter))
        conv = dict(activation="lrelu", conv_clamp=conv_clamp, resample_filter=resample_filter)
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = ConvLayer(in_channels=img_channels, out_channels=tmp_channels, kernel_size=1, **conv)
        self.conv0 = ConvLayer(in_channels=tmp_channels, out_channels=tmp_channels, kernel_size=3, **conv)
        self.conv1 = ConvLayer(in_channels=tmp_channels, out_channels=out_channels, kernel_size=3, down=2, **conv)
        if architecture == "resnet":
            self.skip = ConvLayer(in_channels=tmp_channels, out_channels=out_channels, kernel_size=1, bias=False,
                                  down=2, resample_filter=resample_filter)

    def layers(self) -> list[ConvLayer]:
        """The conv layers in NVlabs' layer-index order (the order Freeze-D counts them)."""
        names = ("fromrgb", "conv0", "conv1", "skip")
        return [getattr(self, n) for n in names if hasattr(self, n)]

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor | None]:
        if x is not None:
            assert tuple(x.shape[1:]) == (self.in_channels, self.resolution, self.resolution), \
                f"block input {tuple(x.shape)}"
            x = x.to(dtype)
        if self.in_channels == 0 or self.architecture == "skip":
            assert img is not None and tuple(img.shape[1:]) == (self.img_channels, self.resolution, self.resolution), \
                f"image {None if img is None else tuple(img.shape)}"
            img = img.to(dtype)
            y = self.fromrgb(img)
            x = y if x is None else x + y
            # 'skip' feeds every block a down-sampled copy of the image (same FIR, no conv).
            img = fir_filter2d(img, self.resample_filter, (1, 1, 1, 1))[:, :, ::2, ::2] \
                if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = y + self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(torch.nn.Module):
    """Append the standard deviation of the features across groups of samples (lets D see a lack of variety).

    Within each group of ``group_size`` samples (sample ``i`` is in group ``i % (N / G)``, NVlabs' split), the
    std over the group of every feature, averaged over the channels of each of ``num_channels`` channel groups and
    over pixels, becomes ``num_channels`` constant extra feature maps.
    """

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = n if self.group_size is None else min(self.group_size, n)
        if n % g:
            raise ValueError(f"batch {n} is not a multiple of the minibatch-stddev group size {g}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)        # variance over the group
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])          # [n/G, F]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(torch.nn.Module):
    """The 4x4 end: (fromRGB for 'skip'), minibatch stddev, conv 3x3, fc, out (a logit, or a label projection)."""

    def __init__(self, *,
                 in_channels: int,          # feature channels at 4x4
                 cmap_dim: int,             # size of the mapped label, 0 = unconditional
                 resolution: int,           # 4
                 img_channels: int,
                 architecture: str = "resnet",
                 mbstd_group_size: int | None = 4,
                 mbstd_num_channels: int = 1,
                 conv_clamp: float | None = None,
                 ) -> None:
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution = in_channels, cmap_dim, resolution
        self.img_channels, self.architecture = img_channels, architecture
        if architecture == "skip":
            self.fromrgb = ConvLayer(in_channels=img_channels, out_channels=in_channels, kernel_size=1,
                                     activation="lrelu")
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = ConvLayer(in_channels=in_channels + mbstd_num_channels, out_channels=in_channels, kernel_size=3,
                              activation="lrelu", conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_features=in_channels * resolution**2, out_features=in_channels,
                                      activation="lrelu")
        self.out = FullyConnectedLayer(in_features=in_channels, out_features=cmap_dim or 1)

    def layers(self) -> list[torch.nn.Module]:
        """The layers with weights, in order."""
        return [m for m in (getattr(self, "fromrgb", None), self.conv, self.fc, self.out) if m is not None]

    def features(self, x: torch.Tensor, img: torch.Tensor | None) -> torch.Tensor:
        """Everything up to and including ``fc``: [B, in_channels] (fp32)."""
        assert tuple(x.shape[1:]) == (self.in_channels, self.resolution, self.resolution), f"epilogue {tuple(x.shape)}"
        x = x.to(torch.float32)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        return self.fc(self.conv(x).flatten(1))

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        x = self.out(self.features(x, img))
        if self.cmap_dim > 0:
            assert cmap is not None and tuple(cmap.shape[1:]) == (self.cmap_dim,)
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class LabelMapping(torch.nn.Module):
    """c -> cmap: NVlabs' MappingNetwork with ``z_dim=0, num_ws=None, w_avg_beta=None`` (embed, normalise, fcs)."""

    def __init__(self, *, c_dim: int, cmap_dim: int, num_layers: int = 8, lr_multiplier: float = 0.01) -> None:
        super().__init__()
        self.c_dim, self.num_layers = c_dim, num_layers
        self.embed = FullyConnectedLayer(in_features=c_dim, out_features=cmap_dim)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(in_features=cmap_dim, out_features=cmap_dim,
                                                        activation="lrelu", lr_multiplier=lr_multiplier))

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        assert c.ndim == 2 and c.shape[1] == self.c_dim, f"c must be [B, {self.c_dim}], got {tuple(c.shape)}"
        x = normalize_2nd_moment(self.embed(c.to(torch.float32)))
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x


class Discriminator(torch.nn.Module):
    """The StyleGAN2 discriminator: images in [-1, 1] (and labels) -> one real/fake logit per image.

    Parameters
    ----------
    config : DiscriminatorConfig
        The architecture. Weights from an NVlabs ``D`` load with ``load_state_dict(strict=True)``.

    Examples
    --------
    >>> D = Discriminator(DiscriminatorConfig(img_resolution=16, channel_base=128, channel_max=32))
    >>> D(torch.zeros(4, 3, 16, 16), None).shape
    torch.Size([4, 1])
    """

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.c_dim, self.img_resolution, self.img_channels = config.c_dim, config.img_resolution, config.img_channels
        self.block_resolutions = config.block_resolutions
        fp16_resolution = max(2 ** (int(math.log2(config.img_resolution)) + 1 - config.num_fp16_res), 8)
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                in_channels=config.channels(res) if res < config.img_resolution else 0,
                tmp_channels=config.channels(res), out_channels=config.channels(res // 2), resolution=res,
                img_channels=config.img_channels, architecture=config.architecture, conv_clamp=config.conv_clamp,
                use_fp16=res >= fp16_resolution)
            setattr(self, f"b{res}", block)
        cmap_dim = config.label_dim
        if config.c_dim > 0:
            self.mapping = LabelMapping(c_dim=config.c_dim, cmap_dim=cmap_dim, num_layers=config.mapping_layers,
                                        lr_multiplier=config.mapping_lr_mul)
        self.b4 = DiscriminatorEpilogue(
            in_channels=config.channels(4), cmap_dim=cmap_dim, resolution=4, img_channels=config.img_channels,
            architecture=config.architecture, mbstd_group_size=config.mbstd_group_size,
            mbstd_num_channels=config.mbstd_num_channels, conv_clamp=config.conv_clamp)
        # fp16 for the high-resolution blocks: None = on CUDA (NVlabs' mixed precision), True/False to force.
        self.use_fp16: bool | None = None

    def _fp16(self, device: torch.device) -> bool:
        return device.type == "cuda" and (self.use_fp16 is None or bool(self.use_fp16))

    def _trunk(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        r = self.img_resolution
        assert img.ndim == 4 and tuple(img.shape[1:]) == (self.img_channels, r, r), \
            f"images must be [B, {self.img_channels}, {r}, {r}], got {tuple(img.shape)}"
        half = self._fp16(img.device)
        x = None
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, dtype=torch.float16 if half and block.use_fp16 else torch.float32)
        return x, img

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """img [B, C, H, W] in [-1, 1] (c [B, c_dim]) -> logits [B, 1] (fp32; > 0 means "real")."""
        x, img = self._trunk(img)
        cmap = None
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this discriminator is conditional: pass c of shape [B, {self.c_dim}]")
            cmap = self.mapping(c)
        return self.b4(x, img, cmap)

    def features(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The penultimate activations (output of ``b4.fc``), [B, channels at 4x4]: an embedding for KID-style
        comparisons of image sets. Labels do not enter them (only the last projection uses ``c``)."""
        x, img = self._trunk(img)
        return self.b4.features(x, img)

    def layers(self) -> list[torch.nn.Module]:
        """The weight layers from the image inwards, numbered as NVlabs' Freeze-D counts them."""
        out: list[torch.nn.Module] = []
        for res in self.block_resolutions:
            out += getattr(self, f"b{res}").layers()
        return out + self.b4.layers()

    def freeze_layers(self, n: int) -> None:
        """Freeze-D: stop training the first ``n`` layers (NVlabs' ``--freezed``; the mapping keeps training)."""
        for i, layer in enumerate(self.layers()):
            layer.requires_grad_(i >= n)


# ---------------------------------------------------------------------------------------------- checkpoints


def load_discriminator(path: str | Path) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]] | None:
    """The discriminator stored in a training checkpoint, in our layout, or None if the file has none.

    NVlabs PyTorch and TensorFlow pickles (their ``D``) and rosinality training checkpoints (their ``d``); see
    :func:`musicvideo.train.discriminator_load.load_discriminator` for the details.

    Returns
    -------
    tuple or None
        ``(DiscriminatorConfig, state_dict)``; the state dict loads into ``Discriminator(config)`` with
        ``strict=True``.

    Raises
    ------
    CheckpointError
        An unreadable file, or a D whose tensors do not form a StyleGAN2 discriminator (one line).
    """
    from .discriminator_load import load_discriminator as load

    return load(path)
