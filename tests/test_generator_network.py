"""The StyleGAN2 network: numerical references for the tricky parts, and the Generator contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from musicvideo.generator.stylegan2 import (Generator, GeneratorConfig, SynthesisLayer, count_parameters,
                                            make_fir_filter, modulated_conv2d, upsample2d)

from _generator_helpers import tiny_config, tiny_generator

FIR = np.array([1.0, 3.0, 3.0, 1.0])


# ------------------------------------------------------------------ independent reference implementations (numpy)


def ref_correlate_same(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """2-D cross-correlation with zero padding k//2 ("same"), explicit loops over output pixels."""
    h, w = x.shape
    kh, kw = k.shape
    p = kh // 2
    xp = np.zeros((h + 2 * p, w + 2 * p))
    xp[p:p + h, p:p + w] = x
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.sum(xp[i:i + kh, j:j + kw] * k)
    return out


def ref_full_convolve2d(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Full 2-D (true) convolution by scattering every input pixel times the kernel."""
    h, w = x.shape
    kh, kw = k.shape
    out = np.zeros((h + kh - 1, w + kw - 1))
    for i in range(h):
        for j in range(w):
            out[i:i + kh, j:j + kw] += x[i, j] * k
    return out


def ref_zero_insert(x: np.ndarray) -> np.ndarray:
    """[h, w] -> [2h, 2w] with the samples at even positions and zeros between."""
    z = np.zeros((2 * x.shape[0], 2 * x.shape[1]))
    z[::2, ::2] = x
    return z


def ref_modulated_conv(x, weight, styles, demodulate=True):
    """Per sample: w'[o,i] = w[o,i] * s[i], optionally / ||w'[o]||, then a 'same' correlation summed over i."""
    b, cin, h, w = x.shape
    cout = weight.shape[0]
    out = np.zeros((b, cout, h, w))
    for n in range(b):
        wm = weight * styles[n][None, :, None, None]
        if demodulate:
            wm = wm / np.sqrt((wm**2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
        for o in range(cout):
            for i in range(cin):
                out[n, o] += ref_correlate_same(x[n, i], wm[o, i])
    return out


# ------------------------------------------------------------------ numerical references


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_matches_direct_formula(fused, demodulate):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 6))
    weight = rng.standard_normal((4, 3, 3, 3))
    styles = rng.standard_normal((2, 3)) + 1.0
    got = modulated_conv2d(torch.tensor(x, dtype=torch.float32), torch.tensor(weight, dtype=torch.float32),
                           torch.tensor(styles, dtype=torch.float32), demodulate=demodulate, fused=fused)
    want = ref_modulated_conv(x, weight, styles, demodulate=demodulate)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)


def test_demodulated_output_has_unit_weight_norm():
    # With demodulation, a delta input at the centre returns the normalised kernel: each output channel's
    # effective weights have unit L2 norm whatever the styles.
    x = torch.zeros(1, 2, 7, 7)
    weight = torch.randn(3, 2, 3, 3)
    styles = torch.tensor([[5.0, 0.1]])
    energy = 0.0
    for i in range(2):
        xi = x.clone()
        xi[0, i, 3, 3] = 1.0
        energy = energy + modulated_conv2d(xi, weight, styles).square().sum(dim=(2, 3))
    np.testing.assert_allclose(energy.numpy(), np.ones((1, 3)), rtol=1e-5)


def test_fir_upsample_matches_zero_insertion_and_4x4_filter():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 7))
    f2 = np.outer(FIR, FIR) / np.outer(FIR, FIR).sum()
    # Zero insertion, full convolution with the normalised 4x4 filter times the gain 4, then the NVlabs window
    # (padding 2 before / 1 after -> the full result shifted by one sample).
    full = ref_full_convolve2d(ref_zero_insert(x), f2 * 4)
    want = full[1:1 + 10, 1:1 + 14]
    got = upsample2d(torch.tensor(x, dtype=torch.float32)[None, None], make_fir_filter())[0, 0]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_fir_upsample_separable_1d_reference():
    # Same thing with np.convolve along each axis (the [1,3,3,1] filter is separable, gain 2 per axis).
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 4))
    taps = FIR / FIR.sum() * 2
    rows = np.stack([np.convolve(np.repeat(r, 2) * np.tile([1, 0], 4), taps)[1:9] for r in x])
    cols = np.stack([np.convolve(np.repeat(c, 2) * np.tile([1, 0], 4), taps)[1:9] for c in rows.T]).T
    got = upsample2d(torch.tensor(x, dtype=torch.float32)[None, None], make_fir_filter())[0, 0]
    np.testing.assert_allclose(got.numpy(), cols, rtol=1e-5, atol=1e-6)


def test_fir_upsample_keeps_a_constant_inside():
    got = upsample2d(torch.full((1, 1, 8, 8), 0.7), make_fir_filter())[0, 0]
    np.testing.assert_allclose(got[2:-2, 2:-2].numpy(), 0.7, rtol=1e-6)


@pytest.mark.parametrize("fused", [True, False])
def test_upsampling_modulated_conv_matches_transposed_conv_then_fir(fused):
    # NVlabs / rosinality: stride-2 transposed conv (= zero insertion + full true convolution with the kernel),
    # then the FIR (gain 4) with one sample of padding on each side, cropped back to exactly 2H x 2W.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 4, 5))
    weight = rng.standard_normal((3, 2, 3, 3))
    styles = rng.standard_normal((2, 2)) + 1.0
    f2 = np.outer(FIR, FIR) / np.outer(FIR, FIR).sum() * 4
    want = np.zeros((2, 3, 8, 10))
    for n in range(2):
        wm = weight * styles[n][None, :, None, None]
        wm = wm / np.sqrt((wm**2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
        for o in range(3):
            acc = sum(ref_full_convolve2d(ref_zero_insert(x[n, i]), wm[o, i]) for i in range(2))
            acc = acc[:9, :11]  # transposed conv output: (H-1)*2 + 3 samples
            want[n, o] = ref_full_convolve2d(acc, f2)[2:10, 2:12]
    got = modulated_conv2d(torch.tensor(x, dtype=torch.float32), torch.tensor(weight, dtype=torch.float32),
                           torch.tensor(styles, dtype=torch.float32), up=2, resample_filter=make_fir_filter(),
                           fused=fused)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)


def _linear_layer(up: int = 1) -> SynthesisLayer:
    torch.manual_seed(0)
    layer = SynthesisLayer(in_channels=2, out_channels=3, w_dim=4, resolution=(8, 8), up=up, activation="linear")
    with torch.no_grad():
        layer.noise_strength.fill_(0.5)
        layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    return layer.requires_grad_(False)


def test_noise_const_adds_the_stored_map_times_strength_and_scale():
    layer = _linear_layer()
    x, w = torch.randn(3, 2, 8, 8), torch.randn(3, 4)
    base = layer(x, w, noise_mode="none")
    const = layer(x, w, noise_mode="const")
    np.testing.assert_allclose((const - base).numpy(), np.broadcast_to((0.5 * layer.noise_const).numpy(), (3, 3, 8, 8)),
                               rtol=1e-5, atol=1e-6)
    scale = torch.tensor([0.0, 1.0, 2.5])
    scaled = layer(x, w, noise_mode="const", noise_scale=scale)
    for n in range(3):
        np.testing.assert_allclose((scaled[n] - base[n]).numpy(),
                                   np.broadcast_to(0.5 * scale[n].item() * layer.noise_const.numpy(), (3, 8, 8)),
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer(x, w, noise_mode="const", noise_scale=0.0).numpy(), base.numpy())


def test_noise_random_is_per_sample_and_seeded():
    layer = _linear_layer()
    x, w = torch.randn(2, 2, 8, 8), torch.randn(2, 4)
    base = layer(x, w, noise_mode="none")
    torch.manual_seed(5)
    a = layer(x, w, noise_mode="random") - base
    torch.manual_seed(5)
    b = layer(x, w, noise_mode="random") - base
    torch.manual_seed(5)
    expect = torch.randn(2, 1, 8, 8) * 0.5
    np.testing.assert_allclose(a.numpy(), b.numpy())
    np.testing.assert_allclose(a.numpy(), expect.expand(2, 3, 8, 8).numpy(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a[0], a[1])  # every sample gets its own noise, the same map for all channels


def test_bias_lrelu_gain_and_clamp():
    layer = SynthesisLayer(in_channels=1, out_channels=1, w_dim=2, resolution=(4, 4), conv_clamp=0.5)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 0, 1, 1] = 1.0
        layer.affine.weight.zero_()  # styles = bias 1
    layer.requires_grad_(False)
    x = torch.tensor([-2.0, -0.1, 0.1, 2.0]).reshape(1, 1, 1, 4).expand(1, 1, 4, 4).contiguous()
    y = layer(x, torch.zeros(1, 2), noise_mode="none")[0, 0, 0]
    want = np.clip(np.where(x[0, 0, 0].numpy() > 0, 1, 0.2) * x[0, 0, 0].numpy() * math.sqrt(2), -0.5, 0.5)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5)


# ------------------------------------------------------------------ mapping, truncation, conditioning


def test_mapping_shapes_and_pixel_norm():
    G = tiny_generator()
    z = torch.randn(3, 8)
    ws = G.mapping(z)
    assert ws.shape == (3, G.num_ws, 8)
    torch.testing.assert_close(ws[:, 0], ws[:, -1])  # broadcast copies
    torch.testing.assert_close(G.mapping(z * 7.0), ws, rtol=1e-5, atol=1e-5)  # z is normalised first


def test_truncation_formula_and_cutoff():
    G = tiny_generator()
    z = torch.randn(4, 8)
    ws = G.mapping(z)
    half = G.mapping(z, truncation_psi=0.5)
    torch.testing.assert_close(half, G.w_avg + 0.5 * (ws - G.w_avg))
    cut = G.mapping(z, truncation_psi=0.0, truncation_cutoff=3)
    torch.testing.assert_close(cut[:, :3], G.w_avg.expand(4, 3, -1))
    torch.testing.assert_close(cut[:, 3:], ws[:, 3:])


def test_truncation_psi_zero_gives_the_same_image_for_every_z():
    G = tiny_generator()
    images = G(torch.randn(4, 8), truncation_psi=0.0)
    for i in range(1, 4):
        torch.testing.assert_close(images[i], images[0], rtol=0, atol=1e-6)
    assert not torch.allclose(G(torch.randn(2, 8))[0], G(torch.randn(2, 8))[1])


def test_conditional_model_honours_c():
    G = tiny_generator(c_dim=3)
    assert "mapping.embed.weight" in G.state_dict()
    z = torch.randn(1, 8).repeat(3, 1)
    c = torch.eye(3)
    images = G(z, c)
    assert not torch.allclose(images[0], images[1], atol=1e-4)
    assert not torch.allclose(images[1], images[2], atol=1e-4)
    torch.testing.assert_close(G(z[:1], c[1:2]), images[1:2], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="conditional"):
        G(z)


def test_shape_assertions_name_the_expected_shape():
    G = tiny_generator()
    with pytest.raises(AssertionError, match=r"ws must be \[B, 8, 8\]"):
        G.synthesis(torch.randn(2, 7, 8))
    with pytest.raises(AssertionError, match="z must be"):
        G.mapping(torch.randn(2, 9))
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(G.mapping(torch.randn(1, 8)), noise_mode="loud")


# ------------------------------------------------------------------ synthesis as a whole


def test_generator_contract_attributes():
    G = tiny_generator()
    assert (G.z_dim, G.w_dim, G.c_dim, G.img_resolution, G.img_height, G.img_width) == (8, 8, 0, 32, 32, 32)
    assert G.num_ws == 8 and G.w_avg.shape == (8,)
    images = G.synthesis(G.mapping(torch.randn(2, 8)), noise_mode="const", noise_scale=1.0)
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.float32
    assert not G.training and not any(p.requires_grad for p in G.parameters())


def test_fused_and_unfused_modulation_agree_and_batches_are_independent():
    G = tiny_generator()
    ws = G.mapping(torch.randn(3, 8))
    G.fused_modconv = True
    fused = G.synthesis(ws)
    G.fused_modconv = False
    unfused = G.synthesis(ws)
    torch.testing.assert_close(fused, unfused, rtol=1e-4, atol=1e-4)
    G.fused_modconv = None
    torch.testing.assert_close(G.synthesis(ws[1:2]), fused[1:2], rtol=1e-4, atol=1e-4)


def test_noise_modes_and_per_frame_noise_scale():
    G = tiny_generator()
    ws = G.mapping(torch.randn(2, 8)).repeat(2, 1, 1)  # frames 0,1 and 2,3 share w
    none = G.synthesis(ws, noise_mode="none")
    const = G.synthesis(ws, noise_mode="const")
    assert not torch.allclose(none, const)
    torch.testing.assert_close(G.synthesis(ws, noise_mode="const", noise_scale=0.0), none)
    per_frame = G.synthesis(ws, noise_mode="const", noise_scale=torch.tensor([0.0, 0.0, 1.0, 1.0]))
    torch.testing.assert_close(per_frame[:2], none[:2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(per_frame[2:], const[2:], rtol=1e-5, atol=1e-6)
    torch.manual_seed(0)
    r1 = G.synthesis(ws, noise_mode="random")
    r2 = G.synthesis(ws, noise_mode="random")
    assert not torch.allclose(r1, r2)


def expected_nvlabs_keys(res: int, cfg: GeneratorConfig) -> dict[str, tuple]:
    """The G_ema.state_dict() layout of NVlabs stylegan2-ada-pytorch, written out from its documentation."""
    ch = lambda r: min(cfg.channel_base // r, cfg.channel_max)  # noqa: E731
    keys: dict[str, tuple] = {}
    r = 4
    while r <= res:
        b = f"synthesis.b{r}"
        keys[f"{b}.resample_filter"] = (4, 4)
        layers = ["conv1"] if r == 4 else ["conv0", "conv1"]
        if r == 4:
            keys[f"{b}.const"] = (ch(4), 4, 4)
        for name in layers:
            cin = ch(r // 2) if name == "conv0" else ch(r)
            keys.update({f"{b}.{name}.weight": (ch(r), cin, 3, 3), f"{b}.{name}.bias": (ch(r),),
                         f"{b}.{name}.noise_strength": (), f"{b}.{name}.noise_const": (r, r),
                         f"{b}.{name}.resample_filter": (4, 4), f"{b}.{name}.affine.weight": (cin, cfg.w_dim),
                         f"{b}.{name}.affine.bias": (cin,)})
        keys.update({f"{b}.torgb.weight": (3, ch(r), 1, 1), f"{b}.torgb.bias": (3,),
                     f"{b}.torgb.affine.weight": (ch(r), cfg.w_dim), f"{b}.torgb.affine.bias": (ch(r),)})
        r *= 2
    sizes = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
    for i in range(cfg.mapping_layers):
        keys[f"mapping.fc{i}.weight"] = (sizes[i + 1], sizes[i])
        keys[f"mapping.fc{i}.bias"] = (sizes[i + 1],)
    keys["mapping.w_avg"] = (cfg.w_dim,)
    return keys


def test_state_dict_keys_and_shapes_are_nvlabs():
    cfg = tiny_config(img_resolution=64, channel_base=256, channel_max=16)
    G = Generator(cfg)
    assert G.expected_shapes() == expected_nvlabs_keys(64, cfg)
    # A foreign state dict with the same layout loads strictly.
    G2 = Generator(cfg)
    G2.load_state_dict({k: torch.randn(s) for k, s in expected_nvlabs_keys(64, cfg).items()}, strict=True)


@pytest.mark.parametrize("res", [4, 8, 16, 32, 64, 128, 256, 512, 1024])
def test_every_resolution_builds(res):
    cfg = tiny_config(img_resolution=res, channel_base=2 * res, channel_max=2)
    if res >= 512:  # shapes only
        with torch.device("meta"):
            G = Generator(cfg)
        assert G.num_ws == 2 * int(math.log2(res)) - 2
        assert G.expected_shapes()[f"synthesis.b{res}.conv1.noise_const"] == (res, res)
        return
    G = Generator(cfg)
    assert G.num_ws == 2 * int(math.log2(res)) - 2
    assert G(torch.randn(1, 8)).shape == (1, 3, res, res)


@pytest.mark.parametrize("init_res,shape", [((4, 8), (32, 64)), ((8, 4), (64, 32))])
def test_non_square(init_res, shape):
    cfg = tiny_config(img_resolution=64, init_res=init_res)
    G = Generator(cfg)
    assert (G.img_height, G.img_width) == shape and G.img_resolution == max(shape)
    assert G.synthesis.b4.const.shape == (8, *init_res)
    assert G(torch.randn(2, 8)).shape == (2, 3, *shape)


@pytest.mark.parametrize("architecture", ["orig", "resnet"])
def test_other_architectures(architecture):
    G = tiny_generator(architecture=architecture)
    keys = G.state_dict()
    assert "synthesis.b8.torgb.weight" not in keys and "synthesis.b32.torgb.weight" in keys  # only the last
    assert ("synthesis.b8.skip.weight" in keys) == (architecture == "resnet")
    assert G(torch.randn(2, 8)).shape == (2, 3, 32, 32)


def test_invalid_configs_are_refused():
    with pytest.raises(ValueError, match="power of 2"):
        Generator(tiny_config(img_resolution=48))
    with pytest.raises(ValueError, match="architecture"):
        Generator(tiny_config(architecture="fancy"))


def test_config_f_layout_at_1024():
    with torch.device("meta"):
        G = Generator(GeneratorConfig())  # defaults = NVlabs config-f, 1024 px
    assert G.num_ws == 18
    assert G.expected_shapes() == expected_nvlabs_keys(1024, GeneratorConfig())
    # Buffers (noise maps, filters, w_avg) are not parameters.
    n_buffers = sum(b.numel() for b in G.buffers())
    assert count_parameters(G) + n_buffers == sum(math.prod(s) for s in G.expected_shapes().values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fp16_close_to_fp32():
    G = tiny_generator(img_resolution=64, num_fp16_res=2, conv_clamp=256).cuda()
    ws = G.mapping(torch.randn(4, 8, device="cuda"))
    G.use_fp16 = False
    ref = G.synthesis(ws)
    G.use_fp16 = None
    for cl in (False, True):
        G.channels_last = cl
        half = G.synthesis(ws)
        assert half.dtype == torch.float32
        assert (half - ref).abs().max().item() < 0.05
    torch.testing.assert_close(ref.cpu(), G.cpu().synthesis(ws.cpu()), rtol=1e-3, atol=1e-3)
