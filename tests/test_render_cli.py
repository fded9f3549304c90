"""`musicvideo render` on the command line: success, bad input (one line, before any work, nothing written), and
Ctrl-C mid-render (exit 130, no output, no temporaries)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from musicvideo.cli import main
from musicvideo.video.probe import probe

from _render_helpers import leftovers, tiny_generator, write_loud_quiet_song
from _video_helpers import sigint_default


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 3 s song, a tiny native checkpoint, and an analysis cache of their own."""
    from musicvideo.generator import save_native

    root = tmp_path_factory.mktemp("render_cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSICVIDEO_CACHE_DIR", str(root / "cache"))
        song = write_loud_quiet_song(root / "song.wav", seconds=3.0)
        checkpoint = save_native(tiny_generator(), root / "tiny.safetensors")
        yield {"song": song, "checkpoint": checkpoint, "root": root}


def test_render_command_writes_the_video(files, tmp_path, capsys):
    out = tmp_path / "video.mp4"
    config = tmp_path / "look.toml"
    config.write_text("fps = 10\n[walk]\npulse_strength = 0.5\nn_keyframes = 3\n[video]\npreset = \"ultrafast\"\n")
    rc = main(["render", str(files["song"]), "-c", str(files["checkpoint"]), "-o", str(out), "--size", "64",
               "--duration", "1.25", "--seed", "3", "--config", str(config), "--quiet"])
    assert rc == 0
    assert capsys.readouterr().out.strip() == str(out)
    info = probe(out)
    assert (info.n_frames, info.width, info.fps, info.audio_codec) == (13, 64, 10, "aac")  # ceil(1.25 * 10)


def test_preset_and_crf_flags_win_over_the_config_file(tmp_path):
    from musicvideo.cli import _render_overrides, build_parser
    from musicvideo.config import load_config, merge_overrides

    config = tmp_path / "slow.toml"
    config.write_text('[video]\npreset = "slow"\ncrf = 20\n')
    args = build_parser().parse_args(["render", "song.wav", "--preset", "veryfast", "--crf", "23"])
    video = merge_overrides(load_config(config), _render_overrides(args)).video
    assert (video.preset, video.crf) == ("veryfast", 23)


def test_mov_output_means_prores_and_seeds_file_is_used(files, tmp_path):
    seeds = tmp_path / "seeds.json"
    seeds.write_text('{"seeds": [1, 2, 3]}')
    out = tmp_path / "clip.mov"
    rc = main(["render", str(files["song"]), "-c", str(files["checkpoint"]), "-o", str(out), "--size", "64",
               "--fps", "8", "--duration", "0.5", "--seeds", str(seeds), "--quiet"])
    assert rc == 0
    info = probe(out)
    assert info.video_codec == "prores" and info.audio_codec.startswith("pcm_") and info.n_frames == 4


def _bad_inputs(files, tmp: Path) -> dict[str, list[str]]:
    song, ckpt = str(files["song"]), str(files["checkpoint"])
    existing = tmp / "exists.mp4"
    existing.write_bytes(b"keep me")
    out = str(tmp / "out.mp4")
    cases = {
        "missing song": ["render", str(tmp / "nope.wav"), "-c", ckpt, "-o", out],
        "song is not audio": ["render", ckpt, "-c", ckpt, "-o", out],
        "missing checkpoint": ["render", song, "-c", str(tmp / "nope.pkl"), "-o", out],
        "missing output dir": ["render", song, "-c", ckpt, "-o", str(tmp / "no" / "dir" / "out.mp4")],
        "existing output": ["render", song, "-c", ckpt, "-o", str(existing)],
        "fps 0": ["render", song, "-c", ckpt, "-o", out, "--fps", "0"],
        "fps 1000": ["render", song, "-c", ckpt, "-o", out, "--fps", "1000"],
        "size 7": ["render", song, "-c", ckpt, "-o", out, "--size", "7"],
        "odd size": ["render", song, "-c", ckpt, "-o", out, "--width", "65", "--height", "64"],
        "width without height": ["render", song, "-c", ckpt, "-o", out, "--width", "64"],
        "start past end": ["render", song, "-c", ckpt, "-o", out, "--start", "3.5"],
        "clip past end": ["render", song, "-c", ckpt, "-o", out, "--start", "2", "--duration", "5"],
        "duration 0": ["render", song, "-c", ckpt, "-o", out, "--duration", "0"],
        "prores into mp4": ["render", song, "-c", ckpt, "-o", out, "--codec", "prores"],
        "batch size 0": ["render", song, "-c", ckpt, "-o", out, "--batch-size", "0"],
        "bad config key": ["render", song, "-c", ckpt, "-o", out, "--config", str(tmp / "bad.toml")],
        "unknown device": ["render", song, "-c", ckpt, "-o", out, "--device", "tpu"],
        "unknown preset": ["render", song, "-c", ckpt, "-o", out, "--preset", "warp"],
    }
    (tmp / "bad.toml").write_text("[walk]\nwobble = 3\n")
    if not torch.cuda.is_available():
        cases["cuda without CUDA"] = ["render", song, "-c", ckpt, "-o", out, "--device", "cuda"]
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        cases["mps without mps"] = ["render", song, "-c", ckpt, "-o", out, "--device", "mps"]
    return cases


def test_bad_input_is_one_line_before_any_work_and_leaves_nothing(files, tmp_path, capsys, monkeypatch):
    import musicvideo.audio
    import musicvideo.generator

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(musicvideo.audio, "analyze", no_work)
    monkeypatch.setattr(musicvideo.generator, "load_generator", no_work)
    cases = _bad_inputs(files, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    for name, argv in cases.items():
        t0 = time.perf_counter()
        rc = main(argv)
        elapsed = time.perf_counter() - t0
        err = capsys.readouterr().err.strip()
        assert rc == 2, name
        assert len(err.splitlines()) == 1 and err.startswith("musicvideo: error: "), (name, err)
        assert "Traceback" not in err
        assert elapsed < 3.0, (name, elapsed)
        assert sorted(p.name for p in tmp_path.iterdir()) == before, name
    assert (tmp_path / "exists.mp4").read_bytes() == b"keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_dir_is_refused(files, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        rc = main(["render", str(files["song"]), "-c", str(files["checkpoint"]), "-o", str(locked / "o.mp4")])
    finally:
        locked.chmod(0o755)
    assert rc == 2 and "cannot write" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_mid_render_leaves_no_output_and_no_temporaries(files, tmp_path):
    from musicvideo.audio import analyze
    from musicvideo.audio.synth import loud_quiet_song, write_wav

    song = write_wav(tmp_path / "long.wav", loud_quiet_song(40.0, sample_rate=8000), 8000)
    analyze(song, fps=30)  # cached: the child starts rendering at once
    out = tmp_path / "long.mp4"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "musicvideo", "render", str(song), "-c", str(files["checkpoint"]), "-o", str(out),
           "--size", "64", "--batch-size", "2"]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
                             preexec_fn=sigint_default)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while not re.search(rb"\| *[1-9]\d*/1200", seen):  # the progress bar shows encoded frames
            chunk = os.read(child.stderr.fileno(), 4096)
            assert chunk and time.monotonic() < deadline, f"render did not start: {seen[-500:]!r}"
            seen += chunk
        assert child.poll() is None
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, (seen + err)[-500:]
    assert b"interrupted" in err
    assert not out.exists()
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.wav"]


def test_size_flag_wins_over_the_config_files_width_and_height(files, tmp_path):
    config = tmp_path / "wide.toml"
    config.write_text("width = 96\nheight = 64\nfps = 8\nduration_s = 0.25\n")
    out = tmp_path / "square.mp4"
    rc = main(["render", str(files["song"]), "-c", str(files["checkpoint"]), "-o", str(out), "--config",
               str(config), "--size", "48", "--quiet"])
    assert rc == 0 and (probe(out).width, probe(out).height) == (48, 48)
    wide = tmp_path / "wide.mp4"
    assert main(["render", str(files["song"]), "-c", str(files["checkpoint"]), "-o", str(wide), "--config",
                 str(config), "--quiet"]) == 0
    assert (probe(wide).width, probe(wide).height) == (96, 64)
