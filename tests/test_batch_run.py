"""Batch renders end to end: clips, manifest, Premiere XML, re-runs, dying workers, a killed batch, split renders.

These render real (tiny, 32 px, 12 fps, 1 s) clips through the real render loop in spawned worker processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from musicvideo.batch import run_batch
from musicvideo.batch.executors import CRASH_ENV
from musicvideo.batch.manifest import sha256_file
from musicvideo.batch.premiere import path_from_url
from musicvideo.ffmpeg import ffmpeg_exe
from musicvideo.video import probe, read_frames

from _batch_helpers import THREE_CLIPS, batch_folder, write_plan

pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parent


def _decoded_audio(path: Path) -> np.ndarray:
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype=np.int16)


@pytest.fixture(scope="module")
def three_clip_batch(tmp_path_factory):
    """The 3-clip plan rendered once with 2 workers; the 'middle' clip's worker dies on its first attempt."""
    folder = tmp_path_factory.mktemp("batch3")
    # the last clip picks its seeds by look (any brightness: the first two seeds tried)
    plan = batch_folder(folder, THREE_CLIPS.replace(
        "seeds = [5]", "select = { brightness = [0.0, 1.0], count = 2, candidates = 4, thumb_size = 32 }"))
    os.environ[CRASH_ENV] = "middle:1"
    try:
        result = run_batch(plan, folder / "out", workers=2, retries=2, progress=False)
    finally:
        del os.environ[CRASH_ENV]
    return folder, result


def test_three_clips_rendered_and_the_manifest_matches_the_files(three_clip_batch):
    folder, result = three_clip_batch
    out = folder / "out"
    assert result.ok and sorted(result.rendered) == ["end", "intro", "middle"] and not result.skipped
    doc = json.loads((out / "manifest.json").read_text())
    assert [c["file"] for c in doc["clips"]] == ["intro.mov", "middle.mov", "end.mov"]
    for clip in doc["clips"]:
        path = out / clip["file"]
        info = probe(path)
        assert clip["status"] == "ok" and clip["error"] == ""
        assert info.video_codec == "prores" and info.audio_codec.startswith("pcm_")
        assert clip["frames"] == info.n_frames == 12 and info.fps == Fraction(12)
        assert (clip["width"], clip["height"]) == (info.width, info.height) == (32, 32)
        assert clip["sha256"] == sha256_file(path)
        assert abs(info.audio_duration_s - 1.0) <= 1 / 12
        assert clip["settings"]["walk"]["seeds"] == clip["seeds"]
    assert {c["name"]: c["seeds"] for c in doc["clips"]} == {"intro": [1, 2], "middle": [3, 4], "end": [0, 1]}
    picked = json.loads((out / "end.seeds.json").read_text())
    assert picked["seeds"] == [0, 1] and len(picked["scores"]) == 2 and (out / "end.seeds.png").is_file()
    middle = next(c for c in doc["clips"] if c["name"] == "middle")
    assert middle["attempts"] == 2  # its worker died once; the retry finished it
    csv_lines = (out / "manifest.csv").read_text().splitlines()
    assert csv_lines[0].startswith("file,name,start_s,duration_s") and len(csv_lines) == 4
    assert all(",ok," in line for line in csv_lines[1:])
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_premiere_xml_matches_the_clips(three_clip_batch):
    folder, result = three_clip_batch
    root = ET.parse(result.xml).getroot()
    assert root.tag == "xmeml" and root.find("sequence/name").text == "test cut"
    assert root.findtext("sequence/rate/timebase") == "12" and root.findtext("sequence/rate/ntsc") == "FALSE"
    items = {i.findtext("name"): i for i in root.findall("sequence/media/video/track/clipitem")}
    expected = {"intro": (0, 12), "middle": (12, 24), "end": (30, 42)}
    assert set(items) == set(expected)
    for name, (start, end) in expected.items():
        item = items[name]
        path = path_from_url(item.findtext("file/pathurl"))
        assert path == (folder / "out" / f"{name}.mov").resolve() and path.is_file()
        info = probe(path, decode=False)
        assert (int(item.findtext("start")), int(item.findtext("end"))) == (start, end)
        assert int(item.findtext("duration")) == int(item.findtext("out")) == info.n_frames
        assert item.findtext("rate/timebase") == "12"
        assert item.findtext("file/media/video/samplecharacteristics/width") == str(info.width)
    song = root.find("sequence/media/audio/track/clipitem")
    assert path_from_url(song.findtext("file/pathurl")) == (folder / "song.wav").resolve()
    assert song.findtext("end") == "48"  # 4 s at 12 fps


def test_rerun_keeps_complete_clips_and_rerenders_broken_ones(three_clip_batch):
    folder, _ = three_clip_batch
    out = folder / "out"
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.mov")}
    seeds_mtime = (out / "end.seeds.json").stat().st_mtime_ns
    again = run_batch(folder / "plan.toml", out, workers=1, progress=False)
    assert sorted(again.skipped) == ["end", "intro", "middle"] and not again.rendered
    assert (out / "end.seeds.json").stat().st_mtime_ns == seeds_mtime  # the selection was reused, not redone
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.mov")} == before
    # a damaged clip (truncated) and a missing one are rendered again; the intact one is kept
    damaged = out / "middle.mov"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    (out / "end.mov").unlink()
    third = run_batch(folder / "plan.toml", out, workers=1, progress=False)
    assert sorted(third.rendered) == ["end", "middle"] and third.skipped == ["intro"]
    assert probe(damaged).n_frames == 12
    assert (out / "intro.mov").stat().st_ino == before["intro.mov"][0]
    # another checkpoint (or song) at the same path makes every clip stale, even with the same settings
    from _batch_helpers import tiny_checkpoint

    tiny_checkpoint(folder / "tiny.safetensors", seed=1)
    fourth = run_batch(folder / "plan.toml", out, workers=1, progress=False)
    assert sorted(fourth.rendered) == ["end", "intro", "middle"] and not fourth.skipped


def test_a_clip_whose_worker_always_dies_fails_and_the_rest_carry_on(tmp_path, monkeypatch):
    plan = batch_folder(tmp_path, THREE_CLIPS.replace('start = 2.5', 'start = 2.0'))
    monkeypatch.setenv(CRASH_ENV, "middle")
    result = run_batch(plan, tmp_path / "out", workers=2, retries=1, progress=False)
    assert result.failed == ["middle"] and sorted(result.rendered) == ["end", "intro"], result.records
    doc = {c["name"]: c for c in json.loads((tmp_path / "out" / "manifest.json").read_text())["clips"]}
    assert doc["middle"]["status"] == "failed" and "died" in doc["middle"]["error"]
    assert doc["middle"]["attempts"] == 2
    assert doc["intro"]["status"] == doc["end"]["status"] == "ok"
    assert not (tmp_path / "out" / "middle.mov").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if ".tmp-" in p.name]
    root = ET.parse(result.xml).getroot()
    assert sorted(i.findtext("name") for i in root.iter("clipitem")) == ["end", "intro", "song.wav"]


def test_killed_batch_rerun_finishes_only_the_missing_clips(tmp_path):
    # clips long enough (45 frames of 64 px each) that the kill lands while the second one renders
    plan = batch_folder(tmp_path, THREE_CLIPS.replace("fps = 12", "fps = 30").replace("size = 32", "size = 64")
                        .replace("duration = 1.0", "duration = 1.5"))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "musicvideo", "batch", str(plan), "-o", str(out),
                             "--workers", "1", "--quiet"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = None
    deadline = time.monotonic() + 120
    try:
        while first is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
            try:
                clips = json.loads((out / "manifest.json").read_text())["clips"]
            except (OSError, ValueError):
                continue
            done = [c for c in clips if c["status"] == "ok"]
            if done:
                first = done[0]["file"]
        assert first is not None, proc.stderr.read().decode() if proc.poll() is not None else "no clip finished"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the batch and its workers, mid-way
        proc.wait()
    stat = (out / first).stat()
    finished_before = {p.name for p in out.glob("*.mov") if not p.name.startswith(".")}
    result = run_batch(plan, out, workers=1, progress=False)
    assert result.ok and f"{Path(first).stem}" in result.skipped
    assert len(result.skipped) == len(finished_before) < 3
    assert sorted(result.rendered + result.skipped) == ["end", "intro", "middle"]
    assert ((out / first).stat().st_ino, (out / first).stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_split_render_equals_a_single_render(tmp_path):
    from musicvideo.config import RenderConfig
    from musicvideo.render import render
    from musicvideo.video.codecs import VideoConfig

    plan = batch_folder(tmp_path, """
        song = "song.wav"
        checkpoint = "tiny.safetensors"
        [defaults]
        fps = 12
        size = 32
        [defaults.video]
        codec = "h264"
        lossless = true    # exact RGB: the comparison measures the split, not the codec
        [[clips]]
        name = "long"
        start = 0.5
        duration = 2.0
        seeds = [7, 8, 9]
        split = 3
    """)
    result = run_batch(plan, tmp_path / "out", workers=2, progress=False)
    assert result.ok, result.records
    joined = tmp_path / "out" / "long.mp4"
    assert not (tmp_path / "out" / ".parts").exists()
    config = RenderConfig(fps=12, size=32, start_s=0.5, duration_s=2.0, device="cpu",
                          video=VideoConfig(codec="h264", lossless=True))
    config.walk.seeds = [7, 8, 9]
    single = render(tmp_path / "song.wav", checkpoint=tmp_path / "tiny.safetensors", output=tmp_path / "one.mp4",
                    config=config, progress=False)
    a, b = probe(joined), probe(single.path)
    assert a.n_frames == b.n_frames == 24 and a.fps == b.fps
    assert a.video_codec == b.video_codec == "h264" and a.audio_codec == b.audio_codec == "aac"
    assert abs(a.audio_duration_s - b.audio_duration_s) < 1e-3
    frames_a, frames_b = read_frames(joined), read_frames(single.path)
    diff = np.abs(frames_a.astype(int) - frames_b.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99  # float noise of the generator at most
    assert np.array_equal(_decoded_audio(joined), _decoded_audio(single.path))




@pytest.mark.ray
def test_ray_path_runs_the_plan_on_a_local_ray_instance(tmp_path):
    ray_module = pytest.importorskip("ray")
    plan = batch_folder(tmp_path, THREE_CLIPS.split("[[clips]]\n    name = \"end\"")[0])
    ray_module.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = run_batch(plan, tmp_path / "out", ray="auto", progress=False)
    finally:
        ray_module.shutdown()
    assert result.ok and sorted(result.rendered) == ["intro", "middle"]
    for record in result.records:
        assert probe(tmp_path / "out" / record.file, decode=False).n_frames == record.frames == 12
        assert record.sha256 == sha256_file(tmp_path / "out" / record.file)
