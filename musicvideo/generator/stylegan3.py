"""The StyleGAN3 (alias-free, T and R) generator in plain torch: Fourier input, modulated conv, filtered leaky ReLU.

Module, parameter and buffer names (and shapes) follow NVlabs stylegan3 (``training/networks_stylegan3.py``):
``synthesis.input.{weight, affine.*, transform, freqs, phases}``, ``synthesis.L{i}_{size}_{channels}.{affine.*,
weight, bias, magnitude_ema, up_filter, down_filter}`` and ``mapping.{embed, fc0, fc1, w_avg}``, so a ``G_ema`` state
dict maps one to one. The layer schedule (cutoffs, stopbands, sampling rates, sizes, channels) and the filter design
(Kaiser-window FIRs, jinc-based radial filters for -R) are computed at construction from the same formulas, so the
filter buffers agree with the ones stored in a pickle. There is no custom CUDA op: the filtered leaky ReLU is
zero-insertion up-sampling, FIR convolutions, bias, leaky ReLU, clamp and strided down-sampling in stock torch ops.

This module knows nothing about files; a loader builds a :class:`StyleGAN3Config` and a state dict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .stylegan2 import FullyConnectedLayer, MappedGenerator, MappingNetwork


@dataclass
class StyleGAN3Config:
    """Architecture of a StyleGAN3 generator (NVlabs' ``G_kwargs``); with a state dict it fully defines the network.

    -T models use the defaults. -R models (NVlabs ``--cfg=stylegan3-r``) have ``conv_kernel=1``,
    ``use_radial_filters=True`` and doubled ``channel_base`` / ``channel_max``.
    """

    z_dim: int = 512                # input latent size
    c_dim: int = 0                  # conditioning label size (0 = unconditional)
    w_dim: int = 512                # intermediate latent size
    img_resolution: int = 1024      # output resolution (square)
    img_channels: int = 3           # RGB
    mapping_layers: int = 2         # fully connected layers in the mapping network (StyleGAN3 default: 2)
    mapping_lr_mul: float = 0.01    # learning-rate multiplier of the mapping layers
    channel_base: int = 32768       # channels of layer i: rint(min(channel_base / 2 / cutoff_i, channel_max))
    channel_max: int = 512
    num_layers: int = 14            # synthesis layers, excluding the Fourier input and ToRGB
    num_critical: int = 2           # critically sampled layers at the end
    first_cutoff: float = 2         # cutoff frequency of the first layer
    first_stopband: float = 2**2.1  # minimum stopband of the first layer
    last_stopband_rel: float = 2**0.3  # minimum stopband of the last layer, relative to its cutoff
    margin_size: int = 10           # extra pixels computed outside the image on each side
    output_scale: float = 0.25      # the image is the ToRGB output times this
    num_fp16_res: int = 4           # layers whose sampling rate * 2**N > img_resolution run in fp16 on CUDA
    conv_kernel: int = 3            # 3 for -T, 1 for -R
    filter_size: int = 6            # low-pass taps per unit of the resampling factor
    lrelu_upsampling: int = 2       # the leaky ReLU runs at this multiple of the layer's sampling rate
    use_radial_filters: bool = False  # radially symmetric down-sampling filters (-R)
    conv_clamp: float | None = 256  # clamp of the layer outputs
    magnitude_ema_beta: float = 0.999  # decay of the input-magnitude moving average (training only)

    def validate(self) -> None:
        """Raise ConfigError if the numbers do not describe a buildable network."""
        if self.w_dim < 1 or self.z_dim < 1 or self.c_dim < 0:
            raise ConfigError(f"StyleGAN3 needs z_dim >= 1, w_dim >= 1, c_dim >= 0 (got z_dim={self.z_dim}, "
                              f"w_dim={self.w_dim}, c_dim={self.c_dim})")
        if self.num_layers < 1 or not 0 <= self.num_critical < self.num_layers:
            raise ConfigError(f"StyleGAN3 needs num_layers >= 1 and 0 <= num_critical < num_layers "
                              f"(got {self.num_layers}, {self.num_critical})")
        if self.img_resolution < 4 or self.img_resolution & (self.img_resolution - 1):
            raise ConfigError(f"StyleGAN3 img_resolution must be a power of 2 >= 4 (got {self.img_resolution})")
        if self.conv_kernel < 1 or self.filter_size < 1 or self.lrelu_upsampling < 1:
            raise ConfigError("StyleGAN3 conv_kernel, filter_size and lrelu_upsampling must be >= 1")
        if not 0 <= self.magnitude_ema_beta <= 1:
            raise ConfigError(f"StyleGAN3 magnitude_ema_beta must be in [0, 1] (got {self.magnitude_ema_beta})")

    @property
    def num_ws(self) -> int:
        """w vectors consumed: one for the input, one per layer, one for ToRGB."""
        return self.num_layers + 2

    def schedule(self) -> dict[str, np.ndarray]:
        """Per-layer cutoffs, stopbands, sampling rates, half widths, sizes and channels (index 0 = the input).

        The formulas of the paper / NVlabs: geometric progressions of cutoff and stopband from the first layer to
        the last non-critical one, sampling rate = the power of 2 >= 2 * stopband (at most the image resolution).
        """
        n, res = self.num_layers, self.img_resolution
        last_cutoff = res / 2
        last_stopband = last_cutoff * self.last_stopband_rel
        exponents = np.minimum(np.arange(n + 1) / (n - self.num_critical), 1)
        cutoffs = self.first_cutoff * (last_cutoff / self.first_cutoff) ** exponents
        stopbands = self.first_stopband * (last_stopband / self.first_stopband) ** exponents
        sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, res))))
        half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
        sizes = sampling_rates + self.margin_size * 2
        sizes[-2:] = res
        channels = np.rint(np.minimum((self.channel_base / 2) / cutoffs, self.channel_max))
        channels[-1] = self.img_channels
        return {"cutoffs": cutoffs, "stopbands": stopbands, "sampling_rates": sampling_rates,
                "half_widths": half_widths, "sizes": sizes, "channels": channels}


# ---------------------------------------------------------------------------------------------- filters


def design_lowpass_filter(*, numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> torch.Tensor | None:
    """Low-pass FIR as NVlabs designs it: None for 1 tap; a separable Kaiser-window ``firwin`` [numtaps];
    or (``radial``) a 2-D jinc windowed by the outer product of the Kaiser window, normalised to sum 1.
    """
    if numtaps < 1:
        raise ConfigError(f"a low-pass filter needs at least 1 tap (got {numtaps})")
    if numtaps == 1:
        return None
    import scipy.signal  # here, not at the top: loading or inspecting a StyleGAN2 checkpoint need not import it
    import scipy.special

    if not radial:
        taps = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(taps, dtype=torch.float32)
    # Radial: the ideal disc low-pass is a jinc, J1(2 pi fc r) / (pi r); window it and normalise the DC gain to 1.
    coords = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(coords, coords))
    with np.errstate(invalid="ignore", divide="ignore"):
        f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    f = np.where(r == 0, cutoff, f)  # the limit at the centre (only odd tap counts have one; NVlabs' are even)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f = f * np.outer(window, window)
    return torch.as_tensor(f / np.sum(f), dtype=torch.float32)


def _fir(x: torch.Tensor, f: torch.Tensor | None, *, gain: float = 1.0, down: int = 1) -> torch.Tensor:
    """Valid (no padding) true convolution of every channel with ``f`` (1-D = separable, or 2-D), times ``gain``,
    keeping every ``down``-th output sample. ``f=None`` is the identity filter."""
    if f is None:
        x = x * gain if gain != 1 else x
        return x[:, :, ::down, ::down] if down > 1 else x
    channels = x.shape[1]
    f = f.to(x.dtype).flip(list(range(f.ndim)))  # flip: a convolution, as upfirdn2d with flip_filter=False
    if f.ndim == 1:
        k = f * gain ** 0.5  # half the gain on each axis
        x = F.conv2d(x, k[None, None, None, :].expand(channels, 1, 1, -1), stride=(1, down), groups=channels)
        return F.conv2d(x, k[None, None, :, None].expand(channels, 1, -1, 1), stride=(down, 1), groups=channels)
    k = (f * gain)[None, None].expand(channels, 1, *f.shape)
    return F.conv2d(x, k, stride=down, groups=channels)


def _window(x: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    """``x`` along ``dim`` from ``start`` for ``length`` samples, zeros where that runs outside ``x``."""
    size = x.shape[dim]
    before, after = max(-start, 0), max(start + length - size, 0)
    if before or after:
        pad = [0, 0] * (x.ndim - 1 - dim % x.ndim) + [before, after]
        x = F.pad(x, pad)
        start += before
    return x.narrow(dim, start, length)


def _upfir_axis(x: torch.Tensor, f: torch.Tensor, up: int, pad0: int, pad1: int, dim: int) -> torch.Tensor:
    """Zero insertion by ``up``, padding (pad0, pad1) and valid convolution with the 1-D ``f`` along ``dim``
    (3 = width, 2 = height), computed polyphase: ``up`` short convolutions on the input-rate samples, interleaved.

    Output sample m is sample ``m - pad0 + K - 1`` of the full convolution of the zero-inserted input with ``f``,
    and phase r of that full convolution is the input convolved with the taps ``f[r::up]``.
    """
    batch, channels = x.shape[:2]
    length, taps = x.shape[dim], f.shape[0]
    out_len = length * up + pad0 + pad1 - taps + 1
    if up == 1:
        phases = f[None]
    else:
        assert taps % up == 0, f"{taps} taps is not a multiple of the up-sampling factor {up}"
        phases = f.reshape(-1, up).t()                          # [up, K/up]: phase r = f[r::up]
    t = phases.shape[1]
    k = phases.flip(1).to(x.dtype).repeat(channels, 1)         # [C * up, T], flipped: a true convolution
    if dim == 3:
        x = F.conv2d(F.pad(x, [t - 1, t - 1]), k[:, None, None, :], groups=channels)  # [B, C*up, H, L+T-1]
        full = x.reshape(batch, channels, up, x.shape[2], -1).permute(0, 1, 3, 4, 2)  # phase last: interleave
        full = full.reshape(batch, channels, x.shape[2], -1)
    else:
        x = F.conv2d(F.pad(x, [0, 0, t - 1, t - 1]), k[:, None, :, None], groups=channels)  # [B, C*up, L+T-1, W]
        full = x.reshape(batch, channels, up, -1, x.shape[3]).permute(0, 1, 3, 2, 4)  # phase after the row
        full = full.reshape(batch, channels, -1, x.shape[3])
    return _window(full, dim, taps - 1 - pad0, out_len)


def _can_modify(x: torch.Tensor) -> bool:
    """In-place updates are safe for fresh intermediates when no autograd graph needs the old values."""
    return not (torch.is_grad_enabled() and x.requires_grad)


def filtered_lrelu(x: torch.Tensor, *,
                   fu: torch.Tensor | None = None,   # up-sampling filter, [k] (separable) or [k, k], None = identity
                   fd: torch.Tensor | None = None,   # down-sampling filter, [k] or [k, k] (radial), None = identity
                   b: torch.Tensor | None = None,    # per-channel bias [C]
                   up: int = 1,                      # up-sampling factor (zero insertion)
                   down: int = 1,                    # down-sampling factor (stride)
                   padding: tuple[int, int, int, int] | list[int] = (0, 0, 0, 0),  # (x0, x1, y0, y1), <0 crops
                   gain: float = math.sqrt(2),       # applied after the leaky ReLU
                   slope: float = 0.2,               # negative slope (1 = linear)
                   clamp: float | None = None,       # clamp to +-clamp after the gain
                   ) -> torch.Tensor:
    """NVlabs' filtered leaky ReLU in stock torch ops, with the semantics of their reference implementation:
    bias, up-sample (zero insertion, pad, FIR with gain ``up**2``), leaky ReLU times ``gain`` and clamped, then
    FIR and keep every ``down``-th sample. ``padding`` applies to the zero-inserted signal.

    A separable up-sampling filter runs polyphase, one axis at a time (no multiplications by inserted zeros).
    """
    assert x.ndim == 4, f"x must be [B, C, H, W], got {tuple(x.shape)}"
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    px0, px1, py0, py1 = (int(p) for p in padding)
    if fu is not None and fu.ndim == 1:
        fu = fu * up  # gain up**2 split over the two axes
        x = _upfir_axis(x, fu, up, px0, px1, dim=3)
        x = _upfir_axis(x, fu, up, py0, py1, dim=2)
    else:
        batch, channels, h, w = x.shape
        if up > 1:
            y = x.new_zeros([batch, channels, h * up, w * up])
            y[:, :, ::up, ::up] = x
            x = y
        x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
        x = x[:, :, max(-py0, 0):x.shape[2] - max(-py1, 0), max(-px0, 0):x.shape[3] - max(-px1, 0)]
        x = _fir(x, fu, gain=float(up**2))
    inplace = _can_modify(x) and x.is_contiguous()
    if slope != 1:
        x = F.leaky_relu(x, slope, inplace=inplace)
    if gain != 1:
        x = x.mul_(gain) if inplace else x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp_(-clamp, clamp) if inplace else x.clamp(-clamp, clamp)
    return _fir(x, fd, down=down)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
                     padding: int = 0, input_gain: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN3's modulated convolution (one grouped conv with a weight per sample).

    Differs from StyleGAN2's: weight and styles are pre-normalised to unit RMS when demodulating, and the effective
    weight is multiplied by ``input_gain`` (the 1/sqrt of the magnitude EMA) per input channel.
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    assert x.ndim == 4 and x.shape[1] == in_channels, f"x {tuple(x.shape)} vs weight {tuple(weight.shape)}"
    assert styles.shape == (batch, in_channels), f"styles {tuple(styles.shape)} != {(batch, in_channels)}"
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()  # one scale for the whole batch, as NVlabs
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)  # [B, O, I, k, k]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(batch, -1, 1, 1, 1)
    if input_gain is not None:
        w = w * input_gain.expand(batch, in_channels).reshape(batch, 1, -1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    x = F.conv2d(x, w.reshape(-1, in_channels, kh, kw).to(x.dtype), padding=padding, groups=batch)
    return x.reshape(batch, -1, *x.shape[2:])


# ---------------------------------------------------------------------------------------------- transforms


def _batched_transform(transform: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """Check a user transform ([3, 3] or [B, 3, 3]) and return it as float32 [B, 3, 3]."""
    if not isinstance(transform, torch.Tensor):
        transform = torch.as_tensor(np.asarray(transform, dtype=np.float32))
    shape = tuple(transform.shape)
    if shape == (3, 3):
        transform = transform.unsqueeze(0).expand(batch, 3, 3)
    elif shape != (batch, 3, 3):
        raise ConfigError(f"StyleGAN3 transform must have shape [3, 3] or [B, 3, 3] with B = {batch} (the batch), "
                          f"got {list(shape)}")
    if not torch.isfinite(transform).all():
        raise ConfigError("StyleGAN3 transform has NaN or infinite entries")
    return transform.to(device=device, dtype=torch.float32)


def make_transform(translate: tuple[float, float] = (0.0, 0.0), angle_deg: float = 0.0) -> torch.Tensor:
    """The 3x3 matrix NVlabs' ``gen_images.py`` builds for ``--translate`` / ``--rotate``, before inverting it.

    ``synthesis.input.transform`` holds the *inverse* (it maps image coordinates to input coordinates):
    pass ``torch.linalg.inv(make_transform(...))`` to move the image by ``translate`` and turn it by ``angle_deg``.
    """
    s, c = math.sin(angle_deg / 360 * 2 * math.pi), math.cos(angle_deg / 360 * 2 * math.pi)
    return torch.tensor([[c, s, translate[0]], [-s, c, translate[1]], [0, 0, 1]], dtype=torch.float32)


# ---------------------------------------------------------------------------------------------- layers


class SynthesisInput(torch.nn.Module):
    """Fourier features on a grid: ``sin(2 pi (f . x + phase))`` per channel, rotated/translated by a w-dependent
    affine and by ``transform``, then mixed by a learned channel matrix."""

    def __init__(self, *,
                 w_dim: int,             # intermediate latent size
                 channels: int,          # feature channels (one random frequency each)
                 size: int | tuple[int, int],  # output grid size: int or (width, height)
                 sampling_rate: float,   # grid samples per unit length
                 bandwidth: float,       # frequencies are drawn inside a disc of this radius
                 ) -> None:
        super().__init__()
        self.w_dim, self.channels = w_dim, channels
        self.size = tuple(int(s) for s in np.broadcast_to(np.asarray(size), [2]))  # (width, height)
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        # Random frequencies, denser near 0 (a checkpoint overwrites them), and phases in [-0.5, 0.5).
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = torch.nn.Parameter(torch.randn([channels, channels]))
        # w -> (cos, sin, tx, ty) of the learned rotation / translation, identity at init.
        self.affine = FullyConnectedLayer(in_features=w_dim, out_features=4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3, 3))  # user inverse transform w.r.t. the image (NVlabs)
        self.register_buffer("freqs", freqs)                 # [channels, 2] (x, y) cycles per unit
        self.register_buffer("phases", torch.rand([channels]) - 0.5)  # [channels] in cycles

    def grid(self, device: torch.device | None = None) -> torch.Tensor:
        """Sample positions [H, W, 2] (x, y): pixel centres ``(j + 0.5 - W/2) / sampling_rate``."""
        width, height = self.size
        xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5 - width / 2) / self.sampling_rate
        ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5 - height / 2) / self.sampling_rate
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([gx, gy], dim=-1)

    def forward(self, w: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        """w [B, w_dim] -> features [B, channels, H, W]; ``transform`` ([3, 3] or [B, 3, 3]) replaces the buffer."""
        batch = w.shape[0]
        user = self.transform.unsqueeze(0).expand(batch, 3, 3) if transform is None else \
            _batched_transform(transform, batch, w.device)
        # Learned rotation and translation (inverse, w.r.t. the image), then the user transform.
        t = self.affine(w.to(torch.float32))
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        eye = torch.eye(3, device=w.device).unsqueeze(0).repeat([batch, 1, 1])
        m_r, m_t = eye.clone(), eye
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = m_r @ m_t @ user.to(torch.float32)
        # Transform the frequencies: f' = f A, phase' = phase + f . b (x -> A x + b applied to the positions).
        freqs = self.freqs.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # Fade out frequencies a transform pushed past the band the grid can hold.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth)
                      / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        grid = self.grid(w.device)  # [H, W, 2]
        x = torch.einsum("hwk,bck->bhwc", grid, freqs) + phases[:, None, None, :]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={list(self.size)}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


class SynthesisLayer(torch.nn.Module):
    """Modulated conv, then bias + filtered leaky ReLU (up-sample, lrelu at the higher rate, low-pass, down-sample).

    The last layer (``is_torgb``) is a 1x1 modulated conv without demodulation, a linear activation and no filters.
    """

    def __init__(self, *,
                 w_dim: int,                    # intermediate latent size
                 is_torgb: bool,                # the final ToRGB layer
                 is_critically_sampled: bool,   # critically sampled (no radial filter, NVlabs' last layers)
                 use_fp16: bool,                # run in fp16 on CUDA
                 in_channels: int, out_channels: int,
                 in_size: int | tuple[int, int], out_size: int | tuple[int, int],  # int or (width, height)
                 in_sampling_rate: float, out_sampling_rate: float,
                 in_cutoff: float, out_cutoff: float,
                 in_half_width: float, out_half_width: float,
                 conv_kernel: int = 3,          # ignored for ToRGB (1)
                 filter_size: int = 6,          # filter taps per unit of the resampling factor
                 lrelu_upsampling: int = 2,     # relative sampling rate of the leaky ReLU (ignored for ToRGB)
                 use_radial_filters: bool = False,  # radial down-sampling filter (not for critically sampled layers)
                 conv_clamp: float | None = 256,
                 magnitude_ema_beta: float = 0.999,
                 ) -> None:
        super().__init__()
        self.w_dim, self.is_torgb, self.is_critically_sampled = w_dim, is_torgb, is_critically_sampled
        self.use_fp16 = use_fp16
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size = tuple(int(s) for s in np.broadcast_to(np.asarray(in_size), [2]))
        self.out_size = tuple(int(s) for s in np.broadcast_to(np.asarray(out_size), [2]))
        self.in_sampling_rate, self.out_sampling_rate = in_sampling_rate, out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.in_cutoff, self.out_cutoff = in_cutoff, out_cutoff
        self.in_half_width, self.out_half_width = in_half_width, out_half_width
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta

        self.affine = FullyConnectedLayer(in_features=w_dim, out_features=in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))  # running mean of the input's square

        # Up-sampling filter: from the input rate to the leaky ReLU's rate.
        self.up_factor = int(np.rint(self.tmp_sampling_rate / in_sampling_rate))
        if in_sampling_rate * self.up_factor != self.tmp_sampling_rate:
            raise ConfigError(f"StyleGAN3 layer: sampling rate {self.tmp_sampling_rate:g} is not a multiple of "
                              f"{in_sampling_rate:g}")
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.register_buffer("up_filter", design_lowpass_filter(
            numtaps=self.up_taps, cutoff=in_cutoff, width=in_half_width * 2, fs=self.tmp_sampling_rate))
        # Down-sampling filter: back to the output rate (radial for -R layers that are not critically sampled).
        self.down_factor = int(np.rint(self.tmp_sampling_rate / out_sampling_rate))
        if out_sampling_rate * self.down_factor != self.tmp_sampling_rate:
            raise ConfigError(f"StyleGAN3 layer: sampling rate {self.tmp_sampling_rate:g} is not a multiple of "
                              f"{out_sampling_rate:g}")
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.down_radial = use_radial_filters and not is_critically_sampled
        self.register_buffer("down_filter", design_lowpass_filter(
            numtaps=self.down_taps, cutoff=out_cutoff, width=out_half_width * 2, fs=self.tmp_sampling_rate,
            radial=self.down_radial))

        # Padding so the output has out_size samples, centred as in the paper's symmetric interpretation.
        pad = []
        for i in range(2):  # x then y
            total = (self.out_size[i] - 1) * self.down_factor + 1
            total -= (self.in_size[i] + self.conv_kernel - 1) * self.up_factor
            total += self.up_taps + self.down_taps - 2
            lo = (total + self.up_factor) // 2
            pad += [int(lo), int(total - lo)]
        self.padding = pad  # [x0, x1, y0, y1]

    def forward(self, x: torch.Tensor, w: torch.Tensor, *, dtype: torch.dtype = torch.float32,
                update_emas: bool = False) -> torch.Tensor:
        """x [B, in_channels, in_h, in_w], w [B, w_dim] -> [B, out_channels, out_h, out_w] in ``dtype``."""
        assert x.ndim == 4 and tuple(x.shape[1:]) == (self.in_channels, self.in_size[1], self.in_size[0]), \
            f"{tuple(x.shape)} vs [B, {self.in_channels}, {self.in_size[1]}, {self.in_size[0]}]"
        if update_emas:
            current = x.detach().to(torch.float32).square().mean()
            self.magnitude_ema.copy_(current.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        styles = self.affine(w.to(torch.float32))
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel**2)
        x = modulated_conv2d(x.to(dtype), self.weight, styles, padding=self.conv_kernel - 1,
                             demodulate=not self.is_torgb, input_gain=self.magnitude_ema.rsqrt())
        x = filtered_lrelu(x, fu=self.up_filter, fd=self.down_filter, b=self.bias, up=self.up_factor,
                           down=self.down_factor, padding=self.padding, gain=1 if self.is_torgb else math.sqrt(2),
                           slope=1 if self.is_torgb else 0.2, clamp=self.conv_clamp)
        return x

    def extra_repr(self) -> str:
        return (f"is_torgb={self.is_torgb}, critical={self.is_critically_sampled}, in_size={list(self.in_size)}, "
                f"out_size={list(self.out_size)}, in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"up={self.up_factor}, down={self.down_factor}, radial={self.down_radial}")


class SynthesisNetwork(torch.nn.Module):
    """ws [B, num_ws, w_dim] -> images: Fourier input, ``num_layers`` alias-free layers, ToRGB, times output_scale."""

    def __init__(self, config: StyleGAN3Config) -> None:
        super().__init__()
        c = config
        self.w_dim, self.num_ws = c.w_dim, c.num_ws
        self.img_resolution, self.img_channels = c.img_resolution, c.img_channels
        self.num_layers, self.num_critical = c.num_layers, c.num_critical
        self.margin_size, self.output_scale, self.num_fp16_res = c.margin_size, c.output_scale, c.num_fp16_res
        self.use_fp16: bool | None = None  # None = on CUDA for the layers NVlabs runs in fp16
        s = c.schedule()
        rates, sizes, channels = s["sampling_rates"], s["sizes"], s["channels"]
        self.input = SynthesisInput(w_dim=c.w_dim, channels=int(channels[0]), size=int(sizes[0]),
                                    sampling_rate=rates[0], bandwidth=s["cutoffs"][0])
        self.layer_names: list[str] = []
        for idx in range(c.num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(
                w_dim=c.w_dim, is_torgb=idx == c.num_layers, is_critically_sampled=idx >= c.num_layers - c.num_critical,
                use_fp16=bool(rates[idx] * 2**c.num_fp16_res > c.img_resolution),
                in_channels=int(channels[prev]), out_channels=int(channels[idx]),
                in_size=int(sizes[prev]), out_size=int(sizes[idx]),
                in_sampling_rate=int(rates[prev]), out_sampling_rate=int(rates[idx]),
                in_cutoff=s["cutoffs"][prev], out_cutoff=s["cutoffs"][idx],
                in_half_width=s["half_widths"][prev], out_half_width=s["half_widths"][idx],
                conv_kernel=c.conv_kernel, filter_size=c.filter_size, lrelu_upsampling=c.lrelu_upsampling,
                use_radial_filters=c.use_radial_filters, conv_clamp=c.conv_clamp,
                magnitude_ema_beta=c.magnitude_ema_beta)
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"  # NVlabs' names, e.g. L0_36_512
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", noise_scale: float | torch.Tensor = 1.0,
                transform: torch.Tensor | None = None, update_emas: bool = False) -> torch.Tensor:
        """ws [B, num_ws, w_dim] -> images [B, C, R, R] float32. StyleGAN3 has no noise: the noise arguments are
        accepted for the common interface and ignored. ``transform`` ([3, 3] or [B, 3, 3]) overrides
        ``input.transform`` for this call."""
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"unknown noise_mode {noise_mode!r}")
        assert ws.ndim == 3 and tuple(ws.shape[1:]) == (self.num_ws, self.w_dim), \
            f"ws must be [B, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}"
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0], transform=transform)
        fp16 = self.use_fp16 if self.use_fp16 is not None else True
        on_cuda = x.device.type == "cuda"
        for name, w in zip(self.layer_names, ws[1:]):
            layer = getattr(self, name)
            dtype = torch.float16 if (fp16 and layer.use_fp16 and on_cuda) else torch.float32
            x = layer(x, w, dtype=dtype, update_emas=update_emas)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)


class StyleGAN3Generator(MappedGenerator):
    """The StyleGAN3 generator with the interface of :class:`~musicvideo.generator.stylegan2.Generator`.

    ``mapping`` is our StyleGAN2 mapping network (the same maths and names as NVlabs stylegan3's: ``embed``,
    ``fc{i}``, ``w_avg``), with StyleGAN3's 2 layers by default.

    Examples
    --------
    >>> G = StyleGAN3Generator(StyleGAN3Config(z_dim=8, w_dim=8, img_resolution=16, num_layers=4,
    ...                                        channel_base=64, channel_max=8, margin_size=2))
    >>> G.synthesis(G.mapping(torch.randn(2, 8), truncation_psi=0.7)).shape
    torch.Size([2, 3, 16, 16])
    """

    def __init__(self, config: StyleGAN3Config, *, use_fp16: bool | None = None) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.z_dim, self.c_dim, self.w_dim = config.z_dim, config.c_dim, config.w_dim
        self.img_channels, self.img_resolution = config.img_channels, config.img_resolution
        self.img_height = self.img_width = config.img_resolution
        self.synthesis = SynthesisNetwork(config)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=config.z_dim, c_dim=config.c_dim, w_dim=config.w_dim,
                                      num_ws=self.num_ws, num_layers=config.mapping_layers,
                                      lr_multiplier=config.mapping_lr_mul)
        self.synthesis.use_fp16 = use_fp16
        self.eval()
        self.requires_grad_(False)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "const",
                noise_scale: float | torch.Tensor = 1.0, transform: torch.Tensor | None = None) -> torch.Tensor:
        """z [B, z_dim] (and c [B, c_dim]) -> images [B, 3, R, R] in about [-1, 1]."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, noise_scale=noise_scale, transform=transform)


__all__ = ["StyleGAN3Config", "StyleGAN3Generator", "SynthesisNetwork", "SynthesisLayer", "SynthesisInput",
           "filtered_lrelu", "design_lowpass_filter", "modulated_conv2d", "make_transform"]
