"""The training networks: the discriminator (NVlabs layout, checkpoint loading) and the StyleGAN2 loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from musicvideo.errors import CheckpointError
from musicvideo.generator.stylegan2 import GeneratorConfig
from musicvideo.train.discriminator import Discriminator, DiscriminatorConfig, MinibatchStdLayer, load_discriminator
from tests._checkpoint_fixtures import (reference_state_dict, tiny_config, write_nvlabs_pytorch_pkl,
                                        write_nvlabs_tf_pkl, write_rosinality_pt)
from tests._train_fixtures import (nvlabs_d_layout, random_d_state, rosinality_d_forward, write_nvlabs_pkl_with_d,
                                   write_nvlabs_tf_pkl_with_d, write_rosinality_pt_with_d)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny convolutions run fastest on one thread (and the test machine's cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_d_config(**kw) -> DiscriminatorConfig:
    base = dict(img_resolution=16, channel_base=128, channel_max=32, mapping_layers=2)
    base.update(kw)
    return DiscriminatorConfig(**base)


# ------------------------------------------------------------------------------------------------- discriminator


@pytest.mark.parametrize("architecture", ["resnet", "skip", "orig"])
@pytest.mark.parametrize("c_dim", [0, 5])
def test_discriminator_names_and_shapes_are_nvlabs(architecture, c_dim):
    D = Discriminator(tiny_d_config(architecture=architecture, c_dim=c_dim))
    expected = nvlabs_d_layout(resolution=16, channel_base=128, channel_max=32, c_dim=c_dim,
                               architecture=architecture, mapping_layers=2)
    assert {k: tuple(v.shape) for k, v in D.state_dict().items()} == dict(expected)
    img = torch.rand(4, 3, 16, 16) * 2 - 1
    c = F.one_hot(torch.arange(4) % 5, 5).float() if c_dim else None
    assert D(img, c).shape == (4, 1)
    assert D.features(img, c).shape == (4, 32)


def test_for_generator_uses_nvlabs_defaults():
    g = GeneratorConfig(img_resolution=64, c_dim=3, channel_base=16384, channel_max=256)
    d = DiscriminatorConfig.for_generator(g)
    assert (d.img_resolution, d.c_dim, d.channel_base, d.channel_max) == (64, 3, 16384, 256)
    assert (d.architecture, d.num_fp16_res, d.conv_clamp, d.mbstd_group_size, d.mbstd_num_channels) == \
        ("resnet", 4, 256, 4, 1)
    assert d.label_dim == 256  # channels at 4x4: min(16384 // 4, 256)
    with pytest.raises(ValueError, match="non-square"):
        DiscriminatorConfig.for_generator(GeneratorConfig(img_resolution=64, init_res=(4, 8)))


def test_matches_rosinality_forward_pass_number_for_number():
    """The same weights in rosinality's layout through rosinality's forward (written out independently)."""
    dsd = random_d_state(nvlabs_d_layout(resolution=16, channel_base=128, channel_max=32), seed=3)
    D = Discriminator(tiny_d_config(conv_clamp=None))
    D.load_state_dict(dsd, strict=True)
    from tests._train_fixtures import rosinality_d_state

    img = torch.rand(8, 3, 16, 16) * 2 - 1
    want = rosinality_d_forward(rosinality_d_state(dsd, 16), img)
    torch.testing.assert_close(D(img), want, atol=2e-6, rtol=1e-5)


def test_minibatch_stddev_formula():
    x = torch.randn(8, 6, 2, 2)
    y = MinibatchStdLayer(group_size=4, num_channels=2)(x)
    assert y.shape == (8, 8, 2, 2)
    # sample i is grouped with i + 2, i + 4, i + 6 (NVlabs reshapes [G, N/G, ...])
    grp = x[[1, 3, 5, 7]]
    want = (grp[:, 3:].var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
    assert torch.allclose(y[3, 7], want.expand(2, 2), atol=1e-6)
    with pytest.raises(ValueError, match="multiple"):
        MinibatchStdLayer(group_size=4)(torch.randn(6, 4, 2, 2))


def test_forward_backward_and_conditioning():
    D = Discriminator(tiny_d_config(c_dim=3))
    img = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    c = torch.eye(3)[[0, 1, 2, 0]]
    out = D(img, c)
    out.sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    assert all(p.grad is not None for p in D.parameters())
    # the label changes the logit (projection on the mapped label), not the features
    c2 = torch.eye(3)[[1, 2, 0, 1]]
    assert not torch.allclose(D(img, c2), out)
    assert torch.equal(D.features(img, c), D.features(img, c2))
    with pytest.raises(ValueError, match="conditional"):
        D(img)


def test_fp16_blocks_follow_nvlabs_mixed_precision():
    """The highest num_fp16_res resolutions run in half precision (CUDA only; forced here on the CPU), the epilogue
    in fp32: same logits within half-precision error, and R1's double backward works through the casts."""
    from musicvideo.train.loss import StyleGAN2Loss

    D = Discriminator(DiscriminatorConfig(img_resolution=32, channel_base=256, channel_max=64, num_fp16_res=2))
    assert [getattr(D, f"b{r}").use_fp16 for r in D.block_resolutions] == [True, True, False]
    assert not D._fp16(torch.device("cpu"))
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    ref = D(x)
    D._fp16 = lambda device: True
    out = D(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, atol=5e-3, rtol=5e-3)
    r1 = StyleGAN2Loss(None, D, r1_gamma=1.0).r1_loss(x, None)
    r1.backward()
    assert torch.isfinite(r1) and all(torch.isfinite(p.grad).all() for p in D.parameters())


def test_freeze_layers_counts_like_nvlabs():
    D = Discriminator(tiny_d_config())
    D.freeze_layers(5)  # b16: fromrgb, conv0, conv1, skip; b8: conv0 (NVlabs' trainable_gen order)
    frozen = {n.rsplit(".", 1)[0] for n, p in D.named_parameters() if not p.requires_grad}
    assert frozen == {"b16.fromrgb", "b16.conv0", "b16.conv1", "b16.skip", "b8.conv0"}


# ------------------------------------------------------------------------------------------------- loading


@pytest.mark.parametrize("c_dim", [0, 4])
def test_load_nvlabs_pickle_strict(tmp_path, c_dim):
    path = tmp_path / "net.pkl"
    dsd = write_nvlabs_pkl_with_d(path, c_dim=c_dim)
    config, sd = load_discriminator(path)
    assert (config.img_resolution, config.c_dim, config.channel_base, config.channel_max) == (16, c_dim, 128, 32)
    assert (config.conv_clamp, config.num_fp16_res, config.architecture, config.mapping_layers) == \
        (256, 4, "resnet", 2)
    D = Discriminator(config)
    D.load_state_dict(sd, strict=True)
    for k, v in dsd.items():
        assert torch.equal(D.state_dict()[k], v), k


def test_load_nvlabs_pickle_without_kwargs_and_with_frozen_layers(tmp_path):
    """Old pickles without constructor kwargs: the architecture comes from the tensors; Freeze-D layers
    (weights stored as buffers) load the same."""
    path = tmp_path / "old.pkl"
    dsd = write_nvlabs_pkl_with_d(path, architecture="skip", kwargs=False, frozen=("b16.fromrgb", "b16.conv0"))
    config, sd = load_discriminator(path)
    assert (config.architecture, config.channel_base, config.channel_max, config.conv_clamp) == ("skip", 128, 32, None)
    Discriminator(config).load_state_dict(sd, strict=True)
    assert torch.equal(sd["b16.conv0.weight"], dsd["b16.conv0.weight"])


def test_load_rosinality_training_checkpoint(tmp_path):
    path = tmp_path / "ros.pt"
    d = write_rosinality_pt_with_d(path)
    config, sd = load_discriminator(path)
    assert (config.img_resolution, config.channel_base, config.channel_max, config.conv_clamp) == (16, 128, 32, None)
    D = Discriminator(config)
    D.load_state_dict(sd, strict=True)
    img = torch.rand(4, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(D(img), rosinality_d_forward(d, img), atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("c_dim, architecture, mapping_layers", [(0, "resnet", 0), (4, "skip", 2), (3, "orig", 0)])
def test_load_tensorflow_pickle(tmp_path, c_dim, architecture, mapping_layers):
    path = tmp_path / "tf.pkl"
    dsd = write_nvlabs_tf_pkl_with_d(path, c_dim=c_dim, architecture=architecture, mapping_layers=mapping_layers)
    config, sd = load_discriminator(path)
    assert (config.channel_base, config.channel_max, config.architecture) == (128, 32, architecture)
    assert config.c_dim == c_dim
    assert (config.mapping_layers, config.mapping_lr_mul, config.conv_clamp) == (mapping_layers, 0.1, None)
    D = Discriminator(config)
    D.load_state_dict(sd, strict=True)
    for k, v in dsd.items():
        assert torch.equal(sd[k], v), k
    c = torch.eye(c_dim)[torch.arange(4) % c_dim] if c_dim else None
    assert D(torch.rand(4, 3, 16, 16) * 2 - 1, c).shape == (4, 1)


def test_files_without_discriminator_give_none(tmp_path):
    config = tiny_config()
    sd = reference_state_dict(config)
    converted = write_rosinality_pt(tmp_path / "conv.pt", config, sd, training=False)
    assert load_discriminator(converted) is None
    bare = tmp_path / "bare.pkl"
    write_nvlabs_pytorch_pkl(bare, config, sd, extra={"D": None})
    assert load_discriminator(bare) is None
    from safetensors.torch import save_file

    native = tmp_path / "net.safetensors"
    save_file({"x": torch.zeros(1)}, str(native))
    assert load_discriminator(native) is None


def test_bad_discriminators_are_one_line_errors(tmp_path):
    config = tiny_config()
    sd = reference_state_dict(config)
    # the G fixtures' placeholder D (one tensor) and rosinality d (two tensors)
    placeholder = write_nvlabs_pytorch_pkl(tmp_path / "p.pkl", config, sd)
    with pytest.raises(CheckpointError, match="fresh discriminator") as err:
        load_discriminator(placeholder)
    assert "\n" not in str(err.value)
    ros = write_rosinality_pt(tmp_path / "r.pt", config, sd, training=True)
    with pytest.raises(CheckpointError, match="fresh discriminator"):
        load_discriminator(ros)
    tf = write_nvlabs_tf_pkl(tmp_path / "tf.pkl", config, sd)  # its placeholder D has only Output/weight
    with pytest.raises(CheckpointError, match="TensorFlow D has no variable"):
        load_discriminator(tf)
    swagan = tmp_path / "swagan.pt"
    write_rosinality_pt_with_d(swagan, arch="swagan")
    with pytest.raises(CheckpointError, match="'swagan'"):
        load_discriminator(swagan)
    # a D with one tensor of the wrong shape
    from tests._train_fixtures import nvlabs_d_tree, d_init_kwargs

    dsd = random_d_state(nvlabs_d_layout(resolution=16, channel_base=128, channel_max=32, mapping_layers=2))
    dsd["b8.conv0.weight"] = torch.zeros(32, 32, 1, 1)
    kw = d_init_kwargs(resolution=16, channel_base=128, channel_max=32)
    write_nvlabs_pytorch_pkl(tmp_path / "w.pkl", config, sd, extra={"D": nvlabs_d_tree(dsd, kw)})
    with pytest.raises(CheckpointError, match="wrong shape b8.conv0.weight"):
        load_discriminator(tmp_path / "w.pkl")


def test_loading_never_runs_embedded_code(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.setenv("MUSICVIDEO_TEST_MARKER", str(marker))
    path = tmp_path / "net.pkl"
    write_nvlabs_pkl_with_d(path)
    load_discriminator(path)
    assert not marker.exists()
    assert b"torch_utils.persistence" in path.read_bytes()  # an NVlabs-style pickle of persistent objects


# ------------------------------------------------------------------------------------------------- loss


class ToyD(torch.nn.Module):
    """logit = sum(a * x^2) + b . x: its input gradient is 2 a x + b, known in closed form."""

    def __init__(self, shape=(3, 8, 8)):
        super().__init__()
        gen = torch.Generator().manual_seed(5)
        self.a = torch.nn.Parameter(torch.randn(shape, generator=gen) * 0.1)
        self.b = torch.nn.Parameter(torch.randn(shape, generator=gen) * 0.1)

    def forward(self, img, c=None):
        return (self.a * img.square() + self.b * img).flatten(1).sum(1, keepdim=True)


def tiny_gd(seed: int = 0):
    from musicvideo.generator.stylegan2 import Generator

    torch.manual_seed(seed)
    G = Generator(tiny_config()).train().requires_grad_(True)
    D = Discriminator(DiscriminatorConfig.for_generator(G.config))
    return G, D


def test_r1_is_the_gradient_norm_penalty():
    from musicvideo.train.loss import StyleGAN2Loss

    D = ToyD()
    loss = StyleGAN2Loss(G=None, D=D, r1_gamma=3.0, r1_interval=16)
    x = torch.randn(5, 3, 8, 8)
    got = loss.r1_loss(x, None)
    grad = 2 * D.a * x + D.b
    want = 16 * 3.0 / 2 * grad.square().sum([1, 2, 3]).mean()
    torch.testing.assert_close(got, want)
    got.backward()  # d/da of 24 * mean sum (2 a x + b)^2 = 24 * mean 2 (2 a x + b) 2 x
    torch.testing.assert_close(D.a.grad, 24 * (4 * (2 * D.a * x + D.b) * x).mean(0).detach(), rtol=1e-4, atol=1e-5)
    assert loss.r1_due(0) and loss.r1_due(32) and not loss.r1_due(5)


def test_nonsaturating_losses_are_the_softplus_formulas():
    from musicvideo.train.loss import StyleGAN2Loss

    G, D = tiny_gd()
    G.eval()  # no w_avg update, so the manual pass sees the same network
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0.0)
    z, x = torch.randn(4, 16), torch.rand(4, 3, 16, 16) * 2 - 1
    torch.manual_seed(7)
    g_loss = loss.generator_loss(z, None)
    torch.manual_seed(7)
    fake = G.synthesis(G.mapping(z, None), noise_mode="random")
    torch.testing.assert_close(g_loss, F.softplus(-D(fake)).mean())
    torch.manual_seed(8)
    d_loss = loss.discriminator_loss(x, None, z, None)
    torch.manual_seed(8)
    fake = G.synthesis(G.mapping(z, None), noise_mode="random")
    real_logits = D(x)
    torch.testing.assert_close(d_loss, F.softplus(D(fake)).mean() + F.softplus(-real_logits).mean())
    assert torch.equal(loss.d_real_signs, real_logits.sign().flatten())
    assert -math.log(torch.sigmoid(torch.tensor(0.3))) == pytest.approx(F.softplus(torch.tensor(-0.3)).item())


def test_style_mixing_switches_latents_at_one_layer():
    from musicvideo.train.loss import StyleGAN2Loss

    G, D = tiny_gd()
    seen = []
    synthesis = G.synthesis.forward
    G.synthesis.forward = lambda ws, **kw: (seen.append(ws.detach()), synthesis(ws, **kw))[1]
    loss = StyleGAN2Loss(G, D, style_mixing_prob=1.0)
    z = torch.randn(3, 16)
    cutoffs = set()
    for _ in range(12):
        loss.generator_loss(z, None)
        ws = seen[-1]
        w1 = G.mapping(z, None)[:, 0]
        same = torch.isclose(ws, w1[:, None]).all(dim=2).all(dim=0)  # per layer: still the first z's w?
        k = int(same.sum())
        assert bool(same[:k].all()) and not bool(same[k:].any()) and 1 <= k < G.num_ws
        assert torch.equal(ws[:, k:], ws[:, -1:].expand_as(ws[:, k:]))  # the rest is one other w
        cutoffs.add(k)
    assert len(cutoffs) > 1
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0.0)
    loss.generator_loss(z, None)
    assert torch.equal(seen[-1], seen[-1][:, :1].expand_as(seen[-1]))


def test_w_avg_is_tracked_in_training_mode_only():
    from musicvideo.train.loss import StyleGAN2Loss

    G, D = tiny_gd()
    G.mapping.w_avg.fill_(0.5)
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0.0)
    z = torch.randn(8, 16)
    with torch.no_grad():
        w = G.mapping(z, None)[:, 0]
    loss.generator_loss(z, None)
    torch.testing.assert_close(G.mapping.w_avg, w.mean(0) + (0.5 - w.mean(0)) * 0.995)
    G.eval()
    before = G.mapping.w_avg.clone()
    loss.generator_loss(z, None)
    assert torch.equal(G.mapping.w_avg, before)


def test_generator_trains_through_the_augment_pipe():
    from musicvideo.train.augment import AugmentPipe
    from musicvideo.train.loss import StyleGAN2Loss, lazy_adam_hparams

    G, D = tiny_gd()
    loss = StyleGAN2Loss(G, D, augment_pipe=AugmentPipe(p=1.0), pl_weight=2.0)
    z = torch.randn(4, 16)
    loss.generator_loss(z, None).backward()
    missing = [n for n, p in G.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []  # noise strengths too: training uses random noise
    G.zero_grad()
    pl = loss.pl_loss(z, None)
    pl.backward()
    assert torch.isfinite(pl) and loss.pl_mean > 0
    assert G.synthesis.b16.conv0.weight.grad.abs().sum() > 0
    r1 = loss.r1_loss(torch.rand(4, 3, 16, 16) * 2 - 1, None)
    r1.backward()
    assert all(p.grad is not None for p in D.parameters())  # every D parameter in the graph (DDP)
    lr, betas = lazy_adam_hparams(0.0025, (0.0, 0.99), 16)
    assert lr == pytest.approx(0.0025 * 16 / 17) and betas == (0.0, pytest.approx(0.99 ** (16 / 17)))


def blob_batch(n: int, gen: torch.Generator) -> torch.Tensor:
    """Red discs of random size and place on a dark blue background, 16 px, in [-1, 1]."""
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    cx, cy = torch.rand(n, 1, 1, generator=gen) * 8 + 4, torch.rand(n, 1, 1, generator=gen) * 8 + 4
    r = torch.rand(n, 1, 1, generator=gen) * 3 + 3
    inside = torch.sigmoid((r - ((xx - cx) ** 2 + (yy - cy) ** 2).sqrt()) * 2)
    red, blue = torch.tensor([0.9, -0.8, -0.6]), torch.tensor([-0.8, -0.7, -0.2])
    return blue.reshape(1, 3, 1, 1) + (red - blue).reshape(1, 3, 1, 1) * inside[:, None]


def test_smoke_50_steps_move_generator_colours_towards_the_data():
    """50 D+G steps at 16 px (lazy R1 included) bring G's mean colour towards the blobs'."""
    from musicvideo.train.loss import StyleGAN2Loss, lazy_adam_hparams

    G, D = tiny_gd(seed=1)
    gen = torch.Generator().manual_seed(0)
    loss = StyleGAN2Loss(G, D, r1_gamma=0.1, style_mixing_prob=0.9)
    opt_g = torch.optim.Adam(G.parameters(), lr=0.0025, betas=(0.0, 0.99))
    lr, betas = lazy_adam_hparams(0.0025, (0.0, 0.99), 16)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    data_mean = blob_batch(256, gen).mean(dim=(0, 2, 3))
    z_eval = torch.randn(64, 16, generator=gen)

    def colour_gap() -> float:
        with torch.no_grad():
            img = G.synthesis(G.mapping(z_eval, None), noise_mode="const")
            return (img.mean(dim=(0, 2, 3)) - data_mean).norm().item()

    before = colour_gap()
    for step in range(50):
        real = blob_batch(8, gen)
        z = torch.randn(8, 16, generator=gen)
        G.requires_grad_(False)
        D.requires_grad_(True)
        opt_d.zero_grad()
        loss.discriminator_loss(real, None, z, None).backward()
        opt_d.step()
        if loss.r1_due(step):
            opt_d.zero_grad()
            loss.r1_loss(real, None).backward()
            opt_d.step()
        G.requires_grad_(True)
        D.requires_grad_(False)
        opt_g.zero_grad()
        loss.generator_loss(torch.randn(8, 16, generator=gen), None).backward()
        opt_g.step()
    after = colour_gap()
    assert after < 0.6 * before, (before, after)
