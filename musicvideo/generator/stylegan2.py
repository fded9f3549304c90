"""The StyleGAN2 generator in plain torch: mapping, synthesis, modulated convolution, FIR up-sampling, noise.

The module and parameter names follow NVlabs stylegan2-ada-pytorch (``training/networks.py``) so that a ``G_ema``
state dict loads with ``strict=True``; the arithmetic follows the same definitions (weight gains applied at run time,
lrelu with gain sqrt(2), [1, 3, 3, 1] FIR filter around the transposed convolution, clamped conv outputs). There are
no custom CUDA/C++ ops: every operation is a stock torch op, so the network runs on cpu, cuda and mps.

This module knows nothing about files; :mod:`musicvideo.generator.formats` builds a :class:`GeneratorConfig` and a
state dict from a checkpoint.

Non-square networks: ``GeneratorConfig.init_res = (h0, w0)`` is the size of the constant input. Blocks are still
named ``b4, b8, ...`` after the nominal square resolution ``r`` (which sets their channel count); block ``b{r}``
produces ``(h0 * r // 4, w0 * r // 4)`` pixels. ``img_resolution`` is the *longer* side of the final image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError


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

    def __post_init__(self) -> None:
        self.init_res = (int(self.init_res[0]), int(self.init_res[1]))  # JSON gives a list

    def validate(self) -> None:
        """Raise ValueError if the numbers do not describe a buildable network."""
        h0, w0 = self.init_res
        if h0 < 1 or w0 < 1 or max(h0, w0) != 4 and min(h0, w0) != 4:
            raise ValueError(f"init_res must have 4 on one side (got {self.init_res})")
        top = max(h0, w0)
        if self.img_resolution < top or self.img_resolution % top:
            raise ValueError(f"img_resolution {self.img_resolution} is not the long side {top} times a power of 2")
        ratio = self.img_resolution // top
        if ratio & (ratio - 1):
            raise ValueError(f"img_resolution {self.img_resolution} is not {top} times a power of 2")
        if self.architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"unknown architecture {self.architecture!r} (expected 'orig', 'skip' or 'resnet')")
        if self.w_dim < 1 or self.z_dim < 0 or self.c_dim < 0 or self.z_dim + self.c_dim == 0:
            raise ValueError("need w_dim >= 1 and at least one of z_dim, c_dim")
        if self.mapping_layers < 1:
            raise ValueError("mapping_layers must be >= 1")

    @property
    def block_resolutions(self) -> list[int]:
        """Nominal (square-equivalent) resolutions of the synthesis blocks: 4, 8, ..."""
        top = max(self.init_res)
        n = int(round(math.log2(self.img_resolution // top))) + 1
        return [4 * 2**i for i in range(n)]

    @property
    def img_shape(self) -> tuple[int, int]:
        """(height, width) of the output images."""
        scale = self.block_resolutions[-1] // 4
        return self.init_res[0] * scale, self.init_res[1] * scale

    @property
    def num_ws(self) -> int:
        """How many w vectors the synthesis network consumes (one per conv layer plus the last toRGB)."""
        return 2 * len(self.block_resolutions)  # b4 has 1 conv, the others 2; +1 for the final toRGB

    def channels(self, res: int) -> int:
        """Feature channels of the block at nominal resolution ``res``."""
        return min(self.channel_base // res, self.channel_max)


# ---------------------------------------------------------------------------------------------- elementary ops


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale each vector to unit root-mean-square (the "pixel norm" of the mapping inputs)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def make_fir_filter(taps: list[float] | tuple[float, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """The separable 2-D low-pass filter ``outer(taps, taps)`` normalised to sum 1, shape [k, k]."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def fir_filter2d(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int, int, int], gain: float = 1.0) -> torch.Tensor:
    """Pad ``x`` by (left, right, top, bottom) and convolve every channel with the 2-D filter ``f``, times ``gain``.

    A true convolution (the filter is flipped), like NVlabs ``upfirdn2d`` with ``flip_filter=False``; the
    [1,3,3,1] filter is symmetric so this only matters for custom filters.
    """
    channels = x.shape[1]
    x = F.pad(x, list(pad))
    k = (f.flip([0, 1]) * gain).to(x.dtype)
    k = k[None, None].expand(channels, 1, *f.shape)
    return F.conv2d(x, k, groups=channels)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Up-sample by zero insertion, then low-pass with ``f`` (gain ``up**2`` keeps the mean), same as NVlabs.

    Output size is exactly ``up`` times the input size. A depthwise stride-``up`` transposed convolution with the
    filter is exactly "insert zeros, then convolve" without touching the zeros; NVlabs' padding
    ((k + up - 1) // 2 before, (k - up) // 2 after) then selects the window starting at ``k - 1 - pad_before``.
    """
    b, c, h, w = x.shape
    k = f.shape[-1]
    start = k - 1 - (k + up - 1) // 2
    kernel = (f * up**2).to(x.dtype)[None, None].expand(c, 1, *f.shape)
    y = F.conv_transpose2d(x, kernel, stride=up, groups=c)
    return y[:, :, start:start + h * up, start:start + w * up]


def _can_modify(x: torch.Tensor) -> bool:
    """In-place updates are safe for fresh intermediates when no autograd graph needs the old values."""
    return not (torch.is_grad_enabled() and x.requires_grad)


def bias_act(x: torch.Tensor, b: torch.Tensor | None, *, act: str = "linear", gain: float = 1.0,
             clamp: float | None = None) -> torch.Tensor:
    """Add a per-channel bias, apply the activation, multiply by ``gain`` and clamp to +-``clamp``.

    ``x`` must be a fresh intermediate: outside autograd it is updated in place (half the memory traffic).
    """
    inplace = _can_modify(x)
    if b is not None:
        b = b.to(x.dtype).reshape(1, -1, *([1] * (x.ndim - 2)))
        x = x.add_(b) if inplace else x + b
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2, inplace=inplace)
    elif act == "relu":
        x = F.relu(x, inplace=inplace)
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}")
    if gain != 1:
        x = x.mul_(gain) if inplace else x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp_(-clamp, clamp) if inplace else x.clamp(-clamp, clamp)
    return x


ACT_GAIN = {"linear": 1.0, "relu": math.sqrt(2), "lrelu": math.sqrt(2)}


def _conv_up2(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, groups: int) -> torch.Tensor:
    """3x3 (or kxk) convolution on the 2x up-sampled input, as NVlabs: stride-2 transposed conv, then the FIR.

    ``w`` is [O, I/groups, k, k] (correlation layout, not flipped, as NVlabs passes it for up-sampling). The
    transposed conv produces 2H + k - 2 samples per axis; the FIR (gain 4), padded as NVlabs' ``conv2d_resample``
    pads it (1 before and 1 after for k=3 and the 4-tap filter), brings that to exactly 2H.
    """
    out_channels, in_per_group, kh, kw = w.shape
    # conv_transpose2d wants [I, O/groups, k, k]; per group swap the in/out axes.
    wt = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
    wt = wt.reshape(groups * in_per_group, out_channels // groups, kh, kw)
    x = F.conv_transpose2d(x, wt, stride=2, groups=groups)
    fh, fw = f.shape
    # NVlabs conv2d_resample: padding 1 w.r.t. the up-sampled image, shifted for filter and kernel sizes.
    px0 = kw // 2 + (fw + 1) // 2 - (kw - 1)
    px1 = kw // 2 + (fw - 2) // 2 - (kw - 2)
    py0 = kh // 2 + (fh + 1) // 2 - (kh - 1)
    py1 = kh // 2 + (fh - 2) // 2 - (kh - 2)
    return fir_filter2d(x, f, (px0, px1, py0, py1), gain=4)


def modulated_conv2d(
    x: torch.Tensor,                    # input [B, I, H, W]
    weight: torch.Tensor,               # shared weight [O, I, k, k]
    styles: torch.Tensor,               # per-sample input-channel scales [B, I]
    *,
    noise: torch.Tensor | None = None,  # added to the output, broadcastable to [B, O, H', W']
    up: int = 1,                        # 1 or 2: up-sample the input 2x (transposed conv + FIR)
    demodulate: bool = True,            # normalise each output channel's effective weight to unit L2 norm
    resample_filter: torch.Tensor | None = None,  # FIR filter for up=2
    fused: bool = True,                 # grouped conv with per-sample weights (True) or scale activations (False)
) -> torch.Tensor:
    """StyleGAN2's modulated (and demodulated) convolution.

    The effective weight of sample ``n`` is ``w[o, i] * s[n, i]``, divided by ``sqrt(sum_i,k (w * s)^2 + 1e-8)``
    when demodulating. ``fused=True`` runs it as one grouped convolution with a weight per sample; ``fused=False``
    scales the activations before and after one shared convolution (same maths, often faster for big batches).
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    assert x.ndim == 4 and x.shape[1] == in_channels, f"x {tuple(x.shape)} vs weight {tuple(weight.shape)}"
    assert styles.shape == (batch, in_channels), f"styles {tuple(styles.shape)} != {(batch, in_channels)}"
    assert up in (1, 2)

    if x.dtype == torch.float16 and demodulate:
        # Pre-normalise so fp16 intermediates cannot overflow; demodulation removes the scale again.
        weight = weight * (1 / math.sqrt(in_channels * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    dcoefs = None
    if demodulate or fused:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)  # [B, O, I, k, k]
        if demodulate:
            dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [B, O]

    if not fused:
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        wx = weight.to(x.dtype)
        x = _conv_up2(x, wx, resample_filter, 1) if up == 2 else F.conv2d(x, wx, padding=kh // 2)
        inplace = _can_modify(x)
        if dcoefs is not None:
            d = dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)
            x = x.mul_(d) if inplace else x * d
        if noise is not None:
            x = x.add_(noise.to(x.dtype)) if inplace else x + noise.to(x.dtype)
        return x

    if dcoefs is not None:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw).to(x.dtype)
    if up == 2:
        x = _conv_up2(x, w, resample_filter, batch)
    else:
        x = F.conv2d(x, w, padding=kh // 2, groups=batch)
    x = x.reshape(batch, -1, *x.shape[2:])
    if noise is not None:
        x = x.add_(noise.to(x.dtype)) if _can_modify(x) else x + noise.to(x.dtype)
    return x


# ---------------------------------------------------------------------------------------------- layers


class FullyConnectedLayer(torch.nn.Module):
    """Dense layer with equalised learning rate: weights stored as N(0,1)/lr_mul, scaled by lr_mul/sqrt(in)."""

    def __init__(self, *,
                 in_features: int,          # input size
                 out_features: int,         # output size
                 bias: bool = True,         # add a bias before the activation
                 activation: str = "linear",  # 'linear', 'relu' or 'lrelu'
                 lr_multiplier: float = 1.0,  # learning-rate multiplier (run-time scale of weight and bias)
                 bias_init: float = 0.0,    # initial bias value
                 ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 2 and x.shape[1] == self.in_features, f"input {tuple(x.shape)}, expected [B, {self.in_features}]"
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) * self.bias_gain if self.bias is not None else None
        if self.activation == "linear":
            return F.linear(x, w, b)
        return bias_act(x.matmul(w.t()), b, act=self.activation, gain=ACT_GAIN[self.activation])


class MappingNetwork(torch.nn.Module):
    """z (and label c) -> w, broadcast to ``num_ws`` copies, with optional truncation towards ``w_avg``."""

    def __init__(self, *,
                 z_dim: int,                # input latent size, 0 = none
                 c_dim: int,                # label size, 0 = unconditional
                 w_dim: int,                # output latent size
                 num_ws: int,               # copies of w the synthesis network consumes
                 num_layers: int = 8,       # fully connected layers
                 embed_features: int | None = None,  # label embedding size (None = w_dim)
                 layer_features: int | None = None,  # hidden size (None = w_dim)
                 lr_multiplier: float = 0.01,  # learning-rate multiplier of the fc layers
                 ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, c_dim, w_dim, num_ws, num_layers
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim > 0 else 0
        layer_features = w_dim if layer_features is None else layer_features
        sizes = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(in_features=c_dim, out_features=embed_features)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(in_features=sizes[i], out_features=sizes[i + 1],
                                                        activation="lrelu", lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            assert z is not None and z.ndim == 2 and z.shape[1] == self.z_dim, \
                f"z must be [B, {self.z_dim}], got {None if z is None else tuple(z.shape)}"
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this generator is conditional: pass c of shape [B, {self.c_dim}]")
            assert c.ndim == 2 and c.shape[1] == self.c_dim, f"c must be [B, {self.c_dim}], got {tuple(c.shape)}"
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            w_avg = self.w_avg.to(x.dtype)
            if truncation_cutoff is None:
                x = w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


def _noise_scale_tensor(noise_scale: float | torch.Tensor, batch: int, device: torch.device) -> torch.Tensor | float:
    """A float, or a [B] tensor reshaped to [B, 1, 1, 1] so each frame gets its own noise amplitude."""
    if isinstance(noise_scale, torch.Tensor):
        if noise_scale.ndim == 0:
            return noise_scale.to(device=device, dtype=torch.float32)
        assert noise_scale.shape == (batch,), f"noise_scale must be a float or a [B={batch}] tensor"
        return noise_scale.to(device=device, dtype=torch.float32).reshape(batch, 1, 1, 1)
    return float(noise_scale)


class SynthesisLayer(torch.nn.Module):
    """Modulated 3x3 conv (optionally 2x up-sampling), per-pixel noise, bias, lrelu, clamp."""

    def __init__(self, *,
                 in_channels: int,          # input feature channels
                 out_channels: int,         # output feature channels
                 w_dim: int,                # latent size feeding the affine style layer
                 resolution: tuple[int, int],  # (height, width) of the output
                 kernel_size: int = 3,      # convolution kernel size
                 up: int = 1,               # 2 = up-sample the input first
                 use_noise: bool = True,    # add per-pixel noise
                 activation: str = "lrelu",
                 resample_filter: tuple[float, ...] = (1, 3, 3, 1),
                 conv_clamp: float | None = None,  # clamp outputs to +-X
                 ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.use_noise = tuple(resolution), up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", make_fir_filter(resample_filter))
        self.act_gain = ACT_GAIN[activation]
        self.affine = FullyConnectedLayer(in_features=w_dim, out_features=in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(list(self.resolution)))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, *, noise_mode: str = "const",
                noise_scale: float | torch.Tensor = 1.0, fused: bool = True, gain: float = 1.0) -> torch.Tensor:
        h, wd = self.resolution
        expect = (self.in_channels, h // self.up, wd // self.up)
        assert tuple(x.shape[1:]) == expect, f"input {tuple(x.shape)}, expected [B, {expect}]"
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode != "none":
            scale = _noise_scale_tensor(noise_scale, x.shape[0], x.device)
            if noise_mode == "random":
                base = torch.randn([x.shape[0], 1, h, wd], device=x.device)
            elif noise_mode == "const":
                base = self.noise_const
            else:
                raise ValueError(f"noise_mode must be 'const', 'random' or 'none', not {noise_mode!r}")
            noise = base * (self.noise_strength * scale)
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up,
                             resample_filter=self.resample_filter, fused=fused)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(torch.nn.Module):
    """Modulated 1x1 conv (no demodulation) from features to RGB."""

    def __init__(self, *,
                 in_channels: int,          # input feature channels
                 out_channels: int,         # image channels
                 w_dim: int,                # latent size feeding the affine style layer
                 kernel_size: int = 1,
                 conv_clamp: float | None = None,
                 ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(in_features=w_dim, out_features=in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, *, fused: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class Conv2dLayer(torch.nn.Module):
    """Plain (unmodulated) convolution; here only the 1x1 up-sampling skip path of 'resnet' blocks."""

    def __init__(self, *,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 bias: bool = False,
                 up: int = 2,
                 resample_filter: tuple[float, ...] = (1, 3, 3, 1),
                 ) -> None:
        super().__init__()
        self.up = up
        self.register_buffer("resample_filter", make_fir_filter(resample_filter))
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        if self.up == 2:
            x = _conv_up2(x, w, self.resample_filter, 1)
        else:
            x = F.conv2d(x, w, padding=w.shape[-1] // 2)
        return bias_act(x, self.bias, gain=gain)


class SynthesisBlock(torch.nn.Module):
    """One resolution: (const input | 2x up-sampling conv0), conv1, toRGB added to the up-sampled image."""

    def __init__(self, *,
                 in_channels: int,          # input channels, 0 = first block (constant input)
                 out_channels: int,         # feature channels of this block
                 w_dim: int,
                 resolution: tuple[int, int],  # (height, width) of this block's output
                 img_channels: int,
                 is_last: bool,             # the final block (always has a toRGB)
                 architecture: str = "skip",
                 resample_filter: tuple[float, ...] = (1, 3, 3, 1),
                 conv_clamp: float | None = None,
                 use_fp16: bool = False,    # run in fp16 when the generator's fp16 mode is on (CUDA)
                 ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.resolution, self.img_channels = tuple(resolution), img_channels
        self.is_last, self.architecture, self.use_fp16 = is_last, architecture, use_fp16
        self.register_buffer("resample_filter", make_fir_filter(resample_filter))
        self.num_conv = self.num_torgb = 0
        h, w = self.resolution
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, h, w]))
        else:
            self.conv0 = SynthesisLayer(in_channels=in_channels, out_channels=out_channels, w_dim=w_dim,
                                        resolution=(h, w), up=2, resample_filter=resample_filter,
                                        conv_clamp=conv_clamp)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(in_channels=out_channels, out_channels=out_channels, w_dim=w_dim,
                                    resolution=(h, w), resample_filter=resample_filter, conv_clamp=conv_clamp)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(in_channels=out_channels, out_channels=img_channels, w_dim=w_dim,
                                    conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels=in_channels, out_channels=out_channels, up=2,
                                    resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, *,
                dtype: torch.dtype = torch.float32, channels_last: bool = False, fused: bool | None = None,
                noise_mode: str = "const", noise_scale: float | torch.Tensor = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_conv + self.num_torgb, self.w_dim), \
            f"block ws {tuple(ws.shape)}"
        batch = ws.shape[0]
        h, w = self.resolution
        if fused is None:  # NVlabs' choice: fused for fp32 or a single sample
            fused = dtype == torch.float32 or batch == 1
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        kw = dict(noise_mode=noise_mode, noise_scale=noise_scale, fused=fused)
        if self.in_channels == 0:
            x = self.const.to(dtype=dtype).unsqueeze(0).repeat([batch, 1, 1, 1]).to(memory_format=fmt)
            x = self.conv1(x, ws[:, 0], **kw)
        else:
            assert x is not None and tuple(x.shape) == (batch, self.in_channels, h // 2, w // 2), \
                f"block input {None if x is None else tuple(x.shape)}"
            x = x.to(dtype=dtype, memory_format=fmt)
            if self.architecture == "resnet":
                y = self.skip(x, gain=math.sqrt(0.5))
                x = self.conv0(x, ws[:, 0], **kw)
                x = y + self.conv1(x, ws[:, 1], gain=math.sqrt(0.5), **kw)
            else:
                x = self.conv0(x, ws[:, 0], **kw)
                x = self.conv1(x, ws[:, 1], **kw)
        if img is not None:
            assert tuple(img.shape) == (batch, self.img_channels, h // 2, w // 2), f"img {tuple(img.shape)}"
            img = upsample2d(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, ws[:, self.num_conv], fused=fused)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = y if img is None else img.add_(y) if _can_modify(img) else img + y
        return x, img


class SynthesisNetwork(torch.nn.Module):
    """ws [B, num_ws, w_dim] -> images [B, img_channels, H, W]."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.w_dim = config.w_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.block_resolutions = config.block_resolutions
        h0, w0 = config.init_res
        top = self.block_resolutions[-1]
        fp16_resolution = max(2 ** (int(math.log2(top)) + 1 - config.num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                in_channels=config.channels(res // 2) if res > 4 else 0, out_channels=config.channels(res),
                w_dim=config.w_dim, resolution=(h0 * res // 4, w0 * res // 4), img_channels=config.img_channels,
                is_last=res == top, architecture=config.architecture, conv_clamp=config.conv_clamp,
                use_fp16=res >= fp16_resolution)
            self.num_ws += block.num_conv + (block.num_torgb if res == top else 0)
            setattr(self, f"b{res}", block)

        # Run-time settings (the Generator exposes them): fp16 for the high-resolution blocks (None = on CUDA),
        # channels-last memory format for those fp16 blocks, fused modulated conv (None = NVlabs' rule).
        self.use_fp16: bool | None = None
        self.channels_last: bool = False
        self.fused_modconv: bool | None = None

    def fp16_active(self, device: torch.device) -> bool:
        """Whether the fp16 blocks run in fp16 on ``device`` (CUDA only; cpu and mps stay fp32)."""
        return device.type == "cuda" and (self.use_fp16 is None or bool(self.use_fp16))

    def forward(self, ws: torch.Tensor, noise_mode: str = "const",
                noise_scale: float | torch.Tensor = 1.0, transform: torch.Tensor | None = None) -> torch.Tensor:
        """ws [B, num_ws, w_dim] -> images [B, img_channels, H, W] (fp32, about [-1, 1]).

        ``noise_mode``: 'const' (the stored noise maps), 'random' (fresh noise each call) or 'none'.
        ``noise_scale``: multiplies the noise; a float or a [B] tensor (one amplitude per frame).
        ``transform``: accepted for the common interface; StyleGAN2 has no input transform, so only None is allowed
        (anything else is a one-line :class:`~musicvideo.errors.ConfigError`).
        """
        if transform is not None:
            raise ConfigError("a StyleGAN2 network has no input transform (camera); pass transform=None, or use a "
                              "StyleGAN3 checkpoint to move the image")
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), \
            f"ws must be [B, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}"
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', not {noise_mode!r}")
        ws = ws.to(torch.float32)
        half_on = self.fp16_active(ws.device)
        x = img = None
        idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            half = half_on and block.use_fp16
            x, img = block(x, img, ws[:, idx: idx + block.num_conv + block.num_torgb],
                           dtype=torch.float16 if half else torch.float32, channels_last=half and self.channels_last,
                           fused=self.fused_modconv, noise_mode=noise_mode, noise_scale=noise_scale)
            idx += block.num_conv
        return img


class MappedGenerator(torch.nn.Module):
    """What every generator family shares around its ``mapping`` and ``synthesis`` networks: the truncation
    centre, the device, the fp16 switch and the state-dict shapes (StyleGAN2's :class:`Generator`, StyleGAN3's
    ``StyleGAN3Generator``)."""

    mapping: torch.nn.Module
    synthesis: torch.nn.Module

    @property
    def w_avg(self) -> torch.Tensor:
        """Mean w of the training distribution (the truncation centre), shape [w_dim]."""
        return self.mapping.w_avg

    @property
    def device(self) -> torch.device:
        return self.mapping.w_avg.device

    use_fp16 = property(lambda self: self.synthesis.use_fp16,
                        lambda self, v: setattr(self.synthesis, "use_fp16", v),
                        doc="fp16 for the family's fp16 layers: None = on CUDA, True/False to force (CUDA only).")

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every parameter and buffer in the state dict (for checking a checkpoint)."""
        return {k: tuple(v.shape) for k, v in self.state_dict().items()}


class Generator(MappedGenerator):
    """The StyleGAN2 generator: ``mapping`` (z, c -> ws) then ``synthesis`` (ws -> images in about [-1, 1]).

    Parameters
    ----------
    config : GeneratorConfig
        The architecture. Load weights with ``load_state_dict`` (NVlabs ``G_ema`` key names).
    use_fp16 : bool or None
        Run the ``num_fp16_res`` highest resolutions in fp16. ``None`` (default) = on when the parameters are on a
        CUDA device. Never used on cpu/mps (results stay fp32 there).
    channels_last : bool
        Use the channels-last memory format for the fp16 blocks (on CUDA only).

    Examples
    --------
    >>> G = Generator(GeneratorConfig(img_resolution=32, z_dim=8, w_dim=8, channel_base=64, channel_max=8))
    >>> ws = G.mapping(torch.randn(2, 8), truncation_psi=0.7)
    >>> G.synthesis(ws).shape
    torch.Size([2, 3, 32, 32])
    """

    def __init__(self, config: GeneratorConfig, *, use_fp16: bool | None = None, channels_last: bool = False) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.z_dim, self.c_dim, self.w_dim = config.z_dim, config.c_dim, config.w_dim
        self.img_channels = config.img_channels
        self.img_resolution = config.img_resolution
        self.img_height, self.img_width = config.img_shape
        self.synthesis = SynthesisNetwork(config)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=config.z_dim, c_dim=config.c_dim, w_dim=config.w_dim, num_ws=self.num_ws,
                                      num_layers=config.mapping_layers, embed_features=config.embed_features,
                                      layer_features=config.layer_features, lr_multiplier=config.mapping_lr_mul)
        self.synthesis.use_fp16 = use_fp16
        self.synthesis.channels_last = channels_last
        self.eval()
        self.requires_grad_(False)

    # memory-format / fused-conv switches live on the synthesis network; these are shortcuts (fp16: the base's).
    channels_last = property(lambda self: self.synthesis.channels_last,
                             lambda self, v: setattr(self.synthesis, "channels_last", bool(v)),
                             doc="channels-last memory format for the fp16 blocks.")
    fused_modconv = property(lambda self: self.synthesis.fused_modconv,
                             lambda self, v: setattr(self.synthesis, "fused_modconv", v),
                             doc="grouped-conv modulation (True), activation scaling (False), None = automatic.")

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "const",
                noise_scale: float | torch.Tensor = 1.0, transform: torch.Tensor | None = None) -> torch.Tensor:
        """z [B, z_dim] (and c [B, c_dim]) -> images [B, 3, H, W] in about [-1, 1] (``transform`` must be None)."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, noise_scale=noise_scale, transform=transform)


def count_parameters(module: torch.nn.Module) -> int:
    """Number of trainable-parameter elements (buffers such as noise_const and w_avg excluded)."""
    return int(sum(p.numel() for p in module.parameters()))


__all__ = ["GeneratorConfig", "Generator", "MappedGenerator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock",
           "SynthesisLayer", "ToRGBLayer", "FullyConnectedLayer", "modulated_conv2d", "upsample2d",
           "fir_filter2d", "make_fir_filter", "normalize_2nd_moment", "bias_act", "count_parameters"]
