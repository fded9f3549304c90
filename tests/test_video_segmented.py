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
        assert writer.close() == target  # closing inside the block is fine; the exit then closes nothing
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


def test_segmented_ffmpeg_failure_raises_and_leaves_nothing(tmp_path):
    config = VideoConfig(fit="pad", pad_color="notacolour")
    with pytest.raises(MusicVideoError, match="notacolour"):
        with SegmentedVideoWriter(tmp_path / "clip.mp4", width=96, height=54, fps=30, input_width=64,
                                  input_height=64, workers=2, segment_frames=4, config=config) as writer:
            for _ in range(20):
                writer.write(gradient_frames(3))
    assert list(tmp_path.iterdir()) == []


def test_segmented_writer_left_open_at_exit_leaves_nothing(tmp_path):
    import subprocess
    import sys

    script = ("import sys, numpy as np\n"
              "from musicvideo.video import SegmentedVideoWriter\n"
              "w = SegmentedVideoWriter(sys.argv[1], width=64, height=64, fps=30, workers=2, segment_frames=2)\n"
              "w.write(np.zeros((5, 64, 64, 3), np.uint8))\n"
              "del w\n"
              "raise SystemExit(3)\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "clip.mp4")], timeout=60)
    assert result.returncode == 3
    assert list(tmp_path.iterdir()) == []


def test_writers_left_open_at_interpreter_exit_leave_nothing(tmp_path):
    # a script that forgets to close its writers: at exit both kinds are aborted (one registry, one atexit hook);
    # otherwise ffmpeg would finish a temporary file on its closed stdin, and the parts folder would stay
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys; sys.path.insert(0, sys.argv[2])\n"
        "from pathlib import Path\n"
        "from musicvideo.video import SegmentedVideoWriter, VideoWriter\n"
        "from _video_helpers import gradient_frames\n"
        "out = Path(sys.argv[1])\n"
        "one = VideoWriter(out / 'one.mp4', width=64, height=64, fps=30)\n"
        "many = SegmentedVideoWriter(out / 'many.mp4', width=64, height=64, fps=30, workers=2, segment_frames=4)\n"
        "one.write(gradient_frames(6)); many.write(gradient_frames(10))\n"
        "print('written', flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "written" in done.stdout, done.stderr
    assert list(tmp_path.iterdir()) == []
