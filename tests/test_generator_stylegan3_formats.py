"""StyleGAN3 checkpoints end to end: NVlabs pickles (-T, -R, conditional or not) load, convert to the native format
bit-exactly, inspect; bad files are one-line errors (API and CLI); render, select and batch take them as they are.

The pickles are written by tests/_stylegan3_fixtures.py in NVlabs' snapshot layout (filters designed there, not by
musicvideo), so loading them also checks that our config mapping designs the same filters.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from musicvideo.cli import main
from musicvideo.errors import CheckpointError, ConfigError, MusicVideoError
from musicvideo.generator import (StyleGAN3Config, StyleGAN3Generator, build_generator, convert_checkpoint,
                                  inspect_checkpoint, largest_activation_bytes, load_checkpoint, load_generator,
                                  save_native)
from musicvideo.generator.formats import native

from _checkpoint_fixtures import EVIL_SOURCE, MARKER_ENV
from _generator_helpers import tiny_generator
from _stylegan3_fixtures import nvlabs_generator_kwargs, write_stylegan3_snapshot

KINDS = [(False, 0), (False, 3), (True, 0), (True, 3)]  # (radial, c_dim): T, conditional T, R, conditional R
KIND_IDS = ["T", "T-cond", "R", "R-cond"]


def _images(G, seed: int = 0, n: int = 2, transform=None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=gen)
    c = torch.nn.functional.one_hot(torch.arange(n) % G.c_dim, G.c_dim).float() if G.c_dim else None
    with torch.no_grad():
        return G.synthesis(G.mapping(z, c, truncation_psi=0.7), noise_mode="const", transform=transform)


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg and "Traceback" not in msg, msg
    return msg


# ---------------------------------------------------------------------------------------------- loading


@pytest.mark.parametrize("radial,c_dim", KINDS, ids=KIND_IDS)
def test_nvlabs_snapshot_loads_and_round_trips_natively_bit_exact(tmp_path, radial, c_dim):
    path, tree = write_stylegan3_snapshot(tmp_path / "network-snapshot-000100.pkl", radial=radial, c_dim=c_dim)
    loaded = load_checkpoint(path)
    cfg = loaded.config
    assert loaded.family == "stylegan3" and loaded.format == "nvlabs-pytorch"
    assert isinstance(cfg, StyleGAN3Config)
    assert (cfg.z_dim, cfg.c_dim, cfg.w_dim, cfg.img_resolution, cfg.num_layers, cfg.margin_size) == (8, c_dim, 8, 16,
                                                                                                       4, 2)
    assert (cfg.conv_kernel, cfg.use_radial_filters, cfg.channel_max) == ((1, True, 16) if radial else (3, False, 8))
    assert cfg.magnitude_ema_beta == 0.5 ** (32 / 20e3) and cfg.mapping_layers == 2
    # exactly G_ema's tensors (G has other weights), nothing added or dropped
    want = tree.state_dict()
    assert sorted(loaded.state_dict) == sorted(want)
    assert all(torch.equal(loaded.state_dict[k], want[k]) for k in want)

    G = build_generator(loaded)
    assert isinstance(G, StyleGAN3Generator) and G.num_ws == 6 and G.img_resolution == 16
    images = _images(G)
    assert images.shape == (2, 3, 16, 16) and torch.isfinite(images).all()
    assert images.std() > 0.01 and not torch.equal(images[0], images[1])  # structured, seed-dependent
    shift = torch.linalg.inv(torch.tensor([[1.0, 0, 0.25], [0, 1, 0], [0, 0, 1]]))  # a camera move changes it
    assert not torch.allclose(_images(G, transform=shift), images)

    native_path = save_native(G, tmp_path / "g.safetensors")
    G2 = load_generator(native_path)
    assert isinstance(G2, StyleGAN3Generator) and G2.config == cfg
    assert torch.equal(_images(G2), images)  # bit-exact, not merely < 1e-4
    assert torch.equal(_images(G2, transform=shift), _images(G, transform=shift))
    # convert gives the same tensors; a second convert of the native file gives the same bytes
    converted = convert_checkpoint(path, tmp_path / "c.safetensors")
    again = convert_checkpoint(converted, tmp_path / "d.safetensors")
    assert again.read_bytes() == converted.read_bytes()
    assert torch.equal(_images(load_generator(converted)), images)


@pytest.mark.parametrize("radial,settings", [
    (False, dict(filter_size=4, conv_clamp=None, num_fp16_res=0, output_scale=0.5, first_cutoff=3)),
    (True, dict(lrelu_upsampling=1, magnitude_ema_beta=0.9, last_stopband_rel=2**0.5,
                mapping_kwargs=dict(num_layers=3, lr_multiplier=0.02, w_avg_beta=0.99))),
    (False, dict(lrelu_upsampling=4, filter_size=8, conv_kernel=5, margin_size=4)),
], ids=["T-filters-fp32", "R-lrelu1-mapping", "T-lrelu4-k5"])
def test_other_nvlabs_settings_are_read_and_design_the_same_filters(tmp_path, radial, settings):
    path, tree = write_stylegan3_snapshot(tmp_path / "odd.pkl", radial=radial, settings=settings)
    cfg = load_checkpoint(path).config
    for key, value in settings.items():
        if key == "mapping_kwargs":
            assert (cfg.mapping_layers, cfg.mapping_lr_mul) == (value["num_layers"], value["lr_multiplier"])
        else:
            assert getattr(cfg, key) == value, key
    G = load_generator(path)  # the stored filters (designed by the fixture) agree with ours
    images = _images(G)
    assert images.shape == (2, 3, 16, 16) and torch.isfinite(images).all() and images.std() > 0.01


def test_bare_generator_pickle_and_metadata(tmp_path):
    path, _ = write_stylegan3_snapshot(tmp_path / "g.pkl", bare=True)
    assert load_checkpoint(path).family == "stylegan3"
    path, _ = write_stylegan3_snapshot(tmp_path / "snap.pkl", radial=True)
    meta = load_checkpoint(path).metadata
    assert meta["pickle_keys"] == ["D", "G", "G_ema", "augment_pipe", "training_set_kwargs"]
    assert meta["source_class"] == "Generator" and meta["training_set"]["resolution"] == 16


def test_embedded_source_is_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "source_was_executed"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    for radial in (False, True):
        path, _ = write_stylegan3_snapshot(tmp_path / f"{radial}.pkl", radial=radial, c_dim=2)
        assert EVIL_SOURCE.encode() in path.read_bytes()
        load_generator(path)
        inspect_checkpoint(path)
    assert not marker.exists()
    exec(compile(EVIL_SOURCE.split("import torch")[0], "<fixture>", "exec"), {})  # the source would make it
    assert marker.exists()


def test_native_metadata_has_the_family_and_stylegan2_files_do_not(tmp_path):
    path, _ = write_stylegan3_snapshot(tmp_path / "r.pkl", radial=True)
    out = convert_checkpoint(path, tmp_path / "r.safetensors")
    header_len = int.from_bytes(out.read_bytes()[:8], "little")
    meta = json.loads(json.loads(out.read_bytes()[8:8 + header_len])["__metadata__"][native.FORMAT_NAME])
    assert meta["family"] == "stylegan3" and meta["format_version"] == 2
    assert meta["config"]["use_radial_filters"] is True and meta["config"]["num_layers"] == 4
    assert meta["source"] == {"format": "nvlabs-pytorch", "file": "r.pkl"}
    sg2 = json.loads(native.metadata_json(tiny_generator().config))
    assert "family" not in sg2 and sg2["format_version"] == 1


def test_inspect_reports_family_layers_and_parameters(tmp_path, capsys):
    t_path, _ = write_stylegan3_snapshot(tmp_path / "t.pkl", c_dim=3)
    r_path, _ = write_stylegan3_snapshot(tmp_path / "r.pkl", radial=True)
    t, r = inspect_checkpoint(t_path), inspect_checkpoint(r_path)
    assert (t["family"], r["family"]) == ("StyleGAN3-T", "StyleGAN3-R")
    assert (t["resolution"], t["z_dim"], t["w_dim"], t["c_dim"], t["num_ws"], t["layers"]) == ("16x16", 8, 8, 3, 6, 4)
    assert (r["conv_kernel"], r["radial_filters"], t["conv_kernel"], t["radial_filters"]) == (1, True, 3, False)
    G = load_generator(r_path)
    assert r["parameters"] == sum(p.numel() for p in G.parameters())
    assert inspect_checkpoint(tiny_generator_path(tmp_path))["family"] == "StyleGAN2"
    assert main(["inspect", str(r_path)]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.strip().splitlines())
    assert rows["family"].strip() == "StyleGAN3-R" and rows["layers"].strip() == "4"


def tiny_generator_path(tmp_path: Path) -> Path:
    return save_native(tiny_generator(), tmp_path / "sg2.safetensors", overwrite=True)


# ---------------------------------------------------------------------------------------------- bad input


def _drop(key: str):
    def edit(tree):
        module, name = key.rsplit(".", 1)
        node = tree.find(module)
        (node.params if name in node.params else node.buffers).pop(name)
    return edit


def _set(key: str, value):
    def edit(tree):
        module, name = key.rsplit(".", 1)
        node = tree.find(module)
        (node.params if name in node.params else node.buffers)[name] = value
    return edit


def _kwargs(radial: bool = False, drop: str | None = None, **changes):
    kw = nvlabs_generator_kwargs(radial=radial)
    kw.update(changes)
    if drop:
        kw.pop(drop)
    return kw


BAD = {  # name -> (write_stylegan3_snapshot arguments, words the one-line message must contain)
    "missing tensor": (dict(edit=_drop("synthesis.L2_20_8.weight")), ["synthesis.L2_20_8.weight", "missing"]),
    "missing buffer": (dict(edit=_drop("synthesis.input.freqs")), ["synthesis.input.freqs", "missing"]),
    "mis-shaped tensor": (dict(edit=_set("synthesis.L1_20_8.weight", torch.zeros(8, 8, 1, 1))),
                          ["synthesis.L1_20_8.weight", "(8, 8, 1, 1)", "(8, 8, 3, 3)"]),
    "unexpected tensor": (dict(edit=_set("synthesis.L1_20_8.extra", torch.zeros(2))), ["unexpected", "extra"]),
    "integer tensor": (dict(edit=_set("synthesis.L1_20_8.bias", torch.zeros(8, dtype=torch.int64))), ["dtype"]),
    "unknown setting": (dict(kwargs=_kwargs(use_noise=True)), ["unknown StyleGAN3 setting use_noise"]),
    "unknown mapping setting": (dict(kwargs=_kwargs(mapping_kwargs={"num_layers": 2, "embed_features": 8})),
                                ["mapping setting embed_features"]),
    "filter size zero": (dict(kwargs=_kwargs(filter_size=0)), ["filter_size=0", "at least 1"]),
    "fractional filter size": (dict(kwargs=_kwargs(filter_size=6.5)), ["filter_size=6.5", "whole number"]),
    "lrelu_upsampling text": (dict(kwargs=_kwargs(lrelu_upsampling="2")), ["lrelu_upsampling='2'", "a number"]),
    "magnitude_ema_beta": (dict(kwargs=_kwargs(magnitude_ema_beta=1.5)), ["magnitude_ema_beta=1.5", "[0, 1]"]),
    "radial flag text": (dict(kwargs=_kwargs(use_radial_filters="yes")), ["use_radial_filters='yes'"]),
    "no resolution": (dict(kwargs=_kwargs(drop="img_resolution")), ["no img_resolution"]),
    "bad critical count": (dict(kwargs=_kwargs(num_critical=4)), ["num_critical"]),
    # A setting read wrong (here: filter_size 4 instead of the 6 the filters were designed with, the radial flag
    # lost): the stored filters tell, one line instead of garbage images.
    "filters disagree": (dict(kwargs=_kwargs(filter_size=4)), ["filter", "read the architecture wrong"]),
    "radial flag lost": (dict(radial=True, kwargs=_kwargs(radial=True, drop="use_radial_filters")),
                         ["down_filter", "read the architecture wrong"]),
    "tampered filter": (dict(edit=lambda tree: tree.find("synthesis.L1_20_8").buffers["up_filter"].mul_(1.01)),
                        ["synthesis.L1_20_8.up_filter", "differs"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_stylegan3_pickles_are_one_line_errors(tmp_path, case, capsys):
    arguments, words = BAD[case]
    path, _ = write_stylegan3_snapshot(tmp_path / "bad.pkl", **arguments)
    with pytest.raises(CheckpointError) as info:
        load_generator(path)
    msg = _one_line(info.value)
    assert str(path) in msg and all(w in msg for w in words), msg
    # the command line: exit 2, the same one line on stderr, nothing written
    out = tmp_path / "out.safetensors"
    for argv in (["inspect", str(path)], ["convert", str(path), str(out)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and all(w in err for w in words), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pkl"]


def test_a_snapshot_whose_G_ema_is_not_a_generator(tmp_path):
    def swap(tree):
        tree.class_name = "SynthesisNetwork"
    path, _ = write_stylegan3_snapshot(tmp_path / "odd.pkl", edit=swap)
    with pytest.raises(CheckpointError, match="not a StyleGAN3 Generator"):
        load_checkpoint(path)


def test_native_file_with_an_unknown_family_or_field(tmp_path):
    path, _ = write_stylegan3_snapshot(tmp_path / "t.pkl")
    good = convert_checkpoint(path, tmp_path / "t.safetensors")
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(good))
    meta = json.loads(native.metadata_json(load_checkpoint(good).config))
    for change, words in (({"family": "stylegan9"}, "unknown network family 'stylegan9'"),
                          ({"config": {**meta["config"], "wings": 2}}, "unknown config field(s) wings"),
                          ({"format_version": 3}, "newer than this musicvideo")):
        bad = tmp_path / "bad.safetensors"
        save_file(tensors, str(bad), metadata={native.FORMAT_NAME: json.dumps({**meta, **change})})
        with pytest.raises(CheckpointError) as info:
            load_generator(bad)
        assert words in _one_line(info.value)


def test_transforms_in_both_families(tmp_path):
    G = build_generator(load_checkpoint(write_stylegan3_snapshot(tmp_path / "t.pkl")[0]))
    ws = G.mapping(torch.randn(3, 8), truncation_psi=0.7)
    eye = _images_ws(G, ws)
    assert torch.equal(_images_ws(G, ws, torch.eye(3)), eye)
    assert torch.equal(_images_ws(G, ws, torch.eye(3).expand(3, 3, 3)), eye)
    for shape in [(2, 3), (2, 3, 3), (3, 3, 3, 1), (9,)]:
        with pytest.raises(MusicVideoError) as info:
            G.synthesis(ws, transform=torch.zeros(shape))
        msg = _one_line(info.value)
        assert "[3, 3]" in msg and "[B, 3, 3]" in msg and str(list(shape)) in msg
    sg2 = tiny_generator()
    ws2 = sg2.mapping(torch.randn(2, 8))
    assert torch.equal(sg2.synthesis(ws2, transform=None), sg2.synthesis(ws2))
    with pytest.raises(ConfigError) as info:
        sg2.synthesis(ws2, transform=torch.eye(3))
    assert "StyleGAN2" in _one_line(info.value) and "transform" in str(info.value)


def _images_ws(G, ws, transform=None):
    with torch.no_grad():
        return G.synthesis(ws, transform=transform)


def test_largest_activation_bytes_is_the_largest_tensor_a_layer_makes(monkeypatch):
    from musicvideo.generator import stylegan3

    G = StyleGAN3Generator(StyleGAN3Config(z_dim=8, w_dim=8, img_resolution=32, num_layers=4, channel_base=256,
                                           channel_max=16, margin_size=2))
    seen = []
    original = stylegan3._fir

    def recording(x, f, **kw):  # the down-sampling filter's input: the leaky ReLU's intermediate
        seen.append(x.numel() * 4)
        return original(x, f, **kw)

    monkeypatch.setattr(stylegan3, "_fir", recording)
    with torch.no_grad():
        G.synthesis(G.mapping(torch.randn(1, 8)))
    assert largest_activation_bytes(G) == max(seen)
    assert largest_activation_bytes(tiny_generator()) == 4 * 32 * 32 * 4  # StyleGAN2: 4 channels at 32 px
    from musicvideo.render import largest_activation_bytes as render_rule

    assert render_rule(G) == max(seen) and render_rule(object()) is None


# ---------------------------------------------------------------------------------------------- render, select, batch


@pytest.fixture(scope="module")
def sg3_files(tmp_path_factory):
    """A 32-px StyleGAN3-R snapshot pickle, a 2-s song and an analysis cache of their own."""
    from _batch_helpers import write_song

    root = tmp_path_factory.mktemp("sg3_e2e")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSICVIDEO_CACHE_DIR", str(root / "cache"))
        song = write_song(root / "song.wav", seconds=2.0)
        pkl, _ = write_stylegan3_snapshot(root / "sg3.pkl", radial=True, resolution=32)
        yield {"song": song, "pkl": pkl, "root": root}


def test_render_with_a_stylegan3_pickle(sg3_files, tmp_path, capsys):
    from musicvideo.video.probe import probe, read_frames

    out = tmp_path / "video.mp4"
    rc = main(["render", str(sg3_files["song"]), "-c", str(sg3_files["pkl"]), "-o", str(out), "--size", "32",
               "--duration", "1.0", "--fps", "10", "--seed", "3", "--quiet", "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    info = probe(out)
    assert (info.n_frames, info.width, info.height) == (10, 32, 32)
    frames = read_frames(out).astype(np.float32)
    G = load_generator(sg3_files["pkl"])
    assert frames.std() > 3 and np.abs(np.diff(frames, axis=0)).mean() > 0.05  # pictures, and they move
    assert G.img_resolution == 32


def test_select_with_a_stylegan3_pickle(sg3_files, tmp_path):
    code = main(["select", "-c", str(sg3_files["pkl"]), "-o", str(tmp_path / "seeds.json"), "--count", "2",
                 "--candidates", "4", "--thumb-size", "32", "--brightness", "0-1", "--device", "cpu"])
    assert code == 0
    doc = json.loads((tmp_path / "seeds.json").read_text())
    assert doc["seeds"] == [0, 1] and doc["checkpoint"] == str(sg3_files["pkl"])
    assert (tmp_path / "seeds.png").is_file()


@pytest.mark.slow
def test_batch_with_a_stylegan3_pickle(sg3_files, tmp_path):
    from musicvideo.batch import run_batch
    from musicvideo.video import probe

    from _batch_helpers import write_plan

    import shutil

    shutil.copy(sg3_files["song"], tmp_path / "song.wav")
    shutil.copy(sg3_files["pkl"], tmp_path / "sg3.pkl")
    plan = write_plan(tmp_path, """
        song = "song.wav"
        checkpoint = "sg3.pkl"

        [defaults]
        fps = 8
        size = 32
        codec = "prores"

        [[clips]]
        name = "one"
        start = 0.0
        duration = 1.0
        seeds = [1, 2]
    """)
    result = run_batch(plan, tmp_path / "out", workers=1, progress=False)
    assert result.ok and result.rendered == ["one"]
    doc = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert doc["checkpoint"].endswith("sg3.pkl") and doc["clips"][0]["frames"] == 8
    assert probe(tmp_path / "out" / "one.mov").n_frames == 8


def test_native_file_whose_header_length_starts_with_the_pickle_byte(tmp_path):
    # safetensors' first 8 bytes are the header length: 1 file in 256 starts with 0x80, a pickle's first byte
    from safetensors.torch import save as serialize

    G = tiny_generator()
    tensors = {k: v.contiguous() for k, v in G.state_dict().items()}
    for pad in range(0, 264, 4):  # the header grows in steps of 8 bytes
        provenance = {"note": "x" * pad}
        if serialize(tensors, metadata={native.FORMAT_NAME: native.metadata_json(G.config, provenance)})[0] == 0x80:
            break
    else:
        pytest.fail("no padding gave a header length ending in 0x80")
    path = save_native(G, tmp_path / "g.safetensors", provenance=provenance)
    assert path.read_bytes()[0] == 0x80
    assert torch.equal(_images(load_generator(path)), _images(G))


def test_cuda_batch_size_counts_stylegan3_feature_maps(monkeypatch):
    from types import SimpleNamespace

    from musicvideo.generator import GeneratorConfig
    from musicvideo.render import auto_batch_size

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (80 << 30, 80 << 30))
    cuda = torch.device("cuda")
    for res in (256, 512, 1024):  # StyleGAN2 config-f: the pixel rule as before (32, the cap)
        config_f = SimpleNamespace(config=GeneratorConfig(img_resolution=res))  # the rule reads only the config
        assert auto_batch_size(cuda, res, res, image_bytes=largest_activation_bytes(config_f)) == 32
    # StyleGAN3-R at 1024 px (NVlabs' config): 2.8 GB in its largest fp32 feature map, so 2 x 1.4 GB per fp16 image
    r1024 = StyleGAN3Generator(StyleGAN3Config(img_resolution=1024, channel_base=65536, channel_max=1024,
                                               conv_kernel=1, use_radial_filters=True))
    nbytes = largest_activation_bytes(r1024)
    assert 2.8e9 < nbytes < 2.9e9
    assert auto_batch_size(cuda, 1024, 1024) == 32  # the pixel rule alone would try 32
    assert auto_batch_size(cuda, 1024, 1024, image_bytes=nbytes) == 16  # 48 GB / 2.8 GB
    assert auto_batch_size(cuda, 1024, 1024, image_bytes=nbytes, fp16=False) == 8
