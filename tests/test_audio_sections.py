"""Structural segmentation (audio/sections.py): known forms, repeated parts, songs without parts, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import musicvideo.audio.structure as structure
from musicvideo.audio.features import analyze_song
from musicvideo.audio.sections import Sections, find_sections

SR, HOP = 22050, 512
FRAME_RATE = SR / HOP


@pytest.fixture(scope="module")
def verse_chorus():
    """The ground truth's A-B-A-B song (8 bars each at 120 BPM), its end-to-end analysis, and the spectra the
    analysis handed to find_sections (captured, so the truth-beat tests segment exactly what the analysis sees)."""
    from musicvideo.audio.groundtruth import make_case

    song = make_case("verse_chorus")
    seen = {}

    def capture(**kwargs):
        seen.update(kwargs)
        return find_sections(**kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(structure, "find_sections", capture)
        analysis = analyze_song(song.clip())
    return song, analysis, seen


def _with_truth_beats(seen, song, **extra):
    kwargs = dict(seen, beat_times_s=np.asarray(song.beat_times_s), downbeat_times_s=np.asarray(song.downbeat_times_s),
                  beat_confidence=1.0)
    kwargs.update(extra)
    return kwargs


def _assert_form(starts_s, labels, song):
    beat_s = 60.0 / song.tempo_bpm
    assert list(labels) == list(song.section_labels) == ["A", "B", "A", "B"]
    assert len(starts_s) == len(song.section_starts_s)
    assert np.max(np.abs(np.asarray(starts_s) - song.section_starts_s)) < beat_s


def test_verse_chorus_with_truth_beats(verse_chorus):
    song, _, seen = verse_chorus
    form = find_sections(**_with_truth_beats(seen, song))
    _assert_form(form.starts_s, form.labels, song)
    # every start after the first is one of the song's downbeats, exactly
    assert form.starts_s[0] == 0.0
    assert all(np.min(np.abs(song.downbeat_times_s - t)) < 1e-9 for t in form.starts_s[1:])


def test_verse_chorus_end_to_end(verse_chorus):
    song, analysis, _ = verse_chorus
    _assert_form(analysis.section_starts_s, analysis.section_labels, song)


@pytest.mark.parametrize("seed", range(6))
def test_verse_chorus_survives_beat_jitter(verse_chorus, seed):
    # beats 10 ms off (a tracker's usual error) must not move a boundary by a bar: the crash cymbal on each part's
    # first downbeat and the release tails make the bar after a change ambiguous, and only the phrase grid and the
    # rhythm features keep the boundary on the downbeat
    song, _, seen = verse_chorus
    rng = np.random.default_rng(seed)
    beats = np.asarray(song.beat_times_s) + rng.normal(0.0, 0.01, len(song.beat_times_s))
    downbeats = beats[np.isin(song.beat_times_s, song.downbeat_times_s)]
    form = find_sections(**_with_truth_beats(seen, song, beat_times_s=beats, downbeat_times_s=downbeats))
    _assert_form(form.starts_s, form.labels, song)


def test_deterministic(verse_chorus):
    song, _, seen = verse_chorus
    kwargs = _with_truth_beats(seen, song)
    first = find_sections(**kwargs)
    np.random.seed(123)  # the global random state plays no part
    again = find_sections(**kwargs)
    assert first.labels == again.labels and np.array_equal(first.starts_s, again.starts_s)


def test_untrusted_beats_are_not_used(verse_chorus):
    song, _, seen = verse_chorus
    # with a low confidence the beats are ignored: half-second windows, boundaries not snapped to downbeats (so
    # a crash cymbal's wash or a reverb tail can put one a window or three late; +-3 s is the field's lenient
    # tolerance for unsnapped boundaries)
    form = find_sections(**_with_truth_beats(seen, song, beat_confidence=0.1))
    assert form.labels == ["A", "B", "A", "B"]
    assert np.max(np.abs(form.starts_s - song.section_starts_s)) <= 2.0
    assert not np.any(np.isin(form.starts_s[1:], song.downbeat_times_s))


# ---------------------------------------------------------------- synthetic spectra with a known form

def _synthetic(form: str, *, bars: int = 8, bpm: float = 120.0, seed: int = 0, jitter_s: float = 0.0):
    """Mel power and chroma of a song whose parts (letters of ``form``) have their own spectrum and pitch classes,
    with a pulse on every beat, noise, and downbeats every 4 beats (optionally jittered)."""
    rng = np.random.default_rng(seed)
    beat_s = 60.0 / bpm
    n_beats = bars * 4 * len(form)
    beats = np.arange(n_beats) * beat_s + 0.1
    beats[1:] += rng.uniform(-jitter_s, jitter_s, n_beats - 1)
    duration = beats[-1] + beat_s
    k = int(duration * FRAME_RATE)
    t = np.arange(k) / FRAME_RATE
    parts = {c: (np.exp(rng.normal(0, 1.5, 128)), rng.random(12) ** 3) for c in sorted(set(form))}
    which = np.minimum(np.searchsorted(beats, t, side="right") - 1, n_beats - 1) // (bars * 4)
    which = np.clip(which, 0, len(form) - 1)
    since = t - beats[np.clip(np.searchsorted(beats, t, side="right") - 1, 0, None)]
    pulse = 1.0 + 3.0 * np.exp(-np.maximum(since, 0) / 0.08)
    mel = np.stack([parts[form[w]][0] for w in which], axis=1) * pulse * np.exp(rng.normal(0, 0.3, (128, k)))
    chroma = np.stack([parts[form[w]][1] for w in which]) + 0.05 * rng.random((k, 12))
    starts = beats[np.arange(len(form)) * bars * 4]
    starts[0] = 0.0
    return dict(mel=mel, chroma=chroma, beat_times_s=beats, downbeat_times_s=beats[::4], duration_s=duration,
                sr=SR, hop_length=HOP, beat_confidence=0.9), starts


@pytest.mark.parametrize("form, labels", [("XYXY", "ABAB"), ("YXZX", "ABCB"), ("XYXZ", "ABAC"), ("XXYY", "AB")])
def test_labels_follow_first_appearance(form, labels):
    kwargs, starts = _synthetic(form)
    result = find_sections(**kwargs)
    assert "".join(result.labels) == labels
    # repeated neighbours are one section: the starts are where the part changes
    change = np.concatenate([[True], np.array(list(form[1:])) != np.array(list(form[:-1]))])
    np.testing.assert_allclose(result.starts_s, starts[change], atol=1e-9)


def test_starts_are_downbeats_of_an_irregular_grid():
    kwargs, starts = _synthetic("XYZY", jitter_s=0.03, seed=3)
    result = find_sections(**kwargs)
    assert result.labels == ["A", "B", "C", "B"]
    assert result.starts_s[0] == 0.0
    downbeats = kwargs["downbeat_times_s"]
    for t in result.starts_s[1:]:
        assert np.min(np.abs(downbeats - t)) == 0.0
    np.testing.assert_allclose(result.starts_s, starts, atol=1e-9)


def test_one_part_song_is_one_section():
    kwargs, _ = _synthetic("XXXX", seed=5)
    assert find_sections(**kwargs).labels == ["A"]


# ---------------------------------------------------------------- songs without parts and bad input

def _spectra_of(samples: np.ndarray):
    import librosa

    power = np.abs(librosa.stft(samples, n_fft=2048, hop_length=HOP)) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=SR, n_mels=128)
    chroma = np.nan_to_num(librosa.feature.chroma_stft(S=power, sr=SR, tuning=0.0).T)
    chroma[np.max(mel, axis=0) <= 1e-10] = 0.0
    return mel, chroma


def _no_beats(mel, chroma, duration_s):
    return dict(mel=mel, chroma=chroma, beat_times_s=np.zeros(0), downbeat_times_s=np.zeros(0),
                duration_s=duration_s, sr=SR, hop_length=HOP, beat_confidence=0.0)


def _assert_one_section(result: Sections):
    assert result.labels == ["A"]
    assert result.starts_s.tolist() == [0.0] and result.starts_s.dtype == np.float64


def test_beatless_pad_is_one_section():
    from musicvideo.audio.groundtruth import make_case

    song = make_case("beatless_pad")
    mono = song.samples.mean(axis=0) if song.samples.ndim == 2 else song.samples
    if song.sample_rate != SR:
        import librosa

        mono = librosa.resample(mono, orig_sr=song.sample_rate, target_sr=SR)
    mel, chroma = _spectra_of(np.ascontiguousarray(mono, np.float32))
    _assert_one_section(find_sections(**_no_beats(mel, chroma, song.duration_s)))


@pytest.mark.parametrize("kind", ["silence", "sine", "one_second", "noise"])
def test_uniform_audio_is_one_section(kind):
    t = np.arange(int((1.0 if kind == "one_second" else 60.0) * SR)) / SR
    rng = np.random.default_rng(0)
    samples = {"silence": np.zeros_like(t), "sine": 0.5 * np.sin(2 * np.pi * 440 * t),
               "one_second": 0.5 * np.sin(2 * np.pi * 220 * t), "noise": 0.1 * rng.standard_normal(len(t))}[kind]
    mel, chroma = _spectra_of(samples.astype(np.float32))
    _assert_one_section(find_sections(**_no_beats(mel, chroma, len(t) / SR)))
    # the same with a steady (made-up) beat grid trusted
    beats = np.arange(0.0, len(t) / SR, 0.5)
    kwargs = dict(_no_beats(mel, chroma, len(t) / SR), beat_times_s=beats, downbeat_times_s=beats[::4],
                  beat_confidence=1.0)
    _assert_one_section(find_sections(**kwargs))


@pytest.mark.parametrize("case", ["empty", "one_frame", "nan", "short_chroma", "bad_beats", "zero_duration"])
def test_degenerate_input(case):
    rng = np.random.default_rng(1)
    mel, chroma = rng.random((128, 2000)), rng.random((2000, 12))
    beats = np.arange(0.0, 40.0, 0.5)
    kwargs = dict(mel=mel, chroma=chroma, beat_times_s=beats, downbeat_times_s=beats[::4], duration_s=2000 / FRAME_RATE,
                  sr=SR, hop_length=HOP, beat_confidence=1.0)
    if case == "empty":
        kwargs.update(mel=np.zeros((128, 0)), chroma=np.zeros((0, 12)), duration_s=0.0)
    elif case == "one_frame":
        kwargs.update(mel=mel[:, :1], chroma=chroma[:1], duration_s=0.02)
    elif case == "nan":
        mel[3, 100] = np.nan
        kwargs.update(mel=mel)
    elif case == "short_chroma":
        kwargs.update(chroma=chroma[:100])
    elif case == "bad_beats":
        kwargs.update(beat_times_s=np.array([np.nan, -1.0, 5.0, 1e9]), downbeat_times_s=np.array([np.inf]))
    elif case == "zero_duration":
        kwargs.update(duration_s=0.0)
    result = find_sections(**kwargs)
    assert result.starts_s[0] == 0.0 and np.all(np.isfinite(result.starts_s))
    assert len(result.labels) == len(result.starts_s) and result.labels[0] == "A"
    assert np.all(np.diff(result.starts_s) > 0)
