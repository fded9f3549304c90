"""Decoding every format, sample format, channel count and rate through pydub + the bundled ffmpeg (no ffprobe)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from musicvideo.audio import analyze, audio_duration_s, decode_audio
from musicvideo.errors import AudioError
from musicvideo.ffmpeg import ffmpeg_exe

from _audio_helpers import SHARED_AUDIO, audio_cache, beat_f_measure, wav  # noqa: F401 - fixture


def _sine(sample_rate: int, channels: int, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    # a different pitch and level per channel, so a channel mix-up would show
    return np.stack([(0.5 / (c + 1)) * np.sin(2 * np.pi * (220 * (c + 1)) * t) for c in range(channels)])


@pytest.mark.parametrize("subtype, tolerance", [
    ("PCM_U8", 1 / 64), ("PCM_16", 1e-4), ("PCM_24", 1e-6), ("PCM_32", 1e-6), ("FLOAT", 1e-6), ("DOUBLE", 1e-6),
])
def test_wav_sample_formats(subtype, tolerance, tmp_path):
    samples = _sine(44100, 2)
    path = wav(tmp_path / f"{subtype}.wav", samples, 44100, subtype)
    clip = decode_audio(path)
    assert clip.samples.dtype == np.float32 and clip.samples.shape == samples.shape
    assert clip.sample_rate == 44100
    assert np.max(np.abs(clip.samples - samples)) < tolerance


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000])
def test_sample_rates(rate, tmp_path):
    clip = decode_audio(wav(tmp_path / f"r{rate}.wav", _sine(rate, 1, 0.25), rate))
    assert clip.sample_rate == rate
    assert clip.samples.shape == (1, int(rate * 0.25))
    assert clip.duration_s == pytest.approx(0.25, abs=1 / rate)


@pytest.mark.parametrize("channels", [1, 2, 6, 8])
def test_channel_counts(channels, tmp_path):
    samples = _sine(48000, channels, 0.2)
    clip = decode_audio(wav(tmp_path / f"c{channels}.wav", samples, 48000, "PCM_24"))
    assert clip.channels == channels
    np.testing.assert_allclose(clip.samples, samples, atol=1e-6)


@pytest.mark.parametrize("ext, codec_args", [
    ("mp3", ["-c:a", "libmp3lame", "-b:a", "192k"]),
    ("flac", ["-c:a", "flac"]),
    ("ogg", ["-c:a", "libvorbis", "-q:a", "5"]),
    ("oga", ["-c:a", "flac", "-f", "ogg"]),
    ("opus", ["-c:a", "libopus", "-b:a", "96k"]),
    ("m4a", ["-c:a", "aac", "-b:a", "160k"]),
    ("aac", ["-c:a", "aac", "-b:a", "160k", "-f", "adts"]),
])
def test_compressed_formats(ext, codec_args, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no system ffmpeg/ffprobe can be picked up
    source = wav(tmp_path / "src.wav", _sine(48000, 2, 1.0), 48000)
    target = tmp_path / f"song.{ext}"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(source), *codec_args, str(target)], check=True)
    clip = decode_audio(target)
    assert clip.channels == 2
    assert clip.sample_rate in (44100, 48000)
    assert clip.duration_s == pytest.approx(1.0, abs=0.06)  # codec priming/padding
    # the louder 220 Hz left channel and the quieter 440 Hz right one survive lossy coding
    rms = np.sqrt(np.mean(clip.samples[:, 2000:-2000] ** 2, axis=1))
    assert rms[0] == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    assert rms[1] == pytest.approx(0.25 / np.sqrt(2), rel=0.1)
    assert audio_duration_s(target) == clip.duration_s  # exactly what the decoder gives, not a header estimate


def test_audio_duration_is_cheap_and_right(tmp_path, audio_cache, monkeypatch):
    path = wav(tmp_path / "a.wav", _sine(22050, 1, 2.5), 22050)
    assert audio_duration_s(path) == 2.5
    # a song in the analysis cache answers from there without decoding
    mp3 = tmp_path / "a.mp3"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-c:a", "libmp3lame", str(mp3)], check=True)
    analyze(mp3, fps=30)
    import musicvideo.audio.decode as decode_module

    monkeypatch.setattr(decode_module, "_duration_of", lambda *a: pytest.fail("decoded despite the cache"))
    assert audio_duration_s(mp3) == decode_audio(mp3).duration_s


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.mp3", "not found"),
    (lambda d: d, "directory"),
    (lambda d: (d / "text.mp3").write_text("this is not audio\n") and d / "text.mp3", "cannot decode"),
    (lambda d: (d / "empty.wav").write_bytes(b"") or d / "empty.wav", "empty"),
])
def test_bad_files_raise_one_line_audio_error(make, message, tmp_path):
    path = make(tmp_path)
    with pytest.raises(AudioError) as info:
        decode_audio(path)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_random_bytes_named_mp3_fail_with_nothing_else_on_stderr(tmp_path, capfd):
    # libsndfile's mp3 reader writes warnings straight to fd 2; the user must see only our one-line error
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError, match="cannot decode"):
        audio_duration_s(noise)
    assert capfd.readouterr().err == ""


def test_truncated_file_gives_what_is_there_or_an_error(tmp_path):
    source = wav(tmp_path / "src.wav", _sine(44100, 2, 2.0), 44100)
    mp3 = tmp_path / "song.mp3"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(source), "-c:a", "libmp3lame", str(mp3)], check=True)
    data = mp3.read_bytes()
    half = tmp_path / "half.mp3"
    half.write_bytes(data[: len(data) // 2])
    clip = decode_audio(half)
    assert 0.5 < clip.duration_s < 1.5
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(source.read_bytes()[:44])
    with pytest.raises(AudioError):
        decode_audio(header_only)


# ---------------------------------------------------------------- real songs (skipped without ../shared/audio)

REAL_SONGS = sorted(p for p in SHARED_AUDIO.glob("*.*") if p.suffix in (".mp3", ".ogg", ".oga")) \
    if SHARED_AUDIO.is_dir() else []


@pytest.mark.skipif(not REAL_SONGS, reason="../shared/audio not present")
@pytest.mark.parametrize("path", REAL_SONGS, ids=lambda p: p.name)
def test_real_songs_decode(path):
    clip = decode_audio(path)
    assert clip.samples.dtype == np.float32 and clip.channels >= 1 and clip.duration_s > 1.0
    assert np.all(np.isfinite(clip.samples)) and np.max(np.abs(clip.samples)) > 0.05
    assert audio_duration_s(path) == pytest.approx(clip.duration_s, abs=0.5)


@pytest.mark.skipif(not (SHARED_AUDIO / "beatnet_808kick120bpm.beats").is_file(), reason="../shared/audio not present")
def test_808_track_beats_match_annotation(audio_cache):
    # the .beats file: one beat time in seconds per line
    truth = np.loadtxt(SHARED_AUDIO / "beatnet_808kick120bpm.beats", ndmin=1)
    features = analyze(SHARED_AUDIO / "beatnet_808kick120bpm.mp3", fps=30)
    assert beat_f_measure(truth, features.beat_times_s, 0.07) >= 0.95
    assert features.tempo_bpm == pytest.approx(120, rel=0.02)
