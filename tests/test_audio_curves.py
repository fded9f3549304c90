"""Reactive curves: ranges, fps independence, calm quiet parts and fast loud parts, beat decay."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musicvideo.audio import CurveConfig, analyze, reactive_curves
from musicvideo.audio.curves import attack_release, decaying_impulses, percentile_normalize
from musicvideo.audio.synth import loud_quiet_song
from musicvideo.errors import ConfigError

from _audio_helpers import audio_cache, wav  # noqa: F401 - fixture

SR = 22050


@pytest.fixture
def song(tmp_path):
    return wav(tmp_path / "lq.wav", loud_quiet_song(8.0, sample_rate=SR), SR)


def test_ranges_and_lengths(song, audio_cache):
    features = analyze(song, fps=30)
    curves = reactive_curves(features)
    for name in ("loudness", "onset", "beat", "pulse"):
        values = getattr(curves, name)
        assert len(values) == features.n_frames and values.dtype == np.float32, name
        assert values.min() >= 0 and values.max() <= 1, name
    assert curves.speed.min() >= CurveConfig().speed_min - 1e-6
    np.testing.assert_array_equal(curves.times_s, features.times_s)


def test_quiet_drifts_loud_moves(song, audio_cache):
    curves = reactive_curves(analyze(song, fps=30))
    t = curves.times_s
    quiet = (t % 4.0 > 1.2) & (t % 4.0 < 1.95)  # 1.2 s after a loud part: past the 0.5 s release
    loud = (t % 4.0 > 2.5) & (t % 4.0 < 3.9)
    assert curves.speed[quiet].mean() < 0.15
    assert curves.speed[loud].mean() > 0.5
    assert curves.loudness[quiet].max() < 0.2 and curves.loudness[loud].min() > 0.7


def test_curves_do_not_depend_on_fps(song, audio_cache):
    slow = reactive_curves(analyze(song, fps=24))
    fast = reactive_curves(analyze(song, fps=60))
    # compare at the times both frame grids share (every 1/12 s)
    common = np.arange(0, 8.0, 1 / 12)
    a = np.interp(common, slow.times_s, slow.loudness)
    b = np.interp(common, fast.times_s, fast.loudness)
    assert np.mean(np.abs(a - b)) < 0.03
    assert np.mean(np.abs(np.interp(common, slow.times_s, slow.speed) -
                          np.interp(common, fast.times_s, fast.speed))) < 0.06


def test_attack_release_time_constants_in_seconds():
    for fps in (20, 50):  # 0.1 s and 0.5 s are whole numbers of frames at both rates
        step = np.r_[np.zeros(fps), np.ones(fps * 3), np.zeros(fps * 3)].astype(np.float32)
        env = attack_release(step, fps, 0.1, 0.5)
        # after one time constant a one-pole follower covers 1 - 1/e of a step
        assert env[fps + round(0.1 * fps) - 1] == pytest.approx(1 - math.exp(-1), abs=1e-5)
        assert env[4 * fps + round(0.5 * fps) - 1] == pytest.approx(math.exp(-1) * env[4 * fps - 1], abs=1e-5)


def test_beat_decays_with_release():
    fps = 50
    impulses = np.zeros(100, np.float32)
    impulses[10] = 1.0
    env = decaying_impulses(impulses, fps, 0.2)
    assert env[10] == 1.0 and env[:10].max() == 0
    assert env[20] == pytest.approx(math.exp(-1), rel=1e-3)  # 0.2 s later


def test_percentile_normalize_clips_outliers_and_keeps_silence_zero():
    x = np.r_[np.linspace(0.2, 0.6, 100), 1.0]
    y = percentile_normalize(x, 5, 95)
    assert y.max() == 1 and y.min() == 0 and (y == 1).sum() > 1
    assert np.all(percentile_normalize(np.zeros(50), 5, 95, min_range=0.1) == 0)


def test_silence_gives_calm_zeros(tmp_path, audio_cache):
    song = wav(tmp_path / "silence.wav", np.zeros(SR * 2, np.float32), SR)
    curves = reactive_curves(analyze(song, fps=30))
    for name in ("loudness", "onset", "beat", "pulse"):
        assert np.all(getattr(curves, name) == 0), name
    calmest = CurveConfig().speed_min * CurveConfig().character_min  # silence is the calmest song there is
    assert np.allclose(curves.speed, calmest) and curves.character.energy == 0


def test_clips_can_share_the_whole_song_scale(song, audio_cache):
    whole = analyze(song, fps=30)
    clip = analyze(song, fps=30, start_s=2.0, duration_s=2.0)  # only a loud section
    alone = reactive_curves(clip)
    shared = reactive_curves(clip, reference=whole)
    full = reactive_curves(whole)
    np.testing.assert_allclose(shared.loudness[30:], full.loudness[60 + 30:120], atol=0.02)
    assert alone.loudness.mean() < shared.loudness.mean() + 0.3


def test_bad_config_is_config_error():
    with pytest.raises(ConfigError):
        CurveConfig(low_percentile=90, high_percentile=10)
    with pytest.raises(ConfigError):
        CurveConfig(speed_min=1.0, speed_max=0.5)
    with pytest.raises(ConfigError):
        CurveConfig(pulse_source="drums")


def test_config_tables_load_from_toml(tmp_path):
    from musicvideo.config import dataclass_from_dict
    from musicvideo.audio import AnalysisConfig

    curves = dataclass_from_dict(CurveConfig, {"release_s": 0.4, "pulse_source": "both"})
    assert curves.release_s == 0.4 and curves.pulse_source == "both"
    analysis = dataclass_from_dict(AnalysisConfig, {"hop_length": 256, "hpss": False})
    assert analysis.hop_length == 256 and analysis.hpss is False
    with pytest.raises(ConfigError, match="speed_mn"):
        dataclass_from_dict(CurveConfig, {"speed_mn": 1.0})
