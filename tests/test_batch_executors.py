"""Executors and split ranges without rendering: device lanes, frame ranges, Ray address errors."""

from __future__ import annotations

import socket
import sys
import time

import pytest
import torch

from musicvideo.batch import run_batch
from musicvideo.batch.executors import connect_ray, local_devices
from musicvideo.batch.split import frame_ranges
from musicvideo.errors import MusicVideoError

from _batch_helpers import batch_folder


def test_frame_ranges_cover_the_clip_exactly():
    assert frame_ranges(10, 3) == [(0, 4), (4, 7), (7, 10)]
    for n, parts in [(24, 3), (25, 4), (7, 7), (1000, 16)]:
        ranges = frame_ranges(n, parts)
        assert ranges[0][0] == 0 and ranges[-1][1] == n and len(ranges) == parts
        assert all(a < b for a, b in ranges) and all(r[1] == s[0] for r, s in zip(ranges, ranges[1:]))
    with pytest.raises(MusicVideoError):
        frame_ranges(2, 3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU lanes are only chosen without CUDA")
def test_local_devices_without_cuda():
    assert local_devices("cpu", 2) == ["cpu", "cpu"]
    assert local_devices("auto", None) == ["cpu"] * max(1, (__import__("os").cpu_count() or 2) // 2)
    with pytest.raises(MusicVideoError, match="CUDA"):
        local_devices("cuda:0", 1)
    with pytest.raises(MusicVideoError, match="at least 1"):
        local_devices("cpu", 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.cuda
def test_local_devices_one_lane_per_gpu():
    n = torch.cuda.device_count()
    assert local_devices("auto", None) == [f"cuda:{i}" for i in range(n)]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_ray_address_is_a_one_line_error_before_any_work(tmp_path):
    pytest.importorskip("ray")
    plan = batch_folder(tmp_path)
    started = time.monotonic()
    with pytest.raises(MusicVideoError) as info:
        run_batch(plan, tmp_path / "out", ray=f"127.0.0.1:{_closed_port()}", progress=False)
    message = str(info.value)
    assert "cannot reach the Ray cluster" in message and "\n" not in message
    assert time.monotonic() - started < 20
    assert not (tmp_path / "out").exists()
    with pytest.raises(MusicVideoError, match="bad Ray address"):
        connect_ray("not-an-address")


def test_ray_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(MusicVideoError, match=r"pip install 'musicvideo\[ray\]'"):
        connect_ray("auto")


def test_cli_batch_bad_plan_exits_2_with_one_line(tmp_path, capsys):
    from musicvideo.cli import main

    plan = batch_folder(tmp_path, 'song = "song.wav"\n[[clips]]\nname = "a"\nstart = 99\n')
    assert main(["batch", str(plan), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("musicvideo: error:") and "outside the song" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def _video(path, n_frames: int, fps: int = 12) -> None:
    import subprocess

    from musicvideo.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"color=red:s=32x32:r={fps}",
                    "-frames:v", str(n_frames), "-c:v", "prores_ks", "-y", str(path)], check=True)


def test_split_pieces_of_an_interrupted_run_are_reused_only_with_the_same_identity(tmp_path):
    from musicvideo.batch.executors import RenderJob
    from musicvideo.batch.plan import load_plan
    from musicvideo.batch.runner import _split_jobs

    plan = load_plan(batch_folder(tmp_path, 'song = "song.wav"\n[defaults]\nfps = 12\n[[clips]]\nname = "a"\n'
                                  'duration = 2.0\nsplit = 3\n'))
    clip = plan.clips[0]
    job = RenderJob(key="a", clip="a", song=str(plan.song), checkpoint=None, output=str(tmp_path / "a.mov"),
                    config=clip.config)
    identity = {"settings": {"x": 1}, "inputs": {}}
    pieces, todo, done = _split_jobs(job, clip, tmp_path, identity)
    assert [j.frame_range for j in todo] == [(0, 8), (8, 16), (16, 24)] and not done
    assert all(not j.audio for j in todo) and len(pieces) == 3
    _video(pieces[0], 8)
    _video(pieces[1], 5)  # a broken piece: too short
    pieces, todo, done = _split_jobs(job, clip, tmp_path, identity)
    assert [o.key for o in done] == ["a#0"] and [j.key for j in todo] == ["a#1", "a#2"]
    pieces, todo, done = _split_jobs(job, clip, tmp_path, {"settings": {"x": 2}, "inputs": {}})
    assert not done and len(todo) == 3 and not pieces[0].exists()  # other settings: start over
