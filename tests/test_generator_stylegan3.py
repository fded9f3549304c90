"""StyleGAN3 in plain torch: shapes (T, R, conditional), NVlabs' names, and the tricky parts against direct formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F

from musicvideo.errors import MusicVideoError
from musicvideo.generator.stylegan3 import (StyleGAN3Config, StyleGAN3Generator, SynthesisInput,
                                            design_lowpass_filter, filtered_lrelu, make_transform)


def _config(radial: bool = False, **kw) -> StyleGAN3Config:
    """A tiny -T (or -R) network: 16 or 32 px, few channels, 4 layers."""
    base = dict(z_dim=8, w_dim=8, img_resolution=16, num_layers=4, num_critical=2, channel_base=128,
                channel_max=8, margin_size=2)
    if radial:
        base.update(conv_kernel=1, use_radial_filters=True, channel_base=256, channel_max=16)
    base.update(kw)
    return StyleGAN3Config(**base)


def _generator(seed: int = 0, **kw) -> StyleGAN3Generator:
    torch.manual_seed(seed)
    G = StyleGAN3Generator(_config(**kw))
    with torch.no_grad():  # non-trivial learned input transform and biases, like a trained network
        for name, p in G.named_parameters():
            if name.endswith("bias") and "input.affine" not in name:
                p.add_(0.1 * torch.randn_like(p))
    return G


# ---------------------------------------------------------------------------------------------- shapes and names


@pytest.mark.parametrize("radial", [False, True])
@pytest.mark.parametrize("res", [16, 32])
def test_shapes_t_and_r(radial, res):
    G = _generator(radial=radial, img_resolution=res)
    assert G.num_ws == 6 and G.w_avg.shape == (8,)
    ws = G.mapping(torch.randn(3, 8), truncation_psi=0.7)
    assert ws.shape == (3, G.num_ws, 8)
    img = G.synthesis(ws, noise_mode="const")
    assert img.shape == (3, 3, res, res) and img.dtype == torch.float32
    assert torch.isfinite(img).all()
    assert all(p.dtype == torch.float32 for p in G.parameters())
    # -R: radial 2-D down filters exactly in the layers that are not critically sampled.
    layers = [getattr(G.synthesis, n) for n in G.synthesis.layer_names]
    for layer in layers[:-1]:
        radial_here = radial and not layer.is_critically_sampled
        assert layer.down_filter.ndim == (2 if radial_here else 1)
        assert layer.weight.shape[-1] == (1 if radial else 3)
    assert layers[-1].up_filter is None and layers[-1].down_filter is None  # ToRGB: no filters


def test_conditional():
    G = _generator(c_dim=4)
    c = F.one_hot(torch.tensor([0, 3]), 4).float()
    ws = G.mapping(torch.randn(2, 8), c)
    assert G.synthesis(ws).shape == (2, 3, 16, 16)
    assert "mapping.embed.weight" in G.state_dict()


def test_nvlabs_names_and_shapes():
    """The state dict uses NVlabs stylegan3's names, so a later loader maps tensors one to one."""
    G = _generator(img_resolution=16)
    shapes = G.expected_shapes()
    s = G.config.schedule()
    c0 = int(s["channels"][0])
    assert shapes["synthesis.input.transform"] == (3, 3)
    assert shapes["synthesis.input.freqs"] == (c0, 2)
    assert shapes["synthesis.input.phases"] == (c0,)
    assert shapes["synthesis.input.weight"] == (c0, c0)
    assert shapes["synthesis.input.affine.weight"] == (4, 8)
    assert shapes["mapping.w_avg"] == (8,)
    assert {k for k in shapes if k.startswith("mapping.fc")} == {"mapping.fc0.weight", "mapping.fc0.bias",
                                                                 "mapping.fc1.weight", "mapping.fc1.bias"}
    names = G.synthesis.layer_names
    assert len(names) == 5 and names[-1] == "L4_16_3"
    for i, name in enumerate(names):
        assert name == f"L{i}_{int(s['sizes'][i])}_{int(s['channels'][i])}"
        assert shapes[f"synthesis.{name}.magnitude_ema"] == ()
        assert f"synthesis.{name}.bias" in shapes and f"synthesis.{name}.affine.bias" in shapes


def test_schedule_matches_nvlabs_layer_names():
    """NVlabs' 1024 px and 256 px -T layer names (sizes with a margin of 10, channels from the cutoffs)."""
    def names(res):
        s = StyleGAN3Config(img_resolution=res).schedule()
        return [f"L{i}_{int(a)}_{int(b)}" for i, (a, b) in enumerate(zip(s["sizes"], s["channels"]))]
    assert names(1024) == ["L0_36_512", "L1_36_512", "L2_52_512", "L3_52_512", "L4_84_512", "L5_148_512",
                           "L6_148_512", "L7_276_323", "L8_276_203", "L9_532_128", "L10_1044_81", "L11_1044_51",
                           "L12_1044_32", "L13_1024_32", "L14_1024_3"]
    assert names(256) == ["L0_36_512", "L1_36_512", "L2_36_512", "L3_52_512", "L4_52_512", "L5_84_512",
                          "L6_84_512", "L7_148_512", "L8_148_512", "L9_148_362", "L10_276_256", "L11_276_181",
                          "L12_276_128", "L13_256_128", "L14_256_3"]


# ---------------------------------------------------------------------------------------------- filtered leaky ReLU


def _conv_valid_axis(a: np.ndarray, f: np.ndarray, axis: int) -> np.ndarray:
    return np.apply_along_axis(lambda v: np.convolve(v, f, mode="valid"), axis, a)


def _filtered_lrelu_direct(x, fu, fd, b, up, down, pad, gain, slope, clamp):
    """Numpy, one image at a time: bias, zero insertion, pad/crop, FIR per axis (gain up per axis), lrelu*gain,
    clamp, FIR per axis (or 2-D for a radial fd), keep every down-th sample."""
    x = x + b[None, :, None, None]
    n, c, h, w = x.shape
    y = np.zeros((n, c, h * up, w * up))
    y[:, :, ::up, ::up] = x
    x0, x1, y0, y1 = pad
    y = np.pad(y, [(0, 0), (0, 0), (max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0))])
    y = y[:, :, max(-y0, 0):y.shape[2] - max(-y1, 0), max(-x0, 0):y.shape[3] - max(-x1, 0)]
    y = _conv_valid_axis(_conv_valid_axis(y, fu * up, 3), fu * up, 2)
    y = np.where(y >= 0, y, slope * y) * gain
    y = np.clip(y, -clamp, clamp)
    if fd.ndim == 1:
        y = _conv_valid_axis(_conv_valid_axis(y, fd, 3), fd, 2)
    else:
        y = np.stack([[scipy.signal.convolve2d(ch, fd, mode="valid") for ch in img] for img in y])
    return y[:, :, ::down, ::down]


@pytest.mark.parametrize("radial", [False, True])
@pytest.mark.parametrize("up,down,pad", [(2, 2, (5, 6, 5, 6)), (4, 2, (9, -2, 3, 12)), (2, 1, (12, 11, 13, 12))])
def test_filtered_lrelu_equals_direct_formula(radial, up, down, pad):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 7, 9)) * 3
    b = rng.normal(size=3)
    fu = design_lowpass_filter(numtaps=6 * up, cutoff=3.0, width=4.0, fs=16.0 * up)
    fd = design_lowpass_filter(numtaps=6 * max(down, 2), cutoff=5.0, width=3.0, fs=16.0 * up, radial=radial)
    got = filtered_lrelu(torch.tensor(x, dtype=torch.float32), fu=fu, fd=fd, b=torch.tensor(b, dtype=torch.float32),
                         up=up, down=down, padding=pad, gain=math.sqrt(2), slope=0.2, clamp=2.5)
    want = _filtered_lrelu_direct(x, fu.double().numpy(), fd.double().numpy(), b, up, down, pad, math.sqrt(2),
                                  0.2, 2.5)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5, rtol=0)
    assert np.abs(want).max() > 0.5  # the clamp and lrelu were exercised on non-trivial values


def test_filtered_lrelu_2d_up_filter_equals_separable():
    """The polyphase separable path and the plain zero-insertion path (a 2-D up filter) agree."""
    torch.manual_seed(0)
    x, b = torch.randn(2, 3, 6, 5), torch.randn(3)
    fu = design_lowpass_filter(numtaps=12, cutoff=3.0, width=4.0, fs=32.0)
    fd = design_lowpass_filter(numtaps=12, cutoff=4.0, width=4.0, fs=32.0)
    kw = dict(fd=fd, b=b, up=2, down=2, padding=(7, 8, 3, 9), clamp=1.0)
    torch.testing.assert_close(filtered_lrelu(x, fu=fu, **kw), filtered_lrelu(x, fu=torch.outer(fu, fu), **kw),
                               atol=1e-6, rtol=0)


def test_filtered_lrelu_torgb_is_bias_and_clamp():
    x = torch.randn(1, 3, 5, 5) * 400
    b = torch.tensor([1.0, -2.0, 3.0])
    got = filtered_lrelu(x, b=b, gain=1, slope=1, clamp=256)
    torch.testing.assert_close(got, (x + b[:, None, None]).clamp(-256, 256))


# ---------------------------------------------------------------------------------------------- filter design


def _kaiser_beta(numtaps: int, width_rel_nyquist: float) -> float:
    atten = 2.285 * (numtaps - 1) * math.pi * width_rel_nyquist + 7.95  # Kaiser's formula for the attenuation
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def _kaiser(numtaps: int, beta: float) -> np.ndarray:
    n = np.arange(numtaps)
    return np.i0(beta * np.sqrt(1 - (2 * n / (numtaps - 1) - 1) ** 2)) / np.i0(beta)


@pytest.mark.parametrize("numtaps,cutoff,width,fs", [(12, 4.0, 6.0, 32.0), (24, 5.66, 20.7, 64.0), (12, 16, 7.4, 64)])
def test_radial_filter_equals_jinc_times_kaiser(numtaps, cutoff, width, fs):
    got = design_lowpass_filter(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs, radial=True).double().numpy()
    t = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.sqrt(t[None, :] ** 2 + t[:, None] ** 2)
    jinc = scipy.special.j1(2 * math.pi * cutoff * r) / (math.pi * r)
    win = _kaiser(numtaps, _kaiser_beta(numtaps, width / (fs / 2)))
    want = jinc * win[None, :] * win[:, None]
    want /= want.sum()
    assert got.shape == (numtaps, numtaps)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    np.testing.assert_allclose(got, got.T, atol=1e-7)


def test_separable_filter_equals_windowed_sinc():
    numtaps, cutoff, width, fs = 12, 4.0, 6.0, 32.0
    got = design_lowpass_filter(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs).double().numpy()
    n = np.arange(numtaps) - (numtaps - 1) / 2
    want = np.sinc(2 * cutoff / fs * n) * _kaiser(numtaps, _kaiser_beta(numtaps, width / (fs / 2)))
    want /= want.sum()
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    assert design_lowpass_filter(numtaps=1, cutoff=1, width=1, fs=4) is None


# ---------------------------------------------------------------------------------------------- Fourier input


def _input_direct(inp: SynthesisInput, transform: np.ndarray) -> np.ndarray:
    """sin(2 pi (f . (A p + t) + phase)) on pixel centres p, mixed by weight / sqrt(C), for the identity learned
    affine; A, t from the transform. Amplitude 1 (all frequencies stay inside the band here)."""
    width, height = inp.size
    sr = inp.sampling_rate
    px = (np.arange(width) + 0.5 - width / 2) / sr
    py = (np.arange(height) + 0.5 - height / 2) / sr
    p = np.stack(np.meshgrid(px, py), axis=-1)                     # [H, W, 2] (x, y)
    q = p @ transform[:2, :2].T + transform[:2, 2]                  # A p + t
    f = inp.freqs.double().numpy()
    feats = np.sin(2 * np.pi * (q @ f.T + inp.phases.double().numpy()))  # [H, W, C]
    feats = feats @ (inp.weight.double().numpy() / np.sqrt(inp.channels)).T
    return feats.transpose(2, 0, 1)


def _input(seed: int = 0) -> SynthesisInput:
    torch.manual_seed(seed)
    return SynthesisInput(w_dim=4, channels=6, size=12, sampling_rate=16, bandwidth=2).requires_grad_(False)


def test_input_grid_matches_affine_grid_convention():
    inp = _input()
    theta = torch.tensor([[0.5 * 12 / 16, 0, 0], [0, 0.5 * 12 / 16, 0]])
    grid = F.affine_grid(theta[None], [1, 1, 12, 12], align_corners=False)[0]
    torch.testing.assert_close(inp.grid(), grid, atol=1e-6, rtol=0)


def test_input_translation_is_a_shift_of_the_features():
    inp = _input()
    w = torch.randn(1, 4)
    ident = inp(w)
    np.testing.assert_allclose(ident[0].numpy(), _input_direct(inp, np.eye(3)), atol=1e-5)
    t = np.array([[1, 0, 0.3], [0, 1, -0.17], [0, 0, 1]])
    moved = inp(w, transform=torch.tensor(t, dtype=torch.float32))
    np.testing.assert_allclose(moved[0].numpy(), _input_direct(inp, t), atol=1e-5)
    # A translation by whole grid samples is a shift of the feature map.
    one = np.array([[1, 0, 2 / 16], [0, 1, 0], [0, 0, 1]])
    shifted = inp(w, transform=torch.tensor(one, dtype=torch.float32))
    torch.testing.assert_close(shifted[..., :-2], ident[..., 2:], atol=1e-5, rtol=0)


def test_input_rotation_and_batched_transforms():
    inp = _input()
    w = torch.randn(2, 4)
    a = math.radians(20)
    rot = np.array([[math.cos(a), -math.sin(a), 0.05], [math.sin(a), math.cos(a), 0.0], [0, 0, 1]])
    batch = torch.tensor(np.stack([np.eye(3), rot]), dtype=torch.float32)
    out = inp(w, transform=batch)
    np.testing.assert_allclose(out[1].numpy(), _input_direct(inp, rot), atol=1e-5)
    torch.testing.assert_close(out[:1], inp(w[:1]))
    # The buffer is the default; the per-call transform leaves it alone.
    assert torch.equal(inp.transform, torch.eye(3))
    inp.transform.copy_(batch[1])
    torch.testing.assert_close(inp(w[1:]), out[1:])


@pytest.mark.parametrize("shape", [(2, 3), (3, 3, 3), (4,), (2, 3, 3, 1), (3, 4)])
def test_wrong_transform_shape_is_a_one_line_error(shape):
    G = _generator()
    ws = G.mapping(torch.randn(2, 8))
    with pytest.raises(MusicVideoError) as info:
        G.synthesis(ws, transform=torch.zeros(shape))
    assert "\n" not in str(info.value) and "transform" in str(info.value)


def test_nan_transform_is_an_error():
    G = _generator()
    with pytest.raises(MusicVideoError):
        G.synthesis(G.mapping(torch.randn(1, 8)), transform=torch.full((3, 3), float("nan")))


# ---------------------------------------------------------------------------------------------- behaviour


def test_deterministic_and_noise_ignored():
    G1, G2 = _generator(seed=3), _generator(seed=3)
    z = torch.randn(2, 8)
    a = G1(z)
    torch.testing.assert_close(a, G2(z), atol=0, rtol=0)
    ws = G1.mapping(z)
    torch.testing.assert_close(G1.synthesis(ws, noise_mode="random", noise_scale=3.0), a, atol=0, rtol=0)
    torch.testing.assert_close(G1.synthesis(ws, noise_mode="none"), a, atol=0, rtol=0)


def test_identity_transform_matches_default_and_truncation():
    G = _generator()
    ws = G.mapping(torch.randn(2, 8))
    torch.testing.assert_close(G.synthesis(ws, transform=torch.eye(3)), G.synthesis(ws))
    wt = G.mapping(torch.randn(2, 8), truncation_psi=0.0)
    torch.testing.assert_close(wt, G.w_avg.expand_as(wt))


def _interior_corr(a: torch.Tensor, b: torch.Tensor, crop: int) -> float:
    a = a[..., crop:-crop, crop:-crop].flatten().double()
    b = b[..., crop:-crop, crop:-crop].flatten().double()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def _equivariance_generator(radial: bool) -> StyleGAN3Generator:
    return _generator(img_resolution=32, num_layers=6, channel_base=512, channel_max=16, margin_size=4, radial=radial)


@pytest.mark.parametrize("radial", [False, True])
def test_translation_equivariance(radial):
    """The paper's promise, loosely: moving the input by 2 pixels, or by half a pixel, moves the image the same.

    NVlabs' convention: ``transform = inv(make_transform(translate=t))`` moves the content by +t (image units; the
    image spans one unit, so one pixel is 1 / img_resolution).
    """
    G = _equivariance_generator(radial)
    ws = G.mapping(torch.randn(1, 8))
    ref = G.synthesis(ws)
    px = 1 / G.img_resolution
    moved = G.synthesis(ws, transform=torch.linalg.inv(make_transform(translate=(2 * px, 0))))
    good = _interior_corr(moved[..., 2:], ref[..., :-2], crop=4)
    wrong_way = _interior_corr(moved[..., :-2], ref[..., 2:], crop=4)
    assert good > 0.999 and good > wrong_way + 0.01
    # Half a pixel down: compare with the reference shifted by half a sample (Fourier shift along y).
    half = G.synthesis(ws, transform=torch.linalg.inv(make_transform(translate=(0, 0.5 * px))))
    spectrum = np.fft.fft(ref.numpy(), axis=-2)
    k = np.fft.fftfreq(ref.shape[-2])[:, None]
    corr = {s: _interior_corr(half, torch.tensor(np.real(np.fft.ifft(spectrum * np.exp(-2j * np.pi * k * s), axis=-2))),
                              crop=4) for s in (0.5, -0.5)}
    assert corr[0.5] > 0.998 and corr[0.5] > corr[-0.5]


def test_rotation_equivariance_r():
    """-R: turning the input by 90 degrees turns the image by 90 degrees (counter-clockwise as displayed)."""
    G = _equivariance_generator(radial=True)
    ws = G.mapping(torch.randn(1, 8))
    ref = G.synthesis(ws)
    rot = G.synthesis(ws, transform=torch.linalg.inv(make_transform(angle_deg=90)))
    assert _interior_corr(rot, torch.rot90(ref, 1, dims=(-2, -1)), crop=4) > 0.999


def test_fp32_on_cpu_even_when_fp16_is_asked_for():
    G = _generator()
    G.use_fp16 = True  # fp16 only ever runs on CUDA
    ws = G.mapping(torch.randn(1, 8))
    img = G.synthesis(ws)
    assert img.dtype == torch.float32
    G.use_fp16 = False
    torch.testing.assert_close(G.synthesis(ws), img, atol=0, rtol=0)
    assert any(getattr(G.synthesis, n).use_fp16 for n in G.synthesis.layer_names)  # NVlabs' fp16 layers are marked


def test_magnitude_ema_update_and_input_gain():
    """update_emas: ema <- beta * ema + (1 - beta) * mean(x^2) of the layer input; the ema rescales the input."""
    G = _generator()
    layer = getattr(G.synthesis, G.synthesis.layer_names[1])
    layer.magnitude_ema_beta = 0.75
    seen = []
    hook = layer.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    ws = G.mapping(torch.randn(2, 8))
    before = G.synthesis(ws)
    G.synthesis(ws, update_emas=True)
    hook.remove()
    want = 0.75 * 1.0 + 0.25 * float(seen[-1].square().mean())
    assert layer.magnitude_ema.shape == () and abs(float(layer.magnitude_ema) - want) < 1e-6
    assert not torch.allclose(G.synthesis(ws), before)


def test_radial_filter_odd_taps_is_finite():
    f = design_lowpass_filter(numtaps=7, cutoff=2.0, width=3.0, fs=16.0, radial=True)
    assert torch.isfinite(f).all() and abs(float(f.sum()) - 1) < 1e-6 and f.argmax() == 24
