"""`musicvideo preview`: the curves PNG and the playhead MP4 with the song's audio."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image

from musicvideo.audio.synth import loud_quiet_song
from musicvideo.cli import main

from _audio_helpers import audio_cache, wav  # noqa: F401 - fixture

SR = 22050
HAS_ENCODER = importlib.util.find_spec("musicvideo.video.encoder") is not None


@pytest.fixture
def song(tmp_path):
    return wav(tmp_path / "song.wav", loud_quiet_song(4.0, sample_rate=SR), SR)


def test_preview_png(song, tmp_path, audio_cache, capsys):
    out = tmp_path / "curves.png"
    assert main(["preview", str(song), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[0] >= 600 and image.shape[1] >= 1000
    assert image.std() > 10  # something was drawn
    assert not list(tmp_path.glob(".*tmp-*"))


def test_preview_needs_an_output(song, capsys):
    assert main(["preview", str(song)]) == 2
    assert "-o curves.png" in capsys.readouterr().err


def test_preview_png_bad_song_leaves_nothing(tmp_path, audio_cache, capsys):
    bad = tmp_path / "bad.mp3"
    bad.write_text("nope")
    out = tmp_path / "curves.png"
    assert main(["preview", str(bad), "-o", str(out)]) == 2
    assert not out.exists() and len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.skipif(not HAS_ENCODER, reason="musicvideo.video.encoder not available")
def test_preview_video_has_frames_playhead_and_audio(song, tmp_path, audio_cache):
    from musicvideo.video.probe import probe, read_frames

    out = tmp_path / "preview.mp4"
    assert main(["preview", str(song), "--video", str(out), "--fps", "10", "--start", "1", "--duration", "2"]) == 0
    info = probe(out)
    assert info.video_codec == "h264" and info.n_frames == 20 and info.fps == 10
    assert info.audio_codec is not None and info.audio_duration_s == pytest.approx(2.0, abs=0.05)
    assert info.channels == 1 and info.sample_rate == SR
    frames = read_frames(out).astype(np.int16)
    # the playhead (a red line) moves right from frame to frame
    red = (frames[..., 0] > 150) & (frames[..., 1] < 90) & (frames[..., 2] < 110)
    columns = [np.flatnonzero(r.sum(axis=0) > r.shape[0] // 3) for r in red]
    xs = [c.mean() for c in columns if len(c)]
    assert len(xs) >= 18 and np.all(np.diff(xs) > 0)
