"""An independent rosinality-style forward pass, written from rosinality/stylegan2-pytorch model.py, checks the
whole conversion chain (key mapping, up-convolution orientation, blur padding, noise and bias conventions, style
indices) against our network: a rosinality checkpoint loaded through musicvideo must render what rosinality's own
arithmetic renders from the same file."""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F

from _checkpoint_fixtures import reference_state_dict, tiny_config, write_rosinality_pt
from musicvideo.generator import load_generator
from musicvideo.generator.unpickle import restricted_torch_load

SQRT2 = math.sqrt(2.0)


def _upfirdn(x: torch.Tensor, k: torch.Tensor, up: int, pad: tuple[int, int]) -> torch.Tensor:
    """Zero-insertion up-sampling, padding, then true convolution with ``k`` (rosinality's upfirdn2d_native)."""
    b, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros(b, c, h * up, w * up)
        y[:, :, ::up, ::up] = x
        x = y
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    kernel = torch.flip(k, [0, 1])[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, kernel, groups=c)


def _modconv(x, p, name, w, *, demodulate=True, upsample=False):
    weight = p[f"{name}.conv.weight"]                      # [1, out, in, k, k]
    _, out_ch, in_ch, k, _ = weight.shape
    style_dim = p[f"{name}.conv.modulation.weight"].shape[1]
    style = F.linear(w, p[f"{name}.conv.modulation.weight"] / math.sqrt(style_dim), p[f"{name}.conv.modulation.bias"])
    wt = weight / math.sqrt(in_ch * k * k) * style[:, None, :, None, None]   # [B, out, in, k, k]
    if demodulate:
        wt = wt * torch.rsqrt(wt.pow(2).sum([2, 3, 4]) + 1e-8)[:, :, None, None, None]
    b, _, h, wd = x.shape
    if upsample:
        wt = wt.transpose(1, 2).reshape(b * in_ch, out_ch, k, k)
        out = F.conv_transpose2d(x.reshape(1, b * in_ch, h, wd), wt, padding=0, stride=2, groups=b)
        out = out.reshape(b, out_ch, out.shape[2], out.shape[3])
        return _upfirdn(out, p[f"{name}.conv.blur.kernel"], 1, (1, 1))
    out = F.conv2d(x.reshape(1, b * in_ch, h, wd), wt.reshape(b * out_ch, in_ch, k, k), padding=k // 2, groups=b)
    return out.reshape(b, out_ch, h, wd)


def _styled_conv(x, p, name, w, noise, upsample=False):
    out = _modconv(x, p, name, w, upsample=upsample)
    out = out + p[f"{name}.noise.weight"] * noise
    return F.leaky_relu(out + p[f"{name}.activate.bias"].reshape(1, -1, 1, 1), 0.2) * SQRT2


def _to_rgb(x, p, name, w, skip=None):
    out = _modconv(x, p, name, w, demodulate=False) + p[f"{name}.bias"]
    if skip is not None:
        out = out + _upfirdn(skip, p[f"{name}.upsample.kernel"], 2, (2, 1))
    return out


def rosinality_render(p: dict, latent: torch.Tensor) -> torch.Tensor:
    """rosinality Generator.forward(input_is_latent=True, randomize_noise=False) with one w per layer."""
    n_blocks = sum(1 for k in p if re.fullmatch(r"to_rgbs\.\d+\.bias", k))
    out = p["input.input"].repeat(latent.shape[0], 1, 1, 1)
    out = _styled_conv(out, p, "conv1", latent[:, 0], p["noises.noise_0"])
    skip = _to_rgb(out, p, "to_rgb1", latent[:, 1])
    i = 1
    for blk in range(n_blocks):
        out = _styled_conv(out, p, f"convs.{2 * blk}", latent[:, i], p[f"noises.noise_{2 * blk + 1}"], upsample=True)
        out = _styled_conv(out, p, f"convs.{2 * blk + 1}", latent[:, i + 1], p[f"noises.noise_{2 * blk + 2}"])
        skip = _to_rgb(out, p, f"to_rgbs.{blk}", latent[:, i + 2], skip)
        i += 2
    return skip


def rosinality_mapping(p: dict, z: torch.Tensor, n_mlp: int, lr_mul: float = 0.01) -> torch.Tensor:
    x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for i in range(1, n_mlp + 1):
        wgt, bias = p[f"style.{i}.weight"], p[f"style.{i}.bias"]
        x = F.linear(x, wgt * lr_mul / math.sqrt(wgt.shape[1]))
        x = F.leaky_relu(x + bias * lr_mul, 0.2) * SQRT2
    return x


def test_rosinality_file_renders_like_rosinality_arithmetic(tmp_path):
    config = tiny_config()
    sd = reference_state_dict(config, seed=21)
    path = write_rosinality_pt(tmp_path / "ros.pt", config, sd, training=False)
    p = restricted_torch_load(path, source=str(path))["g_ema"]
    G = load_generator(path, device="cpu")

    gen = torch.Generator().manual_seed(0)
    latent = torch.randn([3, G.num_ws, G.w_dim], generator=gen)  # a different w for every layer
    with torch.no_grad():
        ours = G.synthesis(latent, noise_mode="const")
        theirs = rosinality_render(p, latent)
    assert ours.shape == theirs.shape == (3, 3, 16, 16)
    assert (ours - theirs).abs().max() < 1e-4
    assert theirs.abs().max() > 0.1  # a real image, not a degenerate zero

    z = torch.randn([3, G.z_dim], generator=gen)
    with torch.no_grad():
        assert (G.mapping(z, None)[:, 0] - rosinality_mapping(p, z, config.mapping_layers)).abs().max() < 1e-4
