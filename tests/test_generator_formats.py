"""Every pickle-based checkpoint format loads to the same network: NVlabs PyTorch, NVlabs TF, rosinality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _checkpoint_fixtures import (
    reference_state_dict,
    rosinality_state_dict,
    tiny_config,
    write_nvlabs_pytorch_pkl,
    write_nvlabs_tf_pkl,
    write_rosinality_pt,
    write_stylegan1_tf_pkl,
    write_stylegan3_pkl,
)
from musicvideo.errors import CheckpointError
from musicvideo.generator import build_generator
from musicvideo.generator.formats import load_checkpoint
from musicvideo.generator.formats.pickled import load_pickled
from musicvideo.generator.stylegan2 import Generator

WRITERS = {
    "nvlabs-pytorch-proto3": lambda p, c, sd: write_nvlabs_pytorch_pkl(p / "network-snapshot-000100.pkl", c, sd),
    "nvlabs-pytorch-stylegan3-repo": lambda p, c, sd: write_nvlabs_pytorch_pkl(
        p / "sg3repo.pkl", c, sd, protocol=4, flat_synthesis_kwargs=True),
    "nvlabs-tf-v4": lambda p, c, sd: write_nvlabs_tf_pkl(p / "stylegan2-tiny-config-f.pkl", c, sd),
    "nvlabs-tf-ada-v5": lambda p, c, sd: write_nvlabs_tf_pkl(p / "ada-tf.pkl", c, sd, version=5),
    "rosinality-training-zip": lambda p, c, sd: write_rosinality_pt(p / "050000.pt", c, sd, with_latent_avg=True),
    "rosinality-converted-zip": lambda p, c, sd: write_rosinality_pt(p / "conv.pt", c, sd, training=False),
    "rosinality-converted-legacy": lambda p, c, sd: write_rosinality_pt(
        p / "legacy.pt", c, sd, training=False, zip_format=False),
}

def _format_of(writer: str) -> str:
    return next(f for f in ("nvlabs-pytorch", "nvlabs-tf", "rosinality") if writer.startswith(f))


@pytest.fixture(scope="module")
def reference():
    config = tiny_config()
    sd = reference_state_dict(config, seed=3)
    G = Generator(config)
    G.load_state_dict(sd)
    return config, sd, G


def _images(G: Generator, seed: int = 7, c: torch.Tensor | None = None, psi: float = 0.7) -> torch.Tensor:
    z = torch.randn([4, G.z_dim], generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ws = G.mapping(z, c, truncation_psi=psi)
        return G.synthesis(ws, noise_mode="const")


def _build(loaded) -> Generator:
    G = Generator(loaded.config)
    G.load_state_dict(loaded.state_dict, strict=True)
    return G


def test_reference_layout_matches_our_generator(reference):
    """The fixtures' NVlabs key list (written from networks.py) is exactly the Generator's state dict."""
    config, sd, G = reference
    expected = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_each_format_loads_exact_weights_and_config(tmp_path, reference, writer):
    config, sd, _ = reference
    path = WRITERS[writer](tmp_path, config, sd)
    loaded = load_pickled(path)
    assert loaded.format == _format_of(writer)
    assert loaded.path == path
    assert loaded.config == config
    assert set(loaded.state_dict) == set(sd)
    for k, v in sd.items():
        assert loaded.state_dict[k].dtype == torch.float32, k
        assert torch.equal(loaded.state_dict[k], v), k


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_same_weights_give_same_images_in_every_format(tmp_path, reference, writer):
    config, sd, G_ref = reference
    loaded = load_checkpoint(WRITERS[writer](tmp_path, config, sd))
    G = _build(loaded)
    for psi in (1.0, 0.7):
        diff = (_images(G, psi=psi) - _images(G_ref, psi=psi)).abs().max().item()
        assert diff < 1e-4


def test_format_is_recognised_by_content_not_name(tmp_path, reference):
    config, sd, _ = reference
    nv = write_nvlabs_pytorch_pkl(tmp_path / "really_nvlabs.pt", config, sd)
    ros = write_rosinality_pt(tmp_path / "really_rosinality.pkl", config, sd, training=False)
    tf = write_nvlabs_tf_pkl(tmp_path / "really_tf.bin", config, sd)
    assert load_checkpoint(nv).format == "nvlabs-pytorch"
    assert load_checkpoint(ros).format == "rosinality"
    assert load_checkpoint(tf).format == "nvlabs-tf"


def test_nvlabs_takes_g_ema_not_g_and_reads_training_settings(tmp_path):
    config = tiny_config(conv_clamp=256, num_fp16_res=2)
    sd = reference_state_dict(config, seed=1)
    loaded = load_pickled(write_nvlabs_pytorch_pkl(tmp_path / "snap.pkl", config, sd))
    assert loaded.config.conv_clamp == 256 and loaded.config.num_fp16_res == 2
    assert torch.equal(loaded.state_dict["synthesis.b16.conv1.weight"], sd["synthesis.b16.conv1.weight"])
    assert loaded.metadata["source_class"] == "Generator"
    assert "G" in loaded.metadata["pickle_keys"] and loaded.metadata["training_set"]["resolution"] == 16


@pytest.mark.parametrize("kind", ["nvlabs-pytorch", "nvlabs-tf"])
def test_conditional_models_honour_c(tmp_path, kind):
    config = tiny_config(c_dim=4)
    sd = reference_state_dict(config, seed=5)
    G_ref = Generator(config)
    G_ref.load_state_dict(sd)
    writer = write_nvlabs_pytorch_pkl if kind == "nvlabs-pytorch" else write_nvlabs_tf_pkl
    loaded = load_pickled(writer(tmp_path / "cond.pkl", config, sd))
    assert loaded.config.c_dim == 4
    G = _build(loaded)
    c0, c1 = torch.eye(4)[[0] * 4], torch.eye(4)[[2] * 4]
    assert (_images(G, c=c0) - _images(G_ref, c=c0)).abs().max() < 1e-4
    assert (_images(G, c=c0) - _images(G, c=c1)).abs().max() > 1e-2


def test_truncation_psi_zero_gives_one_image_for_every_z(tmp_path, reference):
    config, sd, _ = reference
    G = _build(load_pickled(write_rosinality_pt(tmp_path / "r.pt", config, sd, training=False)))
    imgs = torch.cat([_images(G, seed=s, psi=0.0) for s in (1, 2)])
    assert (imgs - imgs[:1]).abs().max() < 1e-5


def test_rosinality_without_latent_avg_computes_w_avg_reproducibly(tmp_path, reference):
    config, sd, G_ref = reference
    path = write_rosinality_pt(tmp_path / "train.pt", config, sd, training=True, with_latent_avg=False)
    first, second = load_pickled(path), load_pickled(path)
    w_avg = first.state_dict["mapping.w_avg"]
    assert torch.equal(w_avg, second.state_dict["mapping.w_avg"])
    assert "computed" in first.metadata["w_avg"]
    # Independent estimate: the mean of w over other z samples agrees to sampling error.
    z = torch.randn([20000, config.z_dim], generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        w = G_ref.mapping(z, None)[:, 0]
    tol = 5 * w.std(0) / np.sqrt(10000) + 1e-6
    assert ((w_avg - w.mean(0)).abs() <= tol).all()
    # Everything else is the reference weights.
    for k, v in sd.items():
        if k != "mapping.w_avg":
            assert torch.equal(first.state_dict[k], v), k


def test_rosinality_metadata_and_inferred_architecture(tmp_path, reference):
    config, sd, _ = reference
    loaded = load_pickled(write_rosinality_pt(tmp_path / "t.pt", config, sd, with_latent_avg=True))
    assert loaded.metadata["rosinality_layout"] == "training"
    assert loaded.metadata["args"]["size"] == 16 and loaded.metadata["args"]["n_mlp"] == 2
    assert loaded.metadata["channels"] == {4: 32, 8: 16, 16: 8}
    assert (loaded.config.mapping_layers, loaded.config.z_dim, loaded.config.w_dim) == (2, 16, 16)


def test_rosinality_keys_follow_model_py(reference):
    """Spot-check the fixture against rosinality's documented names and shapes."""
    config, sd, _ = reference
    ros = rosinality_state_dict(config, sd)
    assert ros["input.input"].shape == (1, 32, 4, 4)
    assert ros["conv1.conv.weight"].shape == (1, 32, 32, 3, 3)
    assert ros["convs.0.conv.weight"].shape == (1, 16, 32, 3, 3)
    assert ros["convs.0.conv.modulation.weight"].shape == (32, 16)
    assert ros["conv1.noise.weight"].shape == (1,)
    assert ros["to_rgbs.0.bias"].shape == (1, 3, 1, 1)
    assert ros["noises.noise_4"].shape == (1, 1, 16, 16)
    assert "style.0.weight" not in ros and "style.2.weight" in ros


def test_tf_variables_follow_legacy_layout(tmp_path, reference):
    """TF kernels are [kh, kw, in, out]; Conv0_up is flipped; mod_bias is stored minus 1; channel_base = 2 fmap_base."""
    from _checkpoint_fixtures import tf_variables

    config, sd, _ = reference
    v = tf_variables(config, sd)["synthesis"]
    w = sd["synthesis.b8.conv0.weight"]  # [out, in, 3, 3]
    assert v["8x8/Conv0_up/weight"].shape == (3, 3, 32, 16)
    assert np.allclose(v["8x8/Conv0_up/weight"][0, 0], w[:, :, 2, 2].numpy().T)
    assert np.allclose(v["4x4/Conv/mod_bias"] + 1, sd["synthesis.b4.conv1.affine.bias"].numpy())
    loaded = load_pickled(write_nvlabs_tf_pkl(tmp_path / "tf.pkl", config, sd))
    assert loaded.config.channel_base == 128 and loaded.metadata["tf_pickle_version"] == 4


def test_incomplete_stylegan3_pickle_is_a_one_line_error(tmp_path):
    # StyleGAN3 pickles load (tests/test_generator_stylegan3_formats.py); this stub lacks most tensors and settings
    path = write_stylegan3_pkl(tmp_path / "stylegan3-r-ffhq.pkl")
    assert load_checkpoint(path).family == "stylegan3"
    with pytest.raises(CheckpointError) as info:
        build_generator(load_checkpoint(path))
    msg = str(info.value)
    assert "StyleGAN3-T" in msg and "missing" in msg and str(path) in msg
    assert "\n" not in msg


def test_stylegan1_is_refused_with_a_clear_message(tmp_path):
    path = write_stylegan1_tf_pkl(tmp_path / "karras2019stylegan-ffhq-1024x1024.pkl")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert "StyleGAN1" in msg and "supports StyleGAN2" in msg and str(path) in msg
    assert "\n" not in msg


def test_embedded_source_is_never_executed(tmp_path, reference, monkeypatch):
    marker = tmp_path / "source_was_executed"
    monkeypatch.setenv("MUSICVIDEO_TEST_MARKER", str(marker))
    config, sd, _ = reference
    load_pickled(write_nvlabs_pytorch_pkl(tmp_path / "a.pkl", config, sd))
    load_pickled(write_nvlabs_tf_pkl(tmp_path / "b.pkl", config, sd))
    load_pickled(write_stylegan3_pkl(tmp_path / "c.pkl"))
    assert not marker.exists()
    # The fixture source really would create it if executed (so the check above means something).
    from _checkpoint_fixtures import EVIL_SOURCE

    exec(compile(EVIL_SOURCE.split("import torch")[0], "<fixture>", "exec"), {})
    assert marker.exists()


def test_load_generator_end_to_end_if_available(tmp_path, reference):
    """The other helper's load_generator builds a working network from each of our formats."""
    gen_mod = pytest.importorskip("musicvideo.generator")
    load_generator = getattr(gen_mod, "load_generator", None)
    if load_generator is None:
        pytest.skip("load_generator not available yet")
    config, sd, G_ref = reference
    for name in ("nvlabs-tf-v4", "rosinality-converted-zip", "nvlabs-pytorch-proto3"):
        G = load_generator(WRITERS[name](tmp_path, config, sd), device="cpu")
        assert (_images(G) - _images(G_ref)).abs().max() < 1e-4, name



def test_pickles_written_with_numpy_1_names_load(tmp_path, reference):
    """Real TF / NVlabs pickles come from numpy 1.x, which names ``numpy.core.multiarray`` (not ``numpy._core``)."""
    config, sd, _ = reference
    for writer in ("nvlabs-tf-v4", "nvlabs-pytorch-proto3"):
        path = WRITERS[writer](tmp_path, config, sd)
        blob = path.read_bytes()
        assert b"numpy._core.multiarray\n" in blob  # protocol 3: GLOBAL opcodes hold the names as text lines
        path.write_bytes(blob.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
        loaded = load_pickled(path)
        assert torch.equal(loaded.state_dict["synthesis.b8.conv0.weight"], sd["synthesis.b8.conv0.weight"])


def test_rosinality_channel_tables_map_to_channel_base():
    """rosinality's table {4..32: 512, 64: 256*m, 128: 128*m, ...} is min(16384*m / r, 512)."""
    from musicvideo.generator.formats.rosinality import infer_channel_layout

    for mult in (1, 2):
        table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * mult, 128: 128 * mult, 256: 64 * mult,
                 512: 32 * mult, 1024: 16 * mult}
        base, cmax = infer_channel_layout(table, path="x.pt")
        assert (base, cmax) == (16384 * mult, 512)
    with pytest.raises(CheckpointError, match="do not follow"):
        infer_channel_layout({4: 32, 8: 8, 16: 16}, path="x.pt")


def test_inspect_and_convert_to_native_keep_the_images(tmp_path, reference):
    gen = pytest.importorskip("musicvideo.generator")
    if not all(hasattr(gen, n) for n in ("inspect_checkpoint", "convert_checkpoint", "load_generator")):
        pytest.skip("inspect/convert not available yet")
    config, sd, G_ref = reference
    for writer in ("nvlabs-pytorch-proto3", "nvlabs-tf-v4", "rosinality-training-zip"):
        src = WRITERS[writer](tmp_path, config, sd)
        info = gen.inspect_checkpoint(src)
        assert info["format"] == _format_of(writer)
        assert (info["z_dim"], info["w_dim"], info["c_dim"], info["mapping_layers"]) == (16, 16, 0, 2)
        assert info["resolution"] == "16x16" and info["num_ws"] == 6
        dst = gen.convert_checkpoint(src, tmp_path / f"{writer}.safetensors")
        G = gen.load_generator(dst, device="cpu")
        assert (_images(G) - _images(G_ref)).abs().max() < 1e-4, writer


def test_tf_channel_layout_comes_from_the_tensors_when_kwargs_are_implicit(tmp_path, reference):
    """A Gs whose static_kwargs omit fmap_base (the build function's default applied) still gets the right channels."""
    config, sd, G_ref = reference
    path = write_nvlabs_tf_pkl(tmp_path / "implicit.pkl", config, sd, extra_kwargs={"fmap_base": None})
    loaded = load_pickled(path)
    assert [loaded.config.channels(r) for r in (4, 8, 16)] == [32, 16, 8]
    assert (_images(_build(loaded)) - _images(G_ref)).abs().max() < 1e-4


@pytest.mark.parametrize("architecture", ["orig", "resnet"])
def test_tf_orig_and_resnet_architectures(tmp_path, architecture):
    """Configs A-E of the TF code: a single toRGB (orig) or 1x1 up-sampling shortcuts (resnet, Skip kernels)."""
    import dataclasses

    config = dataclasses.replace(tiny_config(), architecture=architecture)
    sd = reference_state_dict(config, seed=9)
    G_ref = Generator(config)
    G_ref.load_state_dict(sd)
    loaded = load_pickled(write_nvlabs_tf_pkl(tmp_path / f"{architecture}.pkl", config, sd))
    assert loaded.config.architecture == architecture
    assert (_images(_build(loaded)) - _images(G_ref)).abs().max() < 1e-4
    for inferred in (False, True):  # architecture in synthesis_kwargs, or left to the tensors
        nv = load_pickled(write_nvlabs_pytorch_pkl(tmp_path / f"{architecture}-pt.pkl", config, sd,
                                                   architecture_kwarg=not inferred))
        assert nv.config.architecture == architecture
        assert (_images(_build(nv)) - _images(G_ref)).abs().max() < 1e-4


def test_rosinality_saved_from_dataparallel(tmp_path, reference):
    config, sd, _ = reference
    path = write_rosinality_pt(tmp_path / "dp.pt", config, sd, training=False)
    data = torch.load(path, weights_only=True)
    data["g_ema"] = {f"module.{k}": v for k, v in data["g_ema"].items()}
    torch.save(data, path)
    assert torch.equal(load_pickled(path).state_dict["synthesis.b8.conv0.weight"], sd["synthesis.b8.conv0.weight"])
