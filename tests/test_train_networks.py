"""The training networks: the discriminator (NVlabs layout, checkpoint loading) and the StyleGAN2 loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from musicvideo.errors import CheckpointError, MusicVideoWarning
from musicvideo.generator.stylegan2 import GeneratorConfig
from musicvideo.train.discriminator import Discriminator, DiscriminatorConfig, MinibatchStdLayer, load_discriminator
from tests._checkpoint_fixtures import (reference_state_dict, tiny_config, write_nvlabs_pytorch_pkl,
                                        write_nvlabs_tf_pkl, write_rosinality_pt)
from tests._train_fixtures import (nvlabs_d_layout, random_d_state, rosinality_d_forward, write_nvlabs_pkl_with_d,
                                   write_rosinality_pt_with_d)


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
    tf = write_nvlabs_tf_pkl(tmp_path / "tf.pkl", config, sd)
    with pytest.warns(MusicVideoWarning, match="TensorFlow"):
        assert load_discriminator(tf) is None


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
