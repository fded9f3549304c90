"""Per-frame features from synthesized audio with known answers."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from musicvideo.audio import AnalysisConfig, analyze, decode_audio, exact_fps, frame_count
from musicvideo.audio.decode import decode_segment
from musicvideo.audio.features import analyze_song, loudness_db_at
from musicvideo.audio.synth import beat_times, click_track, loud_quiet_song, tone_with_envelope
from musicvideo.errors import AudioError

from _audio_helpers import audio_cache, beat_f_measure, wav  # noqa: F401 - fixture

SR = 22050


def test_beat_f_measure_helper():
    ref = np.arange(10) * 0.5
    assert beat_f_measure(ref, ref + 0.05) == 1.0
    assert beat_f_measure(ref, ref + 0.1) == 0.0
    assert beat_f_measure(ref, ref[::2]) == pytest.approx(2 * 1 * 0.5 / 1.5)


@pytest.mark.parametrize("bpm", [90, 120, 128, 140, 160])
def test_click_track_beats_and_tempo(bpm, tmp_path, audio_cache):
    song = wav(tmp_path / f"click{bpm}.wav", click_track(bpm, 20.0, sample_rate=SR, offset_s=0.25), SR)
    features = analyze(song, fps=30)
    truth = beat_times(bpm, 20.0, offset_s=0.25)
    assert beat_f_measure(truth, features.beat_times_s, 0.07) >= 0.9
    assert abs(features.tempo_bpm - bpm) / bpm < 0.02
    # the per-frame impulse marks the frame nearest each beat
    assert features.beat.sum() == len(features.beat_times_s)
    frames = np.flatnonzero(features.beat)
    assert np.all(np.abs(features.times_s[frames] - features.beat_times_s) <= 0.5 / 30 + 1e-9)


def test_loudness_follows_known_envelope(tmp_path, audio_cache):
    def envelope(t):
        return 0.05 + 0.9 * (0.5 - 0.5 * np.cos(2 * np.pi * t / 4.0))  # 0.05 .. 0.95, 4 s period

    song = wav(tmp_path / "tone.wav", tone_with_envelope(envelope, 12.0, sample_rate=SR), SR)
    features = analyze(song, fps=25)
    expected = envelope(features.times_s)
    inner = slice(2, -2)  # the windows at the very ends are half outside the song
    # loudness is on a dB scale (floor_db .. 0 dBFS -> 0..1), so it follows the envelope's level in dB ...
    expected_unit = np.clip(1 + 20 * np.log10(expected / np.sqrt(2)) / 60.0, 0, 1)
    assert np.corrcoef(features.loudness[inner], expected_unit[inner])[0, 1] >= 0.99
    # ... and still correlates with the linear amplitude over a 25 dB range
    assert np.corrcoef(features.loudness[inner], expected[inner])[0, 1] >= 0.9
    # dBFS of a sine is 20 log10(amplitude / sqrt 2)
    expected_db = 20 * np.log10(expected / np.sqrt(2))
    assert np.corrcoef(features.loudness_db[inner], expected_db[inner])[0, 1] >= 0.99
    assert np.max(np.abs(features.loudness_db[inner] - expected_db[inner])) < 1.0


def test_numpy_loudness_equals_pydub(tmp_path):
    rng = np.random.default_rng(1)
    from musicvideo.audio.features import analyze_file

    n = 44100 * 12  # more than one of the 10 s blocks the file analysis streams in
    stereo = (rng.standard_normal((2, n)) * np.linspace(0.01, 0.3, n)).astype(np.float32)
    song = wav(tmp_path / "noise.wav", stereo, 44100, "PCM_24")
    segment = decode_segment(song)
    config = AnalysisConfig(hpss=False, chroma=False)
    centres = np.array([0.1, 0.5, 1.234, 2.0, 2.9, 9.99, 10.0, 10.013, 11.9])
    for analysis in (analyze_song(decode_audio(song), config), analyze_file(song, config)):
        ours = loudness_db_at(analysis, centres, 0.05)
        for t, db in zip(centres, ours):
            c = int(round(t * 1000))
            assert db == pytest.approx(segment[c - 25:c + 25].dBFS, abs=0.01)


@pytest.mark.parametrize("fps, duration, expected", [
    (24, 10.0, 240), (25, 10.0, 250), (30, 10.0, 300), (29.97, 10.0, 300), (60, 10.0, 600),
    (30, 10.01, 301), (Fraction(30000, 1001), 1001 / 30000 * 7, 7), ("30000/1001", 3.0, 90),
])
def test_exact_frame_counts(fps, duration, expected):
    assert frame_count(duration, exact_fps(fps)) == expected


@pytest.mark.parametrize("fps", [24, 25, 30, 29.97, 60])
def test_analysis_has_exact_frame_count(fps, tmp_path, audio_cache):
    song = wav(tmp_path / "beat.wav", loud_quiet_song(6.0, sample_rate=SR), SR)
    features = analyze(song, fps=fps, start_s=1.0, duration_s=4.0)
    rate = exact_fps(fps)
    assert features.n_frames == frame_count(4.0, rate) == int(np.ceil(4.0 * float(rate) - 1e-9))
    for name in ("times_s", "loudness_db", "loudness", "onset", "beat", "percussive", "harmonic", "bass", "mid",
                 "treble"):
        assert len(getattr(features, name)) == features.n_frames, name
    assert features.chroma.shape == (features.n_frames, 12)
    np.testing.assert_allclose(features.times_s, 1.0 + np.arange(features.n_frames) / float(rate), atol=1e-12)


@pytest.mark.parametrize("fps", [30, 29.97])
def test_clip_equals_whole_song(fps, tmp_path, audio_cache):
    song = wav(tmp_path / "beat.wav", loud_quiet_song(8.0, sample_rate=SR), SR)
    rate = exact_fps(fps)
    whole = analyze(song, fps=rate)
    first = 45  # a clip starting on frame 45 of the whole song
    start = float(Fraction(first) / rate)
    clip = analyze(song, fps=rate, start_s=start, duration_s=3.0)
    part = slice(first, first + clip.n_frames)
    np.testing.assert_array_equal(clip.times_s, whole.times_s[part])
    for name in ("loudness_db", "loudness", "onset", "beat", "percussive", "harmonic", "chroma", "bass", "mid",
                 "treble"):
        np.testing.assert_array_equal(getattr(clip, name), getattr(whole, name)[part], err_msg=name)
    inside = whole.beat_times_s[(whole.beat_times_s >= clip.times_s[0] - 0.5 / float(rate))
                                & (whole.beat_times_s <= clip.times_s[-1] + 0.5 / float(rate))]
    np.testing.assert_array_equal(clip.beat_times_s, inside)
    assert clip.tempo_bpm == whole.tempo_bpm


def test_loud_and_quiet_sections_are_told_apart(tmp_path, audio_cache):
    song = wav(tmp_path / "lq.wav", loud_quiet_song(8.0, sample_rate=SR), SR)
    f = analyze(song, fps=30)
    quiet = (f.times_s % 4.0 > 0.3) & (f.times_s % 4.0 < 1.7)
    loud = (f.times_s % 4.0 > 2.3) & (f.times_s % 4.0 < 3.7)
    assert f.loudness_db[loud].mean() - f.loudness_db[quiet].mean() > 25
    assert f.percussive[loud].mean() > f.percussive[quiet].mean()
    assert f.bass[loud].mean() > f.bass[quiet].mean()


def test_silence_gives_zeros_not_nan(tmp_path, audio_cache):
    song = wav(tmp_path / "silence.wav", np.zeros(SR * 3, np.float32), SR)
    f = analyze(song, fps=30)
    assert f.n_frames == 90
    for name in ("loudness", "onset", "beat", "percussive", "harmonic", "chroma", "bass", "mid", "treble"):
        values = getattr(f, name)
        assert np.all(np.isfinite(values)) and np.all(values == 0), name
    assert np.all(np.isfinite(f.loudness_db))
    assert len(f.beat_times_s) == 0 and f.tempo_bpm == 0.0


def test_clip_shorter_than_one_frame_gives_one_frame(tmp_path, audio_cache):
    song = wav(tmp_path / "beat.wav", loud_quiet_song(3.0, sample_rate=SR), SR)
    f = analyze(song, fps=30, start_s=1.0, duration_s=0.01)
    assert f.n_frames == 1 and f.times_s[0] == 1.0


def test_duration_past_the_end(tmp_path, audio_cache):
    song = wav(tmp_path / "beat.wav", loud_quiet_song(3.0, sample_rate=SR), SR)
    with pytest.raises(AudioError, match=r"runs past the end of beat.wav \(3.000 s long\)"):
        analyze(song, fps=30, start_s=1.0, duration_s=100.0)  # far past the end: refused, as render refuses it
    f = analyze(song, fps=30, start_s=1.0, duration_s=2.0)
    assert f.n_frames == 60 and f.duration_s == pytest.approx(2.0)
    g = analyze(song, fps=30, start_s=1.0, duration_s=2.01)  # within a frame: kept, ceil(60.3) = 61 frames
    assert g.n_frames == 61 and g.times_s[-1] == 3.0
    assert g.onset[-1] == 0 and g.bass[-1] == 0 and g.chroma[-1].max() == 0  # after the last sample
    np.testing.assert_array_equal(g.loudness[:60], f.loudness)


def test_features_round_trip_npz(tmp_path, audio_cache):
    from musicvideo.audio import FrameFeatures

    song = wav(tmp_path / "beat.wav", loud_quiet_song(3.0, sample_rate=SR), SR)
    f = analyze(song, fps=29.97)
    f.save(tmp_path / "f.npz")
    g = FrameFeatures.load(tmp_path / "f.npz")
    for name in ("times_s", "loudness_db", "chroma", "beat_times_s"):
        np.testing.assert_array_equal(getattr(f, name), getattr(g, name))
    assert g.fps == f.fps and g.tempo_bpm == f.tempo_bpm and g.n_frames == f.n_frames


def test_band_hpss_and_chroma_calibration(tmp_path, audio_cache):
    # a steady 1 kHz sine at 0.5: -9 dBFS everywhere it appears, all of it in the mid band and the harmonic part
    t = np.arange(SR * 2) / SR
    song = wav(tmp_path / "sine.wav", 0.5 * np.sin(2 * np.pi * 1000 * t), SR, "FLOAT")
    f = analyze(song, fps=10)
    inner = slice(3, -3)
    expected = 1 + 20 * np.log10(0.5 / np.sqrt(2)) / 60
    np.testing.assert_allclose(f.loudness[inner], expected, atol=0.005)
    np.testing.assert_allclose(f.mid[inner], expected, atol=0.01)
    np.testing.assert_allclose(f.harmonic[inner], expected, atol=0.01)
    assert f.bass[inner].max() < 0.05 and f.treble[inner].max() < 0.05 and f.percussive[inner].max() < 0.3
    assert np.all(np.argmax(f.chroma[inner], axis=1) == 11)  # 1000 Hz is nearest to B (987.8 Hz)


@pytest.mark.parametrize("channels, rate, subtype", [(2, 44100, "PCM_16"), (1, 48000, "FLOAT"), (3, 22050, "PCM_24")])
def test_streamed_file_analysis_equals_the_in_memory_one(tmp_path, channels, rate, subtype):
    """The file is analysed 10 s at a time as it decodes; the result is bit for bit that of the decoded whole."""
    from musicvideo.audio.decode import PcmStream
    from musicvideo.audio.features import analyze_file, spectral_features

    rng = np.random.default_rng(channels)
    base = loud_quiet_song(23.7, sample_rate=rate)  # several 10 s blocks and a torn last one
    samples = np.stack([np.roll(base, 97 * c) * (1 - 0.2 * c) for c in range(channels)])
    samples += 0.01 * rng.standard_normal(samples.shape)
    song = wav(tmp_path / "song.wav", np.clip(samples, -1, 1).astype(np.float32), rate, subtype)
    clip = decode_audio(song)
    with PcmStream(song) as stream:
        blocks = list(stream.blocks(10 * rate))
    assert [b.shape[1] for b in blocks[:-1]] == [10 * rate] * (len(blocks) - 1)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), clip.samples)

    streamed, whole = analyze_file(song).to_arrays(), analyze_song(clip).to_arrays()
    assert streamed.keys() == whole.keys()
    for key in whole:
        np.testing.assert_array_equal(streamed[key], whole[key], err_msg=key)

    # the STFT blocks are the columns of one whole-signal librosa STFT
    import librosa

    config = AnalysisConfig()
    y = clip.samples.mean(axis=0)[: 5 * 22050]
    power = np.abs(librosa.stft(y, n_fft=config.n_fft, hop_length=config.hop_length)) ** 2
    import musicvideo.audio.features as features_module

    old = features_module.STFT_BLOCK_FRAMES
    features_module.STFT_BLOCK_FRAMES = 37  # many small blocks
    try:
        blocked = spectral_features(y, config)
    finally:
        features_module.STFT_BLOCK_FRAMES = old
    np.testing.assert_allclose(blocked["frame_power"], power.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(blocked["mel"], librosa.feature.melspectrogram(S=power, sr=22050), rtol=1e-4,
                               atol=1e-6)
