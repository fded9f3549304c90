"""Native .safetensors format, the public loading API, state-dict validation and the embedded default."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from musicvideo.errors import CheckpointError, OutputError
from musicvideo.generator import (Generator, build_generator, convert_checkpoint, default_checkpoint_path,
                                  detect_format, inspect_checkpoint, load_checkpoint, load_generator, save_native)
from musicvideo.generator.formats import native
from musicvideo.generator.formats.base import LoadedCheckpoint

from _generator_helpers import tiny_generator

REPO = Path(__file__).resolve().parents[1]


def _images(G: Generator, seed: int = 0, n: int = 2) -> torch.Tensor:
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    c = torch.eye(G.c_dim)[:n] if G.c_dim else None
    return G(z, c, truncation_psi=0.7)


@pytest.mark.parametrize("overrides", [{}, {"c_dim": 4}, {"init_res": (4, 8), "img_resolution": 64},
                                       {"architecture": "resnet", "conv_clamp": None}])
def test_round_trip_is_bit_exact(tmp_path, overrides):
    G = tiny_generator(seed=3, **overrides)
    path = save_native(G, tmp_path / "g.safetensors")
    assert detect_format(path) == "safetensors"
    loaded = load_checkpoint(path)
    assert loaded.format == "native" and loaded.config == G.config
    original = G.state_dict()
    assert set(loaded.state_dict) == set(original)
    for key, value in original.items():
        assert torch.equal(loaded.state_dict[key], value), key
    G2 = build_generator(loaded)
    assert torch.equal(_images(G2), _images(G))
    # Saving the loaded checkpoint again gives the same bytes.
    again = save_native(loaded, tmp_path / "again.safetensors")
    assert again.read_bytes() == path.read_bytes()


def test_metadata_is_one_sorted_json_key(tmp_path):
    path = save_native(tiny_generator(), tmp_path / "g.safetensors", provenance={"format": "test"})
    (header_len,) = struct.unpack("<Q", path.read_bytes()[:8])
    header = json.loads(path.read_bytes()[8:8 + header_len])
    meta = json.loads(header["__metadata__"][native.FORMAT_NAME])
    assert meta["format_version"] == native.STYLEGAN2_VERSION and "family" not in meta  # StyleGAN2 files stay v1
    assert meta["config"]["img_resolution"] == 32 and meta["config"]["init_res"] == [4, 4]
    assert meta["source"] == {"format": "test"}


def test_save_refuses_to_overwrite_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "g.safetensors"
    target.write_bytes(b"keep")
    with pytest.raises(OutputError, match="already exists"):
        save_native(tiny_generator(), target)
    assert target.read_bytes() == b"keep"
    save_native(tiny_generator(), target, overwrite=True)
    assert detect_format(target) == "safetensors"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.safetensors"]


def _write_raw(path: Path, tensors: dict, metadata: dict | None) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def _loaded_with(G: Generator, tmp_path: Path, edit) -> Path:
    state = {k: v.clone() for k, v in G.state_dict().items()}
    edit(state)
    path = tmp_path / "edited.safetensors"
    return _write_raw(path, state, {native.FORMAT_NAME: native.metadata_json(G.config)})


def test_missing_tensor_is_named(tmp_path):
    G = tiny_generator()
    path = _loaded_with(G, tmp_path, lambda s: s.pop("synthesis.b16.conv0.weight"))
    with pytest.raises(CheckpointError, match=r"edited.safetensors: tensor synthesis.b16.conv0.weight missing"):
        load_generator(path)


def test_misshaped_tensor_is_named_with_both_shapes(tmp_path):
    G = tiny_generator()
    path = _loaded_with(G, tmp_path, lambda s: s.__setitem__("synthesis.b8.conv0.weight", torch.zeros(8, 8, 3, 4)))
    with pytest.raises(CheckpointError) as err:
        load_generator(path)
    msg = str(err.value)
    assert "tensor synthesis.b8.conv0.weight has shape (8, 8, 3, 4) but the architecture needs (8, 8, 3, 3)" in msg
    assert "\n" not in msg


def test_unexpected_tensor_is_named(tmp_path):
    G = tiny_generator()
    path = _loaded_with(G, tmp_path, lambda s: s.__setitem__("synthesis.b64.conv0.weight", torch.zeros(1)))
    with pytest.raises(CheckpointError, match="unexpected tensor synthesis.b64.conv0.weight"):
        inspect_checkpoint(path)


def test_safetensors_without_our_metadata(tmp_path):
    path = _write_raw(tmp_path / "other.safetensors", {"x": torch.zeros(3)}, {"format": "pt"})
    with pytest.raises(CheckpointError, match="not a musicvideo generator"):
        load_checkpoint(path)


def test_bad_metadata_json_and_unknown_config_field(tmp_path):
    path = _write_raw(tmp_path / "a.safetensors", {"x": torch.zeros(3)}, {native.FORMAT_NAME: "{nope"})
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(path)
    meta = json.loads(native.metadata_json(tiny_generator().config))
    meta["config"]["wings"] = 2
    path = _write_raw(tmp_path / "b.safetensors", {"x": torch.zeros(3)}, {native.FORMAT_NAME: json.dumps(meta)})
    with pytest.raises(CheckpointError, match="unknown config field.*wings"):
        load_checkpoint(path)
    meta["config"].pop("wings")
    meta["config"]["img_resolution"] = 48
    path = _write_raw(tmp_path / "c.safetensors", {"x": torch.zeros(3)}, {native.FORMAT_NAME: json.dumps(meta)})
    with pytest.raises(CheckpointError, match="invalid config"):
        load_checkpoint(path)


def test_truncated_and_corrupt_safetensors(tmp_path):
    good = save_native(tiny_generator(), tmp_path / "g.safetensors").read_bytes()
    (header_len,) = struct.unpack("<Q", good[:8])
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good[: 8 + header_len + 100])  # header intact, tensor data cut short
    with pytest.raises(CheckpointError, match="cut.safetensors: corrupt or truncated"):
        load_checkpoint(cut)
    head_only = tmp_path / "head.safetensors"
    head_only.write_bytes(good[:200])
    with pytest.raises(CheckpointError, match="truncated safetensors"):
        load_checkpoint(head_only)


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100), "is a JPEG image"),
    (b"just some text\n", "is a text file"),
    (b"\x01\x02\x03\x04\x05\x06\x07\x08\x09", "unknown binary"),
])
def test_content_detection_ignores_the_name(tmp_path, content, message):
    path = tmp_path / "network.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_generator(tmp_path / "nope.pkl")
    with pytest.raises(CheckpointError, match="directory"):
        load_generator(tmp_path)


def test_pickle_and_zip_go_to_the_pickle_loader(tmp_path, monkeypatch):
    import musicvideo.generator.formats.pickled as pickled

    seen = []

    def fake(path):
        seen.append(Path(path).name)
        G = tiny_generator()
        return LoadedCheckpoint(config=G.config, state_dict=G.state_dict(), format="nvlabs-pytorch", path=Path(path))

    monkeypatch.setattr(pickled, "load_pickled", fake)
    (tmp_path / "a.bin").write_bytes(b"\x80\x04garbage")
    (tmp_path / "b.bin").write_bytes(b"PK\x03\x04garbage")
    assert load_checkpoint(tmp_path / "a.bin").format == "nvlabs-pytorch"
    assert load_checkpoint(tmp_path / "b.bin").format == "nvlabs-pytorch"
    assert seen == ["a.bin", "b.bin"]


def test_convert_checks_output_before_loading_and_writes_nothing_on_error(tmp_path):
    src = save_native(tiny_generator(), tmp_path / "src.safetensors")
    with pytest.raises(OutputError, match=r"\.safetensors"):
        convert_checkpoint(src, tmp_path / "out.pkl")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\xff\xd8\xff\xe0 jpeg")
    with pytest.raises(CheckpointError):
        convert_checkpoint(bad, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()
    out = convert_checkpoint(src, tmp_path / "out.safetensors")
    assert out.read_bytes() == src.read_bytes()


def test_inspect_fields():
    info = inspect_checkpoint(default_checkpoint_path())
    json.dumps(info)
    assert info["format"] == "native" and info["resolution"] == "256x256"
    assert (info["z_dim"], info["w_dim"], info["c_dim"], info["num_ws"], info["mapping_layers"]) == (64, 64, 0, 14, 4)
    assert info["parameters"] > 100_000 and info["file_size_bytes"] == default_checkpoint_path().stat().st_size
    assert info["source"]["format"] == "procedural"


# ------------------------------------------------------------------ the embedded default


def test_default_checkpoint_loads_small_and_256px():
    path = default_checkpoint_path()
    assert path == REPO / "checkpoints" / "default.safetensors"
    assert path.stat().st_size < 10 * 2**20
    G = load_generator()
    assert (G.img_height, G.img_width, G.z_dim) == (256, 256, 64)


def _saturation(images: torch.Tensor) -> np.ndarray:
    rgb = ((images.clamp(-1, 1) + 1) / 2).numpy()
    mx, mn = rgb.max(axis=1), rgb.min(axis=1)
    return ((mx - mn) / np.maximum(mx, 1e-6)).mean(axis=(1, 2))


def test_default_images_are_colourful_structured_smooth_and_seed_dependent():
    G = load_generator()
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ws = G.mapping(z)
        images = G.synthesis(ws)
        # colourful: mean HSV saturation well above grey
        assert _saturation(images).mean() > 0.35
        # structured: clear contrast inside each image, not a flat colour
        assert images.std(dim=(2, 3)).mean() > 0.15
        # different seeds differ clearly
        diffs = [(images[i] - images[j]).abs().mean().item() for i in range(3) for j in range(i + 1, 3)]
        assert min(diffs) > 0.1
        # smooth in w: the change shrinks in proportion to the step (no jumps), and a 1 % step is small
        change = {eps: (G.synthesis(ws[:1] + eps * (ws[1:2] - ws[:1])) - images[:1]).abs().mean().item()
                  for eps in (0.01, 0.001)}
        assert 0.05 < change[0.001] / change[0.01] < 0.2
        assert change[0.01] < 0.2 * min(diffs)


@pytest.mark.slow
def test_default_checkpoint_regenerates_bit_for_bit(tmp_path):
    out = tmp_path / "default.safetensors"
    subprocess.run([sys.executable, str(REPO / "checkpoints" / "make_default.py"), "-o", str(out)], check=True,
                   capture_output=True, timeout=120)
    assert out.read_bytes() == default_checkpoint_path().read_bytes()
