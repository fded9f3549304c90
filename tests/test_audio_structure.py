"""The song's form through the pipeline: frame positions, whole-song structure in clips, outputs, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from musicvideo.audio import FrameFeatures, analyze
from musicvideo.audio.structure import frame_positions, section_start_bars
from musicvideo.audio.synth import demo_song, tone_with_envelope

from _audio_helpers import audio_cache, wav  # noqa: F401 - fixture

SR = 22050
STRUCTURE_KEYS = ("beat_times_s", "downbeat_times_s", "beat_confidence", "section_starts_s", "section_labels")


def test_frame_positions_on_a_known_grid():
    beats = np.arange(0.5, 20.0, 0.5)  # a pickup beat at 0.5, bars of 4 from 1.0
    downbeats = beats[1::4]
    times = np.array([0.0, 0.6, 1.0, 1.49, 1.5, 2.99, 3.0, 9.0, 12.0, 19.9])
    where = frame_positions(times, beat_times_s=beats, downbeat_times_s=downbeats,
                            section_starts_s=np.array([0.0, 9.0, 17.0]))
    assert where.bar_index.tolist() == [-1, -1, 0, 0, 0, 0, 1, 4, 5, 9]
    assert where.beat_in_bar.tolist() == [0, 0, 1, 1, 2, 4, 1, 1, 3, 2]
    assert where.section_index.tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1, 2]
    # with half a frame of tolerance, the frame just before a beat (the one that shows it) is already on it
    early = frame_positions(np.array([2.99, 0.99]), beat_times_s=beats, downbeat_times_s=downbeats,
                            section_starts_s=np.zeros(1), tolerance_s=0.02)
    assert early.bar_index.tolist() == [1, 0] and early.beat_in_bar.tolist() == [1, 1]


def test_bar_positions_follow_the_songs_downbeats():
    downbeats = np.array([1.0, 3.0, 4.0, 6.0])  # bars of 2 s, 1 s, 2 s
    where = frame_positions(np.array([0.0, 1.0, 2.0, 3.5, 5.0, 8.0]), beat_times_s=np.arange(1.0, 7.0, 0.5),
                            downbeat_times_s=downbeats, section_starts_s=np.zeros(1))
    np.testing.assert_allclose(where.bar_position, [-0.5, 0.0, 0.5, 1.5, 2.5, 4.0])
    assert section_start_bars(np.array([0.0, 3.0, 5.9999]), downbeats).tolist() == [0, 1, 3]
    assert section_start_bars(np.array([0.0]), np.zeros(0)).tolist() == [-1]


def test_frame_positions_without_beats():
    where = frame_positions(np.linspace(0, 5, 11), beat_times_s=np.zeros(0), downbeat_times_s=np.zeros(0),
                            section_starts_s=np.zeros(1))
    assert np.all(where.bar_index == -1) and np.all(where.beat_in_bar == 0) and np.all(where.section_index == 0)
    assert np.all(where.bar_position == -1.0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.wav"
    return wav(path, demo_song(24.0, SR), SR)


def test_clip_keeps_the_whole_songs_form(demo, audio_cache):
    whole = analyze(demo, fps=30)
    clip = analyze(demo, fps=30, start_s=9.0, duration_s=6.0)
    for key in ("section_starts_s", "section_labels"):
        assert np.array_equal(getattr(clip, key), getattr(whole, key))
    assert clip.beat_confidence == whole.beat_confidence and clip.beats_per_bar == whole.beats_per_bar
    offset = 9 * 30
    assert np.array_equal(clip.section_start_bars, whole.section_start_bars)
    for key in ("bar_index", "bar_position", "beat_in_bar", "section_index", "downbeat", "beat",
                "local_beat_confidence"):
        assert np.array_equal(getattr(clip, key), getattr(whole, key)[offset:offset + clip.n_frames]), key
    assert np.all((clip.downbeat_times_s >= 9.0 - 1 / 60) & (clip.downbeat_times_s < 15.0 + 1 / 60))
    # downbeats are beats, and each downbeat frame starts a bar
    assert set(np.round(whole.downbeat_times_s, 6)) <= set(np.round(whole.beat_times_s, 6))
    down = np.flatnonzero(whole.downbeat)
    assert np.all(whole.beat_in_bar[down] == 1) or whole.beats_per_bar == 0


def test_outputs_carry_the_structure(demo, tmp_path, audio_cache):
    features = analyze(demo, fps=25, start_s=2.0, duration_s=8.0)
    npz = features.save(tmp_path / "f.npz")
    back = FrameFeatures.load(npz)
    for key in STRUCTURE_KEYS + ("beats_per_bar", "bar_index", "beat_in_bar", "section_index", "downbeat"):
        assert np.array_equal(np.asarray(getattr(back, key)), np.asarray(getattr(features, key))), key
    with np.load(npz) as data:
        assert set(STRUCTURE_KEYS) <= set(data.files)
        assert data["section_labels"].dtype.kind == "U"  # strings, readable without pickle
    data = json.loads(features.save(tmp_path / "f.json").read_text())
    assert data["section_labels"] == [str(x) for x in features.section_labels]
    assert data["downbeat_times_s"] == pytest.approx(features.downbeat_times_s.tolist())
    assert len(data["section_index"]) == features.n_frames
    text = features.save(tmp_path / "f.csv").read_text()
    assert f"beat_confidence={features.beat_confidence:.3f}" in text.splitlines()[0]
    assert "# section_labels: " + " ".join(features.section_labels) in text


@pytest.mark.parametrize("kind", ["silence", "one_second", "long_sine"])
def test_bad_input_gives_a_sensible_form(kind, tmp_path, audio_cache):
    if kind == "silence":
        samples = np.zeros(SR * 5, np.float32)
    elif kind == "one_second":
        samples = tone_with_envelope(lambda t: np.exp(-t * 3), 1.0, sample_rate=SR, freq_hz=330)
    else:  # three minutes of one steady sine: no beat, one section
        samples = tone_with_envelope(lambda t: 0.5 + 0 * t, 180.0, sample_rate=SR, freq_hz=220)
    features = analyze(wav(tmp_path / f"{kind}.wav", samples, SR), fps=30)
    for name in FrameFeatures.PER_FRAME:
        assert np.all(np.isfinite(getattr(features, name))), name
    assert np.isfinite(features.beat_confidence) and 0.0 <= features.beat_confidence <= 1.0
    assert len(features.section_labels) == 1 and features.section_starts_s.tolist() == [0.0]
    if kind != "one_second":
        assert len(features.beat_times_s) == 0 and features.tempo_bpm == 0.0
        assert len(features.downbeat_times_s) == 0 and features.beats_per_bar == 0
        assert features.beat_confidence < 0.3
