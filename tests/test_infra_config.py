"""RenderConfig loading: TOML tables, CLI overrides, unknown keys and wrong types named with their line."""

from fractions import Fraction

import pytest

from musicvideo.config import RenderConfig, exact_fps, frame_count, load_config, merge_overrides
from musicvideo.errors import ConfigError


def test_defaults_load_without_a_file():
    config = load_config(None)
    assert isinstance(config, RenderConfig)
    assert config.fps == 30.0 and config.device == "auto"


def test_toml_tables_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("fps = 24\nseed = 3\n[video]\ncrf = 20\n")
    config = load_config(path, overrides={"seed": 7, "size": None})
    assert config.fps == 24.0 and config.seed == 7 and config.video.crf == 20 and config.size is None


def test_unknown_key_is_named_with_its_line(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("fps = 24\n\nbogus = 1\n")
    with pytest.raises(ConfigError, match=r"unknown key bogus \(line 3\)"):
        load_config(path)


def test_unknown_nested_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[video]\nnot_a_knob = 1\n")
    with pytest.raises(ConfigError, match=r"unknown key video\.not_a_knob \(line 2\)"):
        load_config(path)


def test_wrong_type_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('seed = "seven"\n')
    with pytest.raises(ConfigError, match=r"seed must be int.*line 1"):
        load_config(path)


def test_invalid_toml_is_one_line(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("fps = = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_merge_overrides_nested():
    config = merge_overrides(RenderConfig(), {"video": {"crf": 10, "codec": None}, "fps": 25.0})
    assert config.video.crf == 10 and config.fps == 25.0


@pytest.mark.parametrize("given, expected", [
    (30, Fraction(30)), (29.97, Fraction(30000, 1001)), ("30000/1001", Fraction(30000, 1001)),
    (23.976, Fraction(24000, 1001)), (59.94, Fraction(60000, 1001)), (25.0, Fraction(25)), (12.5, Fraction(25, 2)),
])
def test_exact_fps(given, expected):
    assert exact_fps(given) == expected


@pytest.mark.parametrize("bad", [0, -1, "abc", float("nan"), float("inf"), "1/0"])
def test_bad_fps(bad):
    with pytest.raises(ConfigError):
        exact_fps(bad)


@pytest.mark.parametrize("duration, fps, expected", [
    (10.0, 30, 300), (10.0, Fraction(30000, 1001), 300), (10.01, 30, 301), (1 / 30, 30, 1),
    (0.001, 24, 1), (0.0, 30, 0), (3.0, 29.97, 90), (7.3, 60, 438),
])
def test_frame_count_is_exact_ceil(duration, fps, expected):
    assert frame_count(duration, exact_fps(fps) if not isinstance(fps, Fraction) else fps) == expected
