"""concat_segments: frame-range segments joined without re-encoding equal a one-worker render."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicvideo.errors import MusicVideoError
from musicvideo.video import AudioSource, VideoConfig, VideoWriter, concat_segments, probe, read_frames

from _video_helpers import gradient_frames, leftovers, write_wav

SPLITS = [(0, 11), (11, 23), (23, 30)]  # uneven frame ranges of a 30-frame (1 s at 30 fps) clip


def _render(path: Path, frames: np.ndarray, config: VideoConfig, audio: AudioSource | None) -> Path:
    with VideoWriter(path, width=64, height=64, fps=30, config=config, audio=audio) as writer:
        writer.write(frames)
    return path


@pytest.mark.parametrize("config, suffix", [(VideoConfig(), ".mp4"), (VideoConfig(codec="prores"), ".mov")])
def test_three_segments_join_to_the_frames_and_audio_of_one_render(tmp_path, config, suffix):
    song = write_wav(tmp_path / "song.wav", duration_s=3.0)
    audio = AudioSource(song, start_s=0.5, duration_s=1.0)
    frames = gradient_frames(30)
    single = probe(_render(tmp_path / f"single{suffix}", frames, config, audio))
    parts = [_render(tmp_path / f"part{i}{suffix}", frames[a:b], config, None) for i, (a, b) in enumerate(SPLITS)]
    joined = probe(concat_segments(parts, tmp_path / f"joined{suffix}", audio=audio, config=config))
    assert joined.n_frames == single.n_frames == 30
    assert joined.fps == single.fps == 30
    assert joined.video_codec == single.video_codec
    assert joined.audio_codec == single.audio_codec
    assert joined.audio_duration_s == pytest.approx(single.audio_duration_s, abs=1e-9)
    assert abs(joined.audio_duration_s - 1.0) <= 1 / 30
    assert joined.has_faststart
    assert leftovers(tmp_path) == []


def test_lossless_segments_join_bit_exactly(tmp_path):
    config = VideoConfig(lossless=True)
    frames = gradient_frames(30)
    parts = [_render(tmp_path / f"part{i}.mp4", frames[a:b], config, None) for i, (a, b) in enumerate(SPLITS)]
    joined = concat_segments(parts, tmp_path / "joined.mp4", config=config)
    np.testing.assert_array_equal(read_frames(joined), frames)
    assert probe(joined).audio_codec is None


def test_mismatched_or_missing_segments_are_refused(tmp_path):
    a = _render(tmp_path / "a.mp4", gradient_frames(5), VideoConfig(), None)
    with VideoWriter(tmp_path / "b.mp4", width=96, height=64, fps=30) as writer:
        writer.write(gradient_frames(5, 64, 96))
    with pytest.raises(MusicVideoError, match="same settings"):
        concat_segments([a, tmp_path / "b.mp4"], tmp_path / "j.mp4")
    with pytest.raises(MusicVideoError, match="not found"):
        concat_segments([a, tmp_path / "missing.mp4"], tmp_path / "j.mp4")
    assert not (tmp_path / "j.mp4").exists() and leftovers(tmp_path) == []


def test_segments_that_do_not_add_up_to_the_audio_clip_are_refused(tmp_path):
    song = write_wav(tmp_path / "song.wav", duration_s=3.0)
    frames = gradient_frames(30)
    parts = [_render(tmp_path / f"part{i}.mp4", frames[a:b], VideoConfig(), None)
             for i, (a, b) in enumerate(SPLITS[:2])]  # the last piece is missing
    with pytest.raises(MusicVideoError, match="segments hold 23 frames"):
        concat_segments(parts, tmp_path / "j.mp4", audio=AudioSource(song, 0, 1.0))
    assert not (tmp_path / "j.mp4").exists() and leftovers(tmp_path) == []
