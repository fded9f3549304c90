"""The ground-truth songs (musicvideo.audio.groundtruth): deterministic, consistent truth, kicks on the beats."""

from __future__ import annotations

import numpy as np
import pytest

from musicvideo.audio import arrangement
from musicvideo.audio import groundtruth as gt
from musicvideo.audio.decode import AudioClip
from musicvideo.audio.synth import _fast_fft_size

ALL_CASES = gt.TUNING_CASES + gt.HELD_OUT_CASES + gt.HELD_OUT_2_CASES
# the cases whose audio is synthesized here (once per session: make_case caches); the truth of all is checked
AUDIO_CASES = ("groove", "syncopated_lead", "waltz", "free_intro", "beatless_pad", "drift", "dj_change")


def _low_band_onsets(song: gt.TruthSong, times_s: np.ndarray, *, cutoff_hz: float = 200.0) -> np.ndarray:
    """Where the low band (Gaussian low-pass, ~1.5 ms of smoothing, no phase shift) first rises a quarter of the
    way from its level just before each given time to its peak just after: the kick's onset near that time."""
    x = song.samples.astype(np.float64).mean(axis=0)
    sr = song.sample_rate
    size = _fast_fft_size(len(x))  # a 2^a 3^b 5^c size: fast whatever the song's length
    freqs = np.fft.rfftfreq(size, 1 / sr)
    low = np.fft.irfft(np.fft.rfft(x, size) * np.exp(-(freqs / cutoff_hz) ** 2), size)[:len(x)]
    w = max(1, int(0.001 * sr))
    env = np.sqrt(np.convolve(low ** 2, np.ones(w) / w, mode="same"))
    found = []
    for t in times_s:
        i = int(round(t * sr))
        before = np.median(env[max(i - int(0.04 * sr), 0):max(i - int(0.01 * sr), 1)])
        peak = env[i:i + int(0.06 * sr)].max()
        a = i - int(0.03 * sr)
        above = np.flatnonzero(env[a:i + int(0.06 * sr)] > before + 0.25 * (peak - before))
        found.append((a + above[0]) / sr)
    return np.array(found)


def test_case_lists():
    assert {"groove", "syncopated_lead", "half_time", "swing", "waltz", "tempo_ramp", "free_intro", "beatless_pad",
            "verse_chorus", "drift", "dj_change"} <= set(gt.TUNING_CASES)
    assert not set(gt.TUNING_CASES) & set(gt.HELD_OUT_CASES)
    assert all(name.startswith("ho_") for name in gt.HELD_OUT_CASES)
    assert all(name.startswith("h2_") for name in gt.HELD_OUT_2_CASES)
    with pytest.raises(KeyError):
        gt.make_case("no_such_case")
    with pytest.raises(ValueError):
        gt.truth_set("everything")


def test_deterministic():
    for name in ("drift",):
        again = gt._build(name)  # bypasses make_case's cache
        first = gt.make_case(name)
        np.testing.assert_array_equal(first.samples, again.samples)
        np.testing.assert_array_equal(first.beat_times_s, again.beat_times_s)
        assert first.section_labels == again.section_labels


@pytest.mark.parametrize("name", AUDIO_CASES)
def test_audio(name):
    song = gt.make_case(name)
    assert song.name == name
    assert song.samples.dtype == np.float32 and song.samples.shape[0] == 2
    assert song.sample_rate in (22050, 44100)
    assert np.all(np.isfinite(song.samples)) and np.max(np.abs(song.samples)) <= 1.0
    assert np.max(np.abs(song.samples)) > 0.3  # not silent
    assert 30.0 <= song.duration_s <= 72.0
    assert len(song.beat_times_s) == 0 or song.beat_times_s[-1] < song.duration_s - 1.0
    truth = gt._case_truth(name)
    for key, value in truth.items():
        assert np.array_equal(getattr(song, key), value) if isinstance(value, np.ndarray) else \
            getattr(song, key) == value


@pytest.mark.parametrize("name", ALL_CASES)
def test_truth_consistent(name):
    song = gt.TruthSong(name, np.zeros((2, 1), np.float32), 22050, **gt._case_truth(name))
    beats, downs = song.beat_times_s, song.downbeat_times_s
    assert beats.dtype == np.float64 and downs.dtype == np.float64
    starts, labels = song.section_starts_s, song.section_labels
    assert starts[0] == 0.0 and len(starts) == len(labels) and np.all(np.diff(starts) > 0)
    assert labels[0] == "A"
    if not song.has_beat:
        assert len(beats) == 0 and len(downs) == 0 and song.beats_per_bar == 0
        assert labels == ["A"]
        return
    assert song.beats_per_bar in (3, 4)
    assert np.all(np.diff(beats) > 0.25) and beats[0] >= 0.0
    assert np.all(np.isin(downs, beats))
    # every bar has beats_per_bar beats, the last one complete
    idx = np.searchsorted(beats, downs)
    assert np.all(np.diff(idx) == song.beats_per_bar)
    assert idx[0] == 0 and len(beats) - idx[-1] == song.beats_per_bar
    # sections after the first start on downbeats
    assert np.all(np.isin(starts[1:], downs))
    # labels: first appearance in order, A B C ...
    seen = []
    for label in labels:
        if label not in seen:
            assert label == chr(ord("A") + len(seen))
            seen.append(label)


def test_designed_forms():
    truth = gt._case_truth
    vc = truth("verse_chorus")
    assert vc["section_labels"] == ["A", "B", "A", "B"]
    assert np.allclose(np.diff(vc["section_starts_s"][1:]), 8 * 4 * 0.5)  # 8 bars of 4 beats at 120 BPM
    assert truth("ho_form")["section_labels"] == ["A", "B", "C", "B", "C"]
    for name in ("free_intro", "ho_free_intro"):
        intro = truth(name)
        assert intro["section_labels"] == ["A", "B"] and intro["beat_times_s"][0] >= 10.0
        assert intro["section_starts_s"][1] == intro["beat_times_s"][0]
    assert truth("waltz")["beats_per_bar"] == 3 and truth("ho_waltz")["beats_per_bar"] == 3
    periods = np.diff(truth("dj_change")["beat_times_s"])
    assert np.isclose(60 / periods[0], 118) and np.isclose(60 / periods[-1], 128)
    ramp = np.diff(truth("tempo_ramp")["beat_times_s"])
    assert 60 / ramp[0] < 100 and 60 / ramp[-1] > 125
    drift = np.diff(truth("drift")["beat_times_s"])
    assert 0.5 * 0.88 < drift.min() and drift.max() < 0.5 / 0.88 and np.std(drift) > 0.005  # played, not a grid


@pytest.mark.parametrize("name", [c for c in AUDIO_CASES if c != "beatless_pad"])
def test_kick_on_the_downbeats(name):
    song = gt.make_case(name)
    found = _low_band_onsets(song, song.downbeat_times_s)
    assert np.max(np.abs(found - song.downbeat_times_s)) < 0.005


def test_kick_on_beats_1_and_3_of_groove():
    song = gt.make_case("groove")
    kicks = song.beat_times_s[::2]
    assert np.max(np.abs(_low_band_onsets(song, kicks) - kicks)) < 0.005


def test_syncopated_lead_comes_a_sixteenth_early_and_louder():
    name = "syncopated_lead"
    song, _ = gt._arrangement(name)
    renderer = arrangement.Renderer(song)
    arrangement.render_bars(renderer)
    kick, lead = renderer.stems["kick"], renderer.stems["lead"]
    assert np.sqrt(np.mean(lead ** 2)) > np.sqrt(np.mean(kick ** 2))  # louder (and far brighter)
    truth = gt.make_case(name)
    sixteenth = np.median(np.diff(truth.beat_times_s)) / 4
    sr = renderer.sr
    # note starts: the first sound after at least 5 ms of silence
    silent = np.abs(lead) <= 1e-6
    run = int(0.005 * sr)
    quiet_before = np.convolve(silent, np.ones(run), mode="full")[:len(lead)] >= run  # the run ending here
    starts = np.flatnonzero(~silent[1:] & quiet_before[:-1]) / sr + 1 / sr
    nearest = truth.beat_times_s[np.argmin(np.abs(truth.beat_times_s[:, None] - starts[None, :]), axis=0)]
    offsets = starts - nearest
    assert np.mean(np.abs(offsets + sixteenth) < 0.002) >= 0.7  # most lead notes a sixteenth before a beat
    assert np.all(np.abs(offsets) > 0.01)  # none on the beat


def test_clip_and_truth_set():
    song = gt.make_case("groove")
    clip = song.clip()
    assert isinstance(clip, AudioClip) and clip.sample_rate == song.sample_rate
    assert clip.samples.shape == song.samples.shape


def test_truth_set(monkeypatch):
    monkeypatch.setattr(gt, "make_case", lambda name: name)  # names only: synthesizing all is the benchmark's job
    assert gt.truth_set() == list(gt.TUNING_CASES)
    assert gt.truth_set("held_out") == list(gt.HELD_OUT_CASES)
    assert gt.truth_set("held_out_2") == list(gt.HELD_OUT_2_CASES)


def test_instruments_start_at_sample_zero():
    from musicvideo.audio import synth

    sr = 22050
    sounds = [synth.kick_drum(sr), synth.snare_drum(sr), synth.clap(sr), synth.hihat(sr),
              synth.bass_note(55.0, 0.5, sr), synth.lead_note(440.0, 0.3, sr), synth.piano_note(262.0, 1.0, sr),
              synth.pad_note(220.0, 2.0, sr, attack_s=0.01)]
    for sound in sounds:
        assert sound.dtype == np.float64 and np.all(np.isfinite(sound))
        peak = np.max(np.abs(sound))
        # loud within 10 ms of the start: the onset of a placed hit is its time
        assert np.max(np.abs(sound[:int(0.01 * sr)])) > 0.2 * peak
    wet = synth.reverb(np.r_[1.0, np.zeros(sr - 1)], sr, decay_s=0.5, stereo=True)
    assert wet.shape == (2, sr) and np.all(np.isfinite(wet))
    assert np.max(np.abs(wet[:, :int(0.015 * sr)])) < 1e-3 * np.max(np.abs(wet))  # the pre-delay


def test_write_case(tmp_path):
    beats = np.arange(10) * 0.5 + 0.1
    song = gt.TruthSong("tiny", np.zeros((2, 22050 * 6), np.float32), 22050, beats, beats[[0, 3, 6]], 3,
                        np.array([0.0, beats[6]]), ["A", "B"], True)
    wav = gt.write_case(song, tmp_path / "out")
    assert wav == tmp_path / "out" / "tiny.wav" and wav.stat().st_size > 0
    table = np.loadtxt(tmp_path / "out" / "tiny.beats")
    np.testing.assert_allclose(table[:, 0], beats, atol=1e-6)
    assert table[:, 1].tolist() == [1, 2, 3, 1, 2, 3, 1, 2, 3, 4]  # the last bar runs on to the end
    assert (tmp_path / "out" / "tiny.sections").read_text().split() == ["0.000000", "A", "3.100000", "B"]
