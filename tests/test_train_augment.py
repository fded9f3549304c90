"""ADA's augmentation pipe and p controller, measured on small images against what each operation must do."""

from __future__ import annotations

import math

import pytest
import torch

from musicvideo.train.augment import SYM6, AdaController, AugmentPipe, _blit, _warp


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Fixed draws; small tensors run fastest on one thread (and the test machine's cores are shared)."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def noise_images(n: int = 8, size: int = 16, channels: int = 3) -> torch.Tensor:
    return torch.rand(n, channels, size, size) * 2 - 1


def disc(size: int = 32, radius: float = 6.0, n: int = 1) -> torch.Tensor:
    """A soft white disc on black, centred on the image centre, [n, 3, size, size] in [-1, 1]."""
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    r = ((xx - c) ** 2 + (yy - c) ** 2).sqrt()
    img = torch.sigmoid((radius - r) * 2) * 2 - 1
    return img.expand(n, 3, size, size).clone()


def centroid(img: torch.Tensor) -> torch.Tensor:
    """Intensity-weighted centre [n, 2] (x, y) of the white part, in pixels."""
    wgt = (img[:, 0] + 1).clamp(min=0)
    size = img.shape[-1]
    ax = torch.arange(size, dtype=torch.float32)
    cx = (wgt.sum(1) * ax).sum(1) / wgt.sum((1, 2))
    cy = (wgt.sum(2) * ax).sum(1) / wgt.sum((1, 2))
    return torch.stack([cx, cy], dim=1)


def test_symlet_filter_is_orthonormal():
    g = torch.tensor(SYM6, dtype=torch.float64)
    assert abs(g.sum().item() - math.sqrt(2)) < 1e-12
    assert abs(g.square().sum().item() - 1) < 1e-11
    for k in range(1, 6):  # orthogonal to its own even shifts
        assert abs((g[:-2 * k] * g[2 * k:]).sum().item()) < 1e-11


def test_p_zero_is_the_identity_bit_exact():
    x = noise_images(16)
    pipe = AugmentPipe(p=0.0)
    assert torch.equal(pipe(x), x)
    grey = noise_images(4, channels=1)
    assert torch.equal(pipe(grey), grey)


def test_warp_without_transform_and_with_whole_pixels_matches_the_exact_paths():
    x = noise_images(3)
    taps = torch.tensor(SYM6)
    torch.testing.assert_close(_warp(x, torch.eye(3).expand(3, 3, 3), taps), x, atol=2e-6, rtol=0)
    shift = torch.tensor([[1.0, 0, 2], [0, 1, -1], [0, 0, 1]]).expand(3, 3, 3)  # source = output + (2, -1)
    got = _warp(x, shift, taps)
    want = _blit(x, shift)
    assert torch.equal(want[:, :, 1:, :-2], x[:, :, :-1, 2:])
    torch.testing.assert_close(got[:, :, 2:-2, 2:-2], want[:, :, 2:-2, 2:-2], atol=2e-6, rtol=0)


def test_xflip_at_p1_mirrors_exactly_half_the_time():
    x = noise_images(64)
    y = AugmentPipe.only("xflip", p=1.0)(x)
    same = (y == x).flatten(1).all(1)
    flipped = (y == x.flip(3)).flatten(1).all(1)
    assert bool((same | flipped).all())
    assert 16 <= int(flipped.sum()) <= 48  # NVlabs: an applied x-flip mirrors with probability 1/2


def test_rotate90_turns_by_quarter_turns_exactly():
    x = noise_images(64)
    y = AugmentPipe.only("rotate90", p=1.0)(x)
    k_of = torch.stack([(y == torch.rot90(x, k, dims=(2, 3))).flatten(1).all(1) for k in range(4)], dim=1)
    assert bool((k_of.sum(1) == 1).all())
    assert bool((k_of.sum(0) > 5).all())  # all four turns occur


def test_integer_translation_is_a_whole_pixel_shift_with_reflection():
    x = noise_images(32, size=16)
    y = AugmentPipe.only("xint", p=1.0)(x)
    for i in range(32):
        found = False
        for dx in range(-2, 3):  # at most 0.125 * 16 pixels
            for dy in range(-2, 3):
                if torch.equal(y[i, :, 2:-2, 2:-2], torch.roll(x[i], (dy, dx), dims=(1, 2))[:, 2:-2, 2:-2]):
                    found = True
        assert found, i


def test_probability_scales_with_p():
    x = torch.zeros(4000, 1, 2, 2)
    x[:, :, :, 0] = 1  # left column white: an applied x-flip shows
    y = AugmentPipe.only("xflip", p=0.5)(x)
    frac = (y[:, 0, 0, 0] == 0).float().mean().item()
    assert abs(frac - 0.25) < 0.03  # applied with p = 0.5, then mirrors half of those


def test_brightness_shifts_and_contrast_scales_each_image_uniformly():
    x = noise_images(256)
    y = AugmentPipe.only("brightness", p=1.0)(x)
    d = (y - x).flatten(1)
    assert torch.allclose(d, d[:, :1].expand_as(d), atol=1e-5)  # one offset per image
    assert abs(d[:, 0].std().item() - 0.2) < 0.03
    y = AugmentPipe.only("contrast", p=1.0)(x)
    ratio = (y / x).flatten(1)
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-4)
    assert abs(ratio[:, 0].log2().std().item() - 0.5) < 0.07


def test_luma_hue_and_saturation_act_on_the_grey_axis():
    x = noise_images(128)
    grey = x.mean(dim=1, keepdim=True)
    chroma = x - grey

    y = AugmentPipe.only("lumaflip", p=1.0)(x)
    y_grey = y.mean(dim=1, keepdim=True)
    is_flip = (y_grey + grey).abs().flatten(1).amax(1) < 1e-5
    is_same = (y - x).abs().flatten(1).amax(1) < 1e-6
    assert bool((is_flip | is_same).all()) and 30 < int(is_flip.sum()) < 98
    torch.testing.assert_close(y - y_grey, chroma, atol=1e-5, rtol=0)  # colour kept, brightness mirrored

    y = AugmentPipe.only("hue", p=1.0)(x)
    torch.testing.assert_close(y.mean(dim=1, keepdim=True), grey, atol=1e-5, rtol=0)  # luma kept per pixel
    torch.testing.assert_close((y - y.mean(1, keepdim=True)).norm(dim=1), chroma.norm(dim=1), atol=1e-5, rtol=0)
    assert (y - x).abs().amax() > 0.5

    y = AugmentPipe.only("saturation", p=1.0)(x)
    torch.testing.assert_close(y.mean(dim=1, keepdim=True), grey, atol=1e-5, rtol=0)
    gain = (y - y.mean(1, keepdim=True)).norm(dim=1) / chroma.norm(dim=1)
    assert torch.allclose(gain.flatten(1), gain.flatten(1)[:, :1].expand(-1, 256), rtol=1e-3)
    assert abs(gain[:, 0, 0].log2().std().item() - 1.0) < 0.2


@pytest.mark.parametrize("op", ["scale", "rotate", "aniso"])
def test_geometric_operations_keep_a_centred_disc_centred(op):
    x = disc(32, radius=6, n=16)
    y = AugmentPipe.only(op, p=1.0)(x)
    centre = torch.tensor([15.5, 15.5])
    assert (centroid(y) - centre).abs().max() < 0.25
    if op == "rotate":  # a disc is round: rotations keep it, up to resampling
        assert (y - x).abs().amax() < 0.1
    else:
        area_x = (x[:, 0] > 0).float().sum((1, 2))
        area_y = (y[:, 0] > 0).float().sum((1, 2))
        assert (area_y != area_x).any()


def test_scaling_changes_the_disc_radius_by_the_drawn_factor():
    torch.manual_seed(3)
    x = disc(32, radius=6, n=32)
    pipe = AugmentPipe.only("scale", p=1.0)
    y = pipe(x)
    radius = ((y[:, 0] + 1) / 2).sum((1, 2)).div(math.pi).sqrt()  # area of the white part
    assert (radius / 6).log2().std().item() == pytest.approx(0.2, abs=0.06)  # scale_std 0.2 (log2)


def test_fractional_translation_moves_the_disc():
    x = disc(32, radius=5, n=64)
    y = AugmentPipe.only("xfrac", p=1.0)(x)
    moved = centroid(y) - 15.5
    assert abs(moved.std().item() / 32 - 0.125) < 0.03  # std 0.125 of the size


def test_gradients_flow_through_every_operation_and_twice_for_r1():
    x = noise_images(8).requires_grad_(True)
    pipe = AugmentPipe(p=1.0)
    y = pipe(x)
    (g,) = torch.autograd.grad((y * torch.randn_like(y)).sum(), [x], create_graph=True)
    assert g.abs().sum() > 0
    w = torch.randn(3, 3, 3, 3, requires_grad=True)
    out = torch.nn.functional.conv2d(pipe(x), w).square().sum()
    (gx,) = torch.autograd.grad(out, [x], create_graph=True)
    gx.square().sum().backward()  # R1 through the pipe needs this double backward
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_warp_gradients_match_finite_differences_to_second_order():
    x = torch.rand(1, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    G_inv = torch.tensor([[[0.9, 0.3, 0.4], [-0.2, 1.1, -0.3], [0, 0, 1]]], dtype=torch.float64)
    taps = torch.tensor(SYM6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: _warp(t, G_inv, taps), (x,))
    assert torch.autograd.gradgradcheck(lambda t: _warp(t, G_inv, taps).square(), (x,))


def test_default_pipe_is_bgc_with_nvlabs_ranges():
    pipe = AugmentPipe()
    assert float(pipe.p) == 0
    ops = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness", "contrast", "lumaflip",
           "hue", "saturation")
    assert all(getattr(pipe, op) == 1 for op in ops)
    assert (pipe.xint_max, pipe.scale_std, pipe.rotate_max) == (0.125, 0.2, 1)
    assert (pipe.aniso_std, pipe.xfrac_std) == (0.2, 0.125)
    assert (pipe.brightness_std, pipe.contrast_std, pipe.hue_max, pipe.saturation_std) == (0.2, 0.5, 1, 1)
    assert list(pipe.state_dict()) == ["p"]
    with pytest.raises(ValueError, match="unknown augmentations"):
        AugmentPipe.only("cutout")


# ------------------------------------------------------------------------------------------------- controller


def test_controller_raises_p_when_d_is_overconfident_and_lowers_it_otherwise():
    pipe = AugmentPipe()
    ada = AdaController(target=0.6, adjust_kimg=500, batch_size=32, interval=4, augment_pipe=pipe)
    step = 32 * 4 / 500_000
    sure = torch.tensor([1.0] * 30 + [-1.0] * 2)  # r_t = 0.875 > 0.6
    for i in range(3):
        assert ada.step(sure) == 0.0  # nothing until the 4th step
    assert ada.step(sure) == pytest.approx(step)
    assert float(pipe.p) == pytest.approx(step)
    assert ada.rt == pytest.approx(0.875)
    for _ in range(8):
        ada.step(sure)
    assert ada.p == pytest.approx(3 * step)
    unsure = torch.tensor([1.0] * 16 + [-1.0] * 16)  # r_t = 0 < 0.6
    for _ in range(4):
        ada.step(unsure)
    assert ada.p == pytest.approx(2 * step)
    for _ in range(40):
        ada.step(unsure)
    assert ada.p == 0.0 and float(pipe.p) == 0.0  # clamped at 0


def test_controller_state_round_trip_resumes_mid_interval():
    a = AdaController(batch_size=8, interval=4, p=0.5)
    signs = torch.ones(8)
    a.step(signs)
    a.step(-signs)
    b = AdaController(batch_size=8, interval=4)
    b.load_state_dict(a.state_dict())
    for ctl in (a, b):
        ctl.step(signs)
        ctl.step(signs)
    assert a.p == b.p == pytest.approx(0.5 - 32 / 500_000)  # r_t = 0.5 < 0.6
    assert a.rt == b.rt == pytest.approx(0.5)
    c = AdaController(batch_size=8, p=1.0)
    for _ in range(4):
        c.step(signs)
    assert c.p == 1.0  # clamped at 1


def test_controller_driven_by_the_caller_adjusts_by_the_steps_collected():
    """accumulate() every step and update() when the caller decides (the loop's schedule) is the same rule."""
    pipe = AugmentPipe()
    ada = AdaController(batch_size=16, interval=4, p=0.1)
    for _ in range(2):
        ada.accumulate(torch.ones(16))
    assert ada.update(pipe) == pytest.approx(0.1 + 16 * 2 / 500_000)  # two steps' worth of images
    assert float(pipe.p) == pytest.approx(ada.p)
    assert ada.update(pipe) == pytest.approx(0.1 + 16 * 2 / 500_000)  # nothing collected: no change
    ada.accumulate(torch.tensor([1.0, 1, 1, -1, -1]))  # r_t = 0.2
    assert ada.update() < 0.1 + 16 * 2 / 500_000
