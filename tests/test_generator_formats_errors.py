"""Bad checkpoint files give one-line CheckpointErrors naming the file and the problem."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from _checkpoint_fixtures import (
    _fake_nvlabs_modules,
    nvlabs_module_tree,
    reference_state_dict,
    tiny_config,
    write_nvlabs_pytorch_pkl,
    write_nvlabs_tf_pkl,
    write_rosinality_pt,
)
from musicvideo.errors import CheckpointError, UnsafePickleError
from musicvideo.generator.formats import load_checkpoint
from musicvideo.generator.formats.pickled import load_pickled

JPEG_HEAD = bytes.fromhex("ffd8ffe000104a46494600010101004800480000") + b"\x00" * 200


@pytest.fixture(scope="module")
def weights():
    config = tiny_config()
    return config, reference_state_dict(config, seed=11)


def _error(path, loader=load_pickled) -> str:
    with pytest.raises(CheckpointError) as info:
        loader(path)
    assert not isinstance(info.value, UnsafePickleError)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


@pytest.mark.parametrize("loader", [load_pickled, load_checkpoint])
def test_missing_and_empty_files(tmp_path, loader):
    assert "not found" in _error(tmp_path / "nope.pkl", loader)
    (tmp_path / "empty.pkl").write_bytes(b"")
    assert "empty" in _error(tmp_path / "empty.pkl", loader)


@pytest.mark.parametrize("loader", [load_pickled, load_checkpoint])
def test_jpeg_renamed_pkl(tmp_path, loader):
    path = tmp_path / "photo.pkl"
    path.write_bytes(JPEG_HEAD)
    assert "JPEG" in _error(path, loader)


@pytest.mark.parametrize("fraction", [0.5, 0.97])
def test_truncated_nvlabs_pickle(tmp_path, weights, fraction):
    config, sd = weights
    full = write_nvlabs_pytorch_pkl(tmp_path / "full.pkl", config, sd).read_bytes()
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(full[: int(len(full) * fraction)])
    assert "truncated or corrupt" in _error(cut, load_checkpoint)


def test_truncated_tf_pickle(tmp_path, weights):
    config, sd = weights
    full = write_nvlabs_tf_pkl(tmp_path / "full.pkl", config, sd).read_bytes()
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(full[: len(full) // 3])
    assert "truncated or corrupt" in _error(cut)


@pytest.mark.parametrize("zip_format", [True, False])
@pytest.mark.parametrize("keep", [0.01, 0.1, 0.5, 0.999])
def test_truncated_torch_file(tmp_path, weights, zip_format, keep):
    config, sd = weights
    full = write_rosinality_pt(tmp_path / "full.pt", config, sd, zip_format=zip_format).read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(full[: max(int(len(full) * keep), 8)])
    assert "truncated or corrupt" in _error(cut, load_checkpoint)


def test_garbage_after_pickle_header(tmp_path):
    path = tmp_path / "noise.pkl"
    path.write_bytes(b"\x80\x04" + np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError) as info:  # corrupt, or a refused global if the noise names one
        load_pickled(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("obj, words", [
    ([1, 2, 3], "a pickle of a list of 3 items"),
    ({"G": 1, "D": 2}, "a dict with keys ['G', 'D']"),
    ({"state_dict": {"w": np.zeros(3)}}, "not a StyleGAN2/StyleGAN3 network"),
    ("hello", "a pickle of a str"),
])
def test_pickle_of_something_else(tmp_path, obj, words):
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps(obj))
    assert words in _error(path, load_checkpoint)


def test_g_ema_that_is_not_a_network(tmp_path):
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps({"G_ema": {"w": 1}}))
    assert "not a pickled NVlabs network" in _error(path)


def test_torch_zip_of_something_else(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, path)
    assert "not a StyleGAN2/StyleGAN3 network" in _error(path, load_checkpoint)


def test_rosinality_missing_tensor(tmp_path, weights):
    config, sd = weights
    path = tmp_path / "r.pt"
    write_rosinality_pt(path, config, sd, training=False)
    data = torch.load(path, weights_only=True)
    del data["g_ema"]["convs.1.conv.modulation.weight"]
    torch.save(data, path)
    msg = _error(path)
    assert "convs.1.conv.modulation.weight" in msg and "missing" in msg


def _load_generator(path):
    from musicvideo.generator import load_generator

    return load_generator(path, device="cpu")


def test_rosinality_misshaped_tensor(tmp_path, weights):
    """Shapes are checked against the architecture when the network is built from the converted tensors."""
    config, sd = weights
    path = tmp_path / "r.pt"
    write_rosinality_pt(path, config, sd, training=False)
    data = torch.load(path, weights_only=True)
    data["g_ema"]["convs.1.conv.weight"] = torch.zeros(1, 16, 15, 3, 3)
    torch.save(data, path)
    msg = _error(path, _load_generator)
    assert "synthesis.b8.conv1.weight" in msg


def test_rosinality_wrong_rank_tensor(tmp_path, weights):
    config, sd = weights
    path = tmp_path / "r.pt"
    write_rosinality_pt(path, config, sd, training=False)
    data = torch.load(path, weights_only=True)
    data["g_ema"]["convs.1.conv.weight"] = torch.zeros(16, 16, 3, 3)
    torch.save(data, path)
    msg = _error(path)
    assert "convs.1.conv.weight" in msg and "[16, 16, 3, 3]" in msg


def test_rosinality_damaged_latent_avg(tmp_path, weights):
    config, sd = weights
    path = tmp_path / "r.pt"
    write_rosinality_pt(path, config, sd, training=False)
    data = torch.load(path, weights_only=True)
    data["latent_avg"] = torch.zeros(5)
    torch.save(data, path)
    assert "latent_avg" in _error(path)


def test_nvlabs_missing_and_misshaped_tensors(tmp_path, weights):
    config, sd = weights
    missing = {k: v for k, v in sd.items() if k != "synthesis.b8.conv0.affine.bias"}
    path = write_nvlabs_pytorch_pkl(tmp_path / "m.pkl", config, missing)
    msg = _error(path, _load_generator)
    assert "synthesis.b8.conv0.affine.bias" in msg and "missing" in msg
    bad = dict(sd)
    bad["synthesis.b16.torgb.weight"] = torch.zeros(3, 7, 1, 1)
    path = write_nvlabs_pytorch_pkl(tmp_path / "s.pkl", config, bad)
    msg = _error(path, _load_generator)
    assert "synthesis.b16.torgb.weight" in msg


def test_nvlabs_non_generator_g_ema(tmp_path, weights):
    config, sd = weights
    tree = nvlabs_module_tree(config, sd)
    tree.class_name = "Discriminator"
    path = tmp_path / "d.pkl"
    with _fake_nvlabs_modules():
        path.write_bytes(pickle.dumps({"G_ema": tree}))
    assert "not a StyleGAN2 Generator" in _error(path)


def test_tf_missing_variable(tmp_path, weights):
    import _checkpoint_fixtures as fx

    config, sd = weights
    original = fx.tf_variables

    def without(config, sd):
        v = original(config, sd)
        del v["synthesis"]["8x8/Conv1/mod_weight"]
        return v

    fx.tf_variables = without
    try:
        path = write_nvlabs_tf_pkl(tmp_path / "tf.pkl", config, sd)
    finally:
        fx.tf_variables = original
    msg = _error(path)
    assert "synthesis/8x8/Conv1/mod_weight" in msg and "missing" in msg


def test_tf_pickle_too_old(tmp_path, weights):
    config, sd = weights
    path = write_nvlabs_tf_pkl(tmp_path / "old.pkl", config, sd, version=3)
    assert "older than StyleGAN2" in _error(path)


def test_nothing_is_written_next_to_a_bad_checkpoint(tmp_path, weights):
    config, sd = weights
    path = tmp_path / "photo.pkl"
    path.write_bytes(JPEG_HEAD)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert sorted(tmp_path.iterdir()) == before


def test_rosinality_misshaped_mapping_without_latent_avg(tmp_path, weights):
    """The average-w computation meets the bad tensor first: still a one-line CheckpointError."""
    config, sd = weights
    path = tmp_path / "r.pt"
    write_rosinality_pt(path, config, sd, training=True, with_latent_avg=False)
    data = torch.load(path, weights_only=False)
    data["g_ema"]["style.2.weight"] = torch.zeros(16, 9)
    torch.save(data, path)
    msg = _error(path)
    assert "average w" in msg and "fc1.weight" in msg
