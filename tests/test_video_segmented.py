"""SegmentedVideoWriter: parallel encoders give the same frames, length and sync as one VideoWriter."""

from __future__ import annotations

import numpy as np
import pytest

from musicvideo.errors import MusicVideoError
from musicvideo.video import AudioSource, SegmentedVideoWriter, VideoConfig, probe, read_frames

from _video_helpers import gradient_frames, write_wav


def test_segmented_lossless_equals_frames_written_with_audio(tmp_path):
    song = write_wav(tmp_path / "song.wav", duration_s=2.0)
    frames = gradient_frames(31)
    target = tmp_path / "clip.mp4"
    audio = AudioSource(song, start_s=0.25, duration_s=31 / 30)
    with SegmentedVideoWriter(target, width=64, height=64, fps=30, audio=audio, workers=2, segment_frames=8,
                              config=VideoConfig(lossless=True)) as writer:
        for i in range(0, 31, 5):  # batches that straddle segment boundaries
            writer.write(frames[i:i + 5])
    assert writer.frames_written == 31
    info = probe(target)
    assert info.n_frames == 31 and info.fps == 30 and info.has_faststart
    assert abs(info.audio_duration_s - 31 / 30) <= 1 / 30
    np.testing.assert_array_equal(read_frames(target), frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "song.wav"]


def test_segmented_prores(tmp_path):
    target = tmp_path / "clip.mov"
    with SegmentedVideoWriter(target, width=64, height=64, fps=24, workers=3, segment_frames=4,
                              config=VideoConfig(codec="prores")) as writer:
        writer.write(gradient_frames(18))
    info = probe(target)
    assert (info.video_codec, info.n_frames, info.fps) == ("prores", 18, 24)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_segmented_abort_leaves_nothing(tmp_path, error):
    with pytest.raises(error):
        with SegmentedVideoWriter(tmp_path / "clip.mp4", width=64, height=64, fps=30, workers=2,
                                  segment_frames=4) as writer:
            writer.write(gradient_frames(10))
            raise error()
    assert list(tmp_path.iterdir()) == []


def test_segmented_preflight_and_frame_count_check(tmp_path):
    with pytest.raises(MusicVideoError, match="DNxHR"):
        SegmentedVideoWriter(tmp_path / "c.mov", width=64, height=64, fps=30, config=VideoConfig(codec="dnxhr"))
    assert list(tmp_path.iterdir()) == []
    song = write_wav(tmp_path / "song.wav", duration_s=1.0)
    writer = SegmentedVideoWriter(tmp_path / "c.mp4", width=64, height=64, fps=30, workers=2, segment_frames=4,
                                  audio=AudioSource(song, 0, 0.5))
    writer.write(gradient_frames(10))
    with pytest.raises(MusicVideoError, match="need ceil"):
        writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.wav"]
