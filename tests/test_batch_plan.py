"""Clip plans: parsing, defaults for editing, paths relative to the plan, and one-line errors before any work."""

from __future__ import annotations

import pytest

from musicvideo.batch.plan import load_plan
from musicvideo.errors import ConfigError

from _batch_helpers import THREE_CLIPS, write_plan, write_song


@pytest.fixture()
def folder(tmp_path):
    write_song(tmp_path / "song.wav", seconds=4.0)
    (tmp_path / "tiny.safetensors").write_bytes(b"x")  # only its existence is checked here
    return tmp_path


def _error(folder, body) -> str:
    with pytest.raises(ConfigError) as info:
        load_plan(write_plan(folder, body))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_three_clip_plan_resolves_paths_defaults_and_segments(folder):
    plan = load_plan(write_plan(folder, THREE_CLIPS))
    assert plan.song == (folder / "song.wav").resolve() and plan.checkpoint == (folder / "tiny.safetensors").resolve()
    assert plan.song_duration_s == pytest.approx(4.0, abs=0.01)
    assert [c.name for c in plan.clips] == ["intro", "middle", "end"]
    assert [c.filename for c in plan.clips] == ["intro.mov", "middle.mov", "end.mov"]
    end = plan.clips[2]
    assert (end.config.start_s, end.config.duration_s, end.config.fps, end.config.size) == (2.5, 1.0, 12.0, 32)
    assert end.config.video.codec == "prores" and end.seeds == [5] and end.n_frames == 12


def test_editing_defaults_and_whole_song_clip(folder):
    plan = load_plan(write_plan(folder, """
        song = "song.wav"
        [[clips]]
        name = "all"
        [[clips]]
        name = "web"
        codec = "h264"
        start = 1
        walk = { speed_scale = 2.0 }
        split = 3
    """))
    whole, web = plan.clips
    assert plan.checkpoint is None
    assert whole.filename == "all.mov" and whole.config.video.codec == "prores"
    assert whole.config.start_s == 0 and whole.config.duration_s == pytest.approx(4.0, abs=0.01)
    assert web.filename == "web.mp4" and web.config.duration_s == pytest.approx(3.0, abs=0.01)
    assert web.config.walk.speed_scale == 2.0 and web.split == 3


def test_unknown_top_level_key_names_key_and_line(folder):
    message = _error(folder, """
        song = "song.wav"
        colour = "red"
        [[clips]]
        name = "a"
    """)
    assert "colour" in message and "line 2" in message


def test_unknown_clip_key_names_the_line_inside_that_clip(folder):
    message = _error(folder, """
        song = "song.wav"

        [[clips]]
        name = "a"
        duration = 1

        [[clips]]
        name = "b"
        durration = 1
    """)
    assert "clips[1].durration" in message and "line 9" in message


def test_unknown_nested_key_in_a_clip_table(folder):
    message = _error(folder, """
        song = "song.wav"
        [[clips]]
        name = "a"
        [clips.walk]
        sped = 2
    """)
    assert "sped" in message and "line 5" in message


def test_wrong_types_name_key_and_line(folder):
    message = _error(folder, """
        song = "song.wav"
        [defaults]
        fps = "fast"
        [[clips]]
        name = "a"
    """)
    assert "fps" in message and "line 3" in message
    message = _error(folder, """
        song = "song.wav"
        [[clips]]
        name = "a"
        start = "soon"
    """)
    assert "start" in message and "line 4" in message
    message = _error(folder, """
        song = "song.wav"
        [[clips]]
        name = "a"
        seeds = [1, "two"]
    """)
    assert "seeds" in message and "line 4" in message


def test_segment_outside_the_song(folder):
    message = _error(folder, """
        song = "song.wav"
        [[clips]]
        name = "late"
        start = 3.5
        duration = 2
    """)
    assert "after the song" in message and "line 5" in message
    message = _error(folder, """
        song = "song.wav"
        [[clips]]
        name = "never"
        start = 9
    """)
    assert "outside the song" in message and "line 4" in message


def test_duplicate_output_names(folder):
    message = _error(folder, """
        song = "song.wav"
        [[clips]]
        name = "take"
        [[clips]]
        name = "Take"
    """)
    assert "same output name" in message and "line 2" in message and "line 4" in message
    # same name but different containers is fine: take.mov and take.mp4
    load_plan(write_plan(folder, """
        song = "song.wav"
        [[clips]]
        name = "take"
        [[clips]]
        name = "take"
        codec = "h264"
    """))


def test_other_bad_plans(folder):
    assert "song not found" in _error(folder, 'song = "nope.wav"\n[[clips]]\nname = "a"\n')
    assert "no clips" in _error(folder, 'song = "song.wav"\n')
    assert "both seeds and select" in _error(folder, """
        song = "song.wav"
        [[clips]]
        name = "a"
        seeds = [1]
        select = { color = "red" }
    """)
    assert "unknown colour" in _error(folder, """
        song = "song.wav"
        [[clips]]
        name = "a"
        select = { color = "mauve" }
    """)
    assert "file name" in _error(folder, 'song = "song.wav"\n[[clips]]\nname = "../escape"\n')
    assert "codec" in _error(folder, 'song = "song.wav"\n[[clips]]\nname = "a"\ncodec = "vp9"\n')
    assert "not valid TOML" in _error(folder, 'song = "song.wav\n')
