"""probe / read_frames with the bundled ffmpeg only."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from musicvideo.errors import MusicVideoError
from musicvideo.ffmpeg import ffmpeg_exe
from musicvideo.video import probe, read_frames
from musicvideo.video.probe import parse_header

from _video_helpers import write_wav

STDERR = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':
  Duration: 00:01:02.50, start: 0.000000, bitrate: 596 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 453 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, 5.1(side), fltp, 320 kb/s (default)
"""


def test_parse_header_fields():
    info = parse_header(STDERR, Path("x.mp4"))
    assert (info.video_codec, info.profile, info.pix_fmt) == ("h264", "High", "yuv420p")
    assert (info.width, info.height) == (1920, 1080)
    assert (info.color_range, info.color_space) == ("tv", "bt709")
    assert info.duration_s == pytest.approx(62.5)
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 44100, 6)


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def test_probe_counts_frames_and_reads_rate_of_a_file_ffmpeg_made(tmp_path):
    out = tmp_path / "t.mp4"  # no +faststart: moov after mdat
    _ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x48:r=24000/1001:d=1", "-frames:v", "17", "-c:v", "libx264",
            "-pix_fmt", "yuv420p", str(out))
    info = probe(out)
    assert (info.n_frames, info.fps, info.width, info.height) == (17, Fraction(24000, 1001), 64, 48)
    assert not info.has_faststart
    assert info.audio_codec is None
    assert probe(out, decode=False).n_frames == 17


def test_probe_audio_only_file(tmp_path):
    info = probe(write_wav(tmp_path / "s.wav", duration_s=1.25, sample_rate=22050, channels=1))
    assert info.video_codec is None and info.n_frames == 0
    assert (info.audio_codec, info.sample_rate, info.channels) == ("pcm_s16le", 22050, 1)
    assert info.audio_duration_s == pytest.approx(1.25, abs=1 / 22050)


def test_read_frames_scales(tmp_path):
    out = tmp_path / "t.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=white:s=64x48:r=10:d=0.5", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            str(out))
    frames = read_frames(out, width=32, height=24)
    assert frames.shape == (5, 24, 32, 3) and frames.dtype == np.uint8
    assert frames.min() >= 250


def test_probe_errors_are_one_line(tmp_path):
    with pytest.raises(MusicVideoError, match="not found"):
        probe(tmp_path / "none.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 10)
    with pytest.raises(MusicVideoError, match="ffmpeg cannot read") as err:
        probe(junk)
    assert "\n" not in str(err.value)
