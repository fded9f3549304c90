"""`musicvideo train`: the loop learns the data's colours, an interrupted and resumed run equals an uninterrupted
one bit for bit, --from every checkpoint format starts from its weights, the snapshot renders, and the bad inputs
(resume without a run, a resolution mismatch, a full disk mid-snapshot) are one line and keep the last snapshot.

All on the CPU with 16 px networks and synthesized shapes."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from musicvideo.cli import main
from musicvideo.errors import MusicVideoError
from musicvideo.train.loop import TrainConfig, train

from _checkpoint_fixtures import (reference_state_dict, tiny_config, write_nvlabs_pytorch_pkl, write_nvlabs_tf_pkl,
                                  write_rosinality_pt)

#: A network small enough for hundreds of CPU steps in seconds (z = w = 16, 32 channels at most).
TINY = dict(z_dim=16, w_dim=16, map_layers=2, cbase=128, cmax=32, workers=0, quality_images=16)


def shapes_zip(path: Path, *, n: int = 48, size: int = 16, seed: int = 0) -> Path:
    """NVlabs' dataset layout (``00000/img00000000.png``, ``dataset.json``): warm discs and squares on a dark blue
    ground, so the colour statistics are far from a fresh generator's grey."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(n):
            img = np.zeros([size, size, 3], np.float32)
            img[:] = (20, 30, 110)
            cx, cy, r = rng.uniform(size * 0.3, size * 0.7, 2).tolist() + [rng.uniform(size * 0.15, size * 0.35)]
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r if i % 2 else (abs(xx - cx) < r) & (abs(yy - cy) < r)
            img[mask] = (230, rng.uniform(120, 200), 40)
            buf = io.BytesIO()
            Image.fromarray(img.astype(np.uint8)).save(buf, format="PNG")
            zf.writestr(f"{i // 1000:05d}/img{i:08d}.png", buf.getvalue())
        zf.writestr("dataset.json", json.dumps({"labels": None}))
    return path


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One CPU thread: these networks are too small to share out, and on a loaded machine a second thread that
    waits for a busy core makes each step up to 100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data16(tmp_path_factory) -> Path:
    return shapes_zip(tmp_path_factory.mktemp("data") / "shapes16.zip")


def data_colour_stats(path: Path) -> np.ndarray:
    from musicvideo.train.dataset import ImageZipDataset

    ds = ImageZipDataset(path)
    x = torch.stack([ds[i][0] for i in range(len(ds))]).float() / 127.5 - 1
    return colour_stats(x)


def colour_stats(images: torch.Tensor) -> np.ndarray:
    """Per-channel mean and standard deviation of images in [-1, 1]."""
    x = images.float().clamp(-1, 1)
    return torch.cat([x.mean(dim=[0, 2, 3]), x.std(dim=[0, 2, 3])]).numpy()


@torch.no_grad()
def sample(G, n: int = 64) -> torch.Tensor:
    z = torch.randn([n, G.z_dim], generator=torch.Generator().manual_seed(123))
    return G.synthesis(G.mapping(z, None), noise_mode="const")


def snapshot_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


# ------------------------------------------------------------------------------------------------ learning


def test_a_few_hundred_steps_bring_the_colours_and_the_proxy_toward_the_data(data16, tmp_path):
    target = data_colour_stats(data16)
    config = TrainConfig(kimg=1.0, batch=8, snap_kimg=1.0, seed=1, **TINY)  # 125 steps, NVlabs' lr 0.0025
    result = train(data16, tmp_path / "run", config=config, progress=False)
    assert result.steps == 125 and result.nimg == 1000
    from musicvideo.generator import load_generator

    first = load_generator(tmp_path / "run" / "network-snapshot-000000.safetensors")
    before = np.abs(colour_stats(sample(first)) - target).sum()
    after = np.abs(colour_stats(sample(result.G_ema)) - target).sum()
    assert after < 0.25 * before, (before, after)  # measured: 2.52 -> 0.22
    log = result.log
    assert [r["kimg"] for r in log] == [0.0, 1.0]
    # the proxy: the colour distance (always measured) falls too (1.50 -> 0.94); the log names the leading metric
    assert log[-1]["quality"]["colour_distance"] < 0.8 * log[0]["quality"]["colour_distance"], log
    assert {r["quality"]["name"] for r in log} <= {"fid", "kid-d-features"} and log[-1]["loss_G"] is not None
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["log.jsonl", "network-snapshot-000000.safetensors", "network-snapshot-000001.safetensors",
                     "samples-000000.png", "samples-000001.png", "training-state-000000.pt",
                     "training-state-000001.pt"]


# ------------------------------------------------------------------------------------------------ resume


def _stop_after(steps: int):
    def on_step(info):
        if info.step == steps:
            raise KeyboardInterrupt

    return on_step


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one_bit_for_bit(data16, tmp_path):
    # 24 steps of 4: two lazy-R1 steps (0 and 16), six ADA updates, x-flips, the interrupt between 13 and 14
    # (mid-ADA-interval), and a target that moves p
    config = TrainConfig(kimg=0.096, batch=4, snap_kimg=100, seed=5, mirror=True, ada_target=0.0, **TINY)
    whole = train(data16, tmp_path / "whole", config=config, progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(data16, tmp_path / "split", config=config, progress=False, on_step=_stop_after(13))
    assert (tmp_path / "split" / "training-state-000000.pt").exists()
    log = [json.loads(line) for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["reason"] == "interrupted" and log[-1]["step"] == 13
    resumed = train(data16, tmp_path / "split", config=config, progress=False, resume=True)
    assert (resumed.steps, resumed.nimg) == (whole.steps, whole.nimg) == (24, 96)
    a, b = whole.G_ema.state_dict(), resumed.G_ema.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # and the files say the same: the final training states hold the same D and augmentation probability
    sa = torch.load(tmp_path / "whole" / "training-state-000000.pt", weights_only=True)
    sb = torch.load(tmp_path / "split" / "training-state-000000.pt", weights_only=True)
    assert all(torch.equal(sa["D"][k], sb["D"][k]) for k in sa["D"])
    assert torch.equal(sa["augment_p"], sb["augment_p"]) and sa["ada"] == sb["ada"] and float(sa["augment_p"]) > 0


# ------------------------------------------------------------------------------------------------ --from


@pytest.mark.parametrize("fmt", ["nvlabs", "tf", "rosinality", "native"])
@pytest.mark.filterwarnings("ignore::musicvideo.errors.MusicVideoWarning")  # these files' D's are placeholders
def test_from_every_format_starts_from_its_weights(fmt, data16, tmp_path):
    from musicvideo.generator import load_checkpoint, save_native

    cfg = tiny_config(resolution=16)
    sd = reference_state_dict(cfg, seed=7)
    path = {"nvlabs": lambda p: write_nvlabs_pytorch_pkl(p, cfg, sd),
            "tf": lambda p: write_nvlabs_tf_pkl(p, cfg, sd),
            "rosinality": lambda p: write_rosinality_pt(p, cfg, sd),
            "native": lambda p: save_native(write_and_load(p, cfg, sd), p)}[fmt](tmp_path / f"g.{fmt}")
    source = load_checkpoint(path).state_dict
    config = TrainConfig(kimg=0.008, batch=4, snap_kimg=100, **TINY)
    seen = {}

    def before_the_second_step(info):  # the kimg-0 snapshot, before the final one (also KKKKKK 000000) replaces it
        if info.step == 1:
            seen["first"] = snapshot_tensors(tmp_path / "run" / "network-snapshot-000000.safetensors")

    result = train(data16, tmp_path / "run", config=config, from_checkpoint=path, progress=False,
                   on_step=before_the_second_step)
    first = seen["first"]
    assert first.keys() == source.keys()
    for key in source:
        assert torch.equal(first[key], source[key].float()), key
    assert result.steps == 2  # and it trains from there
    moved = result.G_ema.state_dict()
    assert any(not torch.equal(moved[k], source[k].float()) for k in source)


def test_from_a_file_with_a_discriminator_takes_it_and_freeze_d_keeps_its_first_block(data16, tmp_path):
    from _train_fixtures import write_nvlabs_pkl_with_d

    path = tmp_path / "with_d.pkl"
    d_file = write_nvlabs_pkl_with_d(path)
    config = TrainConfig(kimg=0.012, batch=4, snap_kimg=100, freeze_d=1, **TINY)
    seen = {}

    def first_state(info):
        if info.step == 1:
            seen["start"] = torch.load(tmp_path / "run" / "training-state-000000.pt", weights_only=True)

    train(data16, tmp_path / "run", config=config, from_checkpoint=path, progress=False, on_step=first_state)
    start = seen["start"]["D"]
    assert all(torch.equal(start[k], d_file[k].float()) for k in d_file), "D did not come from the file"
    end = torch.load(tmp_path / "run" / "training-state-000000.pt", weights_only=True)["D"]
    frozen = [k for k in d_file if k.startswith("b16.") and not k.endswith("resample_filter")]
    assert frozen and all(torch.equal(end[k], d_file[k].float()) for k in frozen)  # FreezeD: b16 never moved
    assert not torch.equal(end["b8.conv0.weight"], d_file["b8.conv0.weight"].float())  # the rest trains


def write_and_load(path: Path, cfg, sd):
    """A LoadedCheckpoint for save_native (the native fixture goes through our own writer)."""
    from musicvideo.generator.formats.base import LoadedCheckpoint

    return LoadedCheckpoint(config=cfg, state_dict=sd, format="test", path=path, metadata={})


def test_the_snapshot_renders_a_video_and_loads_as_the_same_generator(data16, tmp_path, monkeypatch):
    import dataclasses

    from _render_helpers import write_loud_quiet_song
    from musicvideo import RenderConfig, render
    from musicvideo.generator import load_generator
    from musicvideo.video.probe import probe

    config = TrainConfig(kimg=0.016, batch=4, snap_kimg=100, **TINY)
    result = train(data16, tmp_path / "run", config=config, progress=False)
    assert result.snapshot.name == "network-snapshot-000000.safetensors"
    G = load_generator(result.snapshot)
    assert G.img_resolution == 16 and torch.equal(sample(G, 4), sample(result.G_ema, 4))
    monkeypatch.setenv("MUSICVIDEO_CACHE_DIR", str(tmp_path / "cache"))
    song = write_loud_quiet_song(tmp_path / "song.wav", seconds=1.0)
    look = dataclasses.replace(RenderConfig(), fps=10.0, size=32, duration_s=1.0, device="cpu")
    video = render(song, checkpoint=result.snapshot, output=tmp_path / "v.mp4", config=look, progress=False)
    info = probe(video.path)
    assert (info.n_frames, info.width) == (10, 32)


# ------------------------------------------------------------------------------------------------ bad input


def test_resume_without_a_run_is_one_line(data16, tmp_path, capsys):
    rc = main(["train", str(data16), "-o", str(tmp_path / "nothing"), "--resume"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "nothing to resume" in err and "--resume" in err
    assert not (tmp_path / "nothing").exists()


def test_resolution_mismatch_is_one_line_with_the_fix(tmp_path, capsys):
    data32 = shapes_zip(tmp_path / "shapes32.zip", n=8, size=32)
    cfg = tiny_config(resolution=16)
    ckpt = write_nvlabs_pytorch_pkl(tmp_path / "g16.pkl", cfg, reference_state_dict(cfg))
    rc = main(["train", str(data32), "-o", str(tmp_path / "run"), "--from", str(ckpt), "--kimg", "0.01"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err, err
    assert "16x16" in err and "32x32" in err and "--size 16" in err
    assert not (tmp_path / "run").exists()


def test_from_a_stylegan3_file_is_one_line(data16, tmp_path, capsys):
    from _stylegan3_fixtures import write_stylegan3_snapshot

    ckpt = tmp_path / "sg3.pkl"
    write_stylegan3_snapshot(ckpt, resolution=16)
    rc = main(["train", str(data16), "-o", str(tmp_path / "run"), "--from", str(ckpt), "--kimg", "0"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "StyleGAN3" in err and "StyleGAN2" in err
    assert not (tmp_path / "run").exists()


def test_a_full_disk_mid_snapshot_is_one_line_and_keeps_the_previous_snapshot(data16, tmp_path, monkeypatch):
    import musicvideo.train.snapshot as snapshot_module

    config = TrainConfig(kimg=0.008, batch=4, snap_kimg=0.004, **TINY)
    run = tmp_path / "run"
    real_save = torch.save
    calls = []

    def save_then_fill_the_disk(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) == 1:
            return real_save(obj, f, *args, **kwargs)
        with open(f, "wb") as out:  # half a file, then the disk is full
            out.write(b"\0" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(snapshot_module.torch, "save", save_then_fill_the_disk)
    with pytest.raises(MusicVideoError) as err:
        train(data16, run, config=config, progress=False)
    message = str(err.value)
    assert "\n" not in message and "disk is full" in message and "--resume" in message
    monkeypatch.setattr(snapshot_module.torch, "save", real_save)
    # the kimg-0 snapshot is whole and resumable; nothing half-written is left
    assert sorted(p.name for p in run.iterdir() if p.name.startswith("training-state")) == ["training-state-000000.pt"]
    assert not [p for p in run.iterdir() if ".tmp-" in p.name]
    state = torch.load(run / "training-state-000000.pt", weights_only=True)
    assert state["nimg"] == 0
    resumed = train(data16, run, config=config, progress=False, resume=True)
    assert resumed.nimg == 8


# ------------------------------------------------------------------------------------------------ processes


def test_sigterm_writes_a_snapshot_and_exits_143(data16, tmp_path):
    import signal
    import time

    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "musicvideo", "train", str(data16), "-o", str(run), "--kimg", "100", "--batch", "4",
           "--snap", "100", "--cbase", "128", "--cmax", "32", "--latent", "16", "--map", "2", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (run / "training-state-000000.pt").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        time.sleep(1.0)  # a few steps in
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1] == "musicvideo: terminated by SIGTERM"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in log] == ["start", "interrupted"] and log[-1]["step"] > 0
    state = torch.load(run / "training-state-000000.pt", weights_only=True)
    assert state["step"] == log[-1]["step"]  # the snapshot is the state at the step it stopped after
    assert not [p for p in run.iterdir() if ".tmp-" in p.name]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_with_torchrun_on_the_cpu_train_together(data16, tmp_path):
    """torchrun --nproc_per_node 2 (gloo): the batch splits over the ranks, only rank 0 writes, the training state
    holds both ranks' random generators."""
    import signal

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "musicvideo", "train", str(data16), "-o", str(tmp_path / "run"),
           "--kimg", "0.032", "--batch", "8", "--snap", "100", "--cbase", "128", "--cmax", "32", "--latent", "16",
           "--map", "2", "--workers", "0", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both workers
        proc.communicate()
        raise
    assert proc.returncode == 0, err[-3000:]
    assert out.strip() == str(tmp_path / "run" / "network-snapshot-000000.safetensors")  # printed once: rank 0
    state = torch.load(tmp_path / "run" / "training-state-000000.pt", weights_only=True)
    assert state["world_size"] == 2 and state["nimg"] == 32 and state["step"] == 4
    assert len(state["rng"]) == 2 and not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])
