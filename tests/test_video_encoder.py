"""VideoWriter: codecs, exact frame counts and rates, audio length and format, scaling, atomic outputs."""

from __future__ import annotations

import os
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from musicvideo.config import frame_count
from musicvideo.errors import AudioError, ConfigError, MusicVideoError, OutputError
from musicvideo.video import (AudioSource, VideoConfig, VideoWriter, codec_for_extension, default_extension,
                              nvenc_available, probe, read_frames)
from musicvideo.video import codecs as codecs_module

from _video_helpers import gradient_frames, leftovers, psnr, sigint_default, write_wav


@pytest.fixture
def video_song(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "song.wav", duration_s=3.0, sample_rate=48000, channels=2)


def _write(path: Path, frames: np.ndarray, *, fps=30, audio=None, config=None, batch=8, **kwargs) -> Path:
    h, w = frames.shape[1:3]
    kwargs.setdefault("width", w)
    kwargs.setdefault("height", h)
    with VideoWriter(path, fps=fps, audio=audio, config=config, input_width=w, input_height=h,
                     **kwargs) as writer:
        for i in range(0, len(frames), batch):
            writer.write(frames[i:i + batch])
    assert writer.frames_written == len(frames)
    return path


@pytest.mark.parametrize("fps, expected", [(24, Fraction(24)), (30, Fraction(30)),
                                           (29.97, Fraction(30000, 1001))])
def test_h264_mp4_exact_frames_rate_and_audio_length(tmp_path, video_song, fps, expected):
    duration = 1.5
    n = frame_count(duration, expected)
    out = _write(tmp_path / "clip.mp4", gradient_frames(n), fps=fps,
                 audio=AudioSource(video_song, start_s=0.5, duration_s=duration))
    info = probe(out)
    assert (info.video_codec, info.profile, info.pix_fmt) == ("h264", "High", "yuv420p")
    assert (info.color_range, info.color_space) == ("tv", "bt709")
    assert (info.width, info.height) == (64, 64)
    assert info.n_frames == n
    assert info.fps == expected
    assert info.has_faststart
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 2)
    assert abs(info.audio_duration_s - n / expected) <= 1 / expected
    assert leftovers(tmp_path) == []


def test_audio_shorter_than_clip_is_padded_to_video_length(tmp_path):
    song = write_wav(tmp_path / "short.wav", duration_s=0.5)
    out = _write(tmp_path / "clip.mp4", gradient_frames(45), audio=AudioSource(song))
    info = probe(out)
    assert info.n_frames == 45
    assert abs(info.audio_duration_s - 1.5) <= 1 / 30


def test_no_audio_when_audio_is_none(tmp_path):
    info = probe(_write(tmp_path / "clip.mp4", gradient_frames(10)))
    assert info.audio_codec is None and info.n_frames == 10


def test_multichannel_48k_source_keeps_rate_and_channels_in_mp4(tmp_path):
    song = write_wav(tmp_path / "surround.wav", duration_s=2.0, sample_rate=48000, channels=6, sample_width=3)
    info = probe(_write(tmp_path / "clip.mp4", gradient_frames(30), audio=AudioSource(song, 0.25, 1.0)))
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 6)
    assert abs(info.audio_duration_s - 1.0) <= 1 / 30


def test_mono_44k_source_in_mov_is_pcm_at_its_own_rate(tmp_path):
    song = write_wav(tmp_path / "mono.wav", duration_s=2.0, sample_rate=44100, channels=1)
    config = VideoConfig(codec="h264", pcm_bits=16)
    info = probe(_write(tmp_path / "clip.mov", gradient_frames(30), audio=AudioSource(song), config=config))
    assert (info.audio_codec, info.sample_rate, info.channels) == ("pcm_s16le", 44100, 1)
    assert abs(info.audio_duration_s - 1.0) <= 1 / 30


def test_prores_mov_probes_as_prores_422hq_with_pcm(tmp_path, video_song):
    out = _write(tmp_path / "clip.mov", gradient_frames(24), fps=24, config=VideoConfig(codec="prores"),
                 audio=AudioSource(video_song, 1.0, 1.0))
    info = probe(out)
    assert (info.video_codec, info.profile, info.pix_fmt) == ("prores", "HQ", "yuv422p10le")
    assert (info.audio_codec, info.sample_rate, info.channels) == ("pcm_s24le", 48000, 2)
    assert info.n_frames == 24 and info.fps == 24
    assert abs(info.audio_duration_s - 1.0) <= 1 / 24
    assert info.has_faststart


def test_dnxhr_mov_probes_as_dnxhd_hq_with_pcm(tmp_path, video_song):
    out = _write(tmp_path / "clip.mov", gradient_frames(12, 128, 256), fps=24, config=VideoConfig(codec="dnxhr"),
                 audio=AudioSource(video_song, 0.0, 0.5))
    info = probe(out)
    assert info.video_codec == "dnxhd" and info.profile == "DNXHR HQ" and info.pix_fmt == "yuv422p"
    assert info.audio_codec == "pcm_s24le" and info.n_frames == 12


def test_dnxhr_too_small_is_refused_before_encoding(tmp_path):
    with pytest.raises(MusicVideoError, match="DNxHR needs at least"):
        VideoWriter(tmp_path / "clip.mov", width=64, height=64, fps=24, config=VideoConfig(codec="dnxhr"))


def test_hevc_mp4(tmp_path):
    info = probe(_write(tmp_path / "clip.mp4", gradient_frames(10), config=VideoConfig(codec="hevc",
                                                                                         preset="ultrafast")))
    assert info.video_codec == "hevc" and info.pix_fmt == "yuv420p" and info.n_frames == 10


def test_odd_sizes_are_rounded_down_to_even(tmp_path):
    frames = gradient_frames(6, 63, 65)
    info = probe(_write(tmp_path / "same.mp4", frames))
    assert (info.width, info.height, info.n_frames) == (64, 62, 6)
    info = probe(_write(tmp_path / "scaled.mp4", gradient_frames(6), width=97, height=55))
    assert (info.width, info.height) == (96, 54)


@pytest.mark.parametrize("fit", ["crop", "pad"])
def test_scaling_square_input_to_wide_output(tmp_path, fit):
    colour = np.array([200, 60, 120], dtype=np.uint8)
    frames = np.broadcast_to(colour, (5, 64, 64, 3)).copy()
    out = _write(tmp_path / f"{fit}.mp4", frames, width=96, height=54, config=VideoConfig(fit=fit, crf=0))
    decoded = read_frames(out).astype(int)
    assert decoded.shape == (5, 54, 96, 3)
    centre = decoded[:, :, 40:56]
    assert np.abs(centre - colour).max() <= 4
    sides = np.concatenate([decoded[:, :, :18], decoded[:, :, -18:]], axis=2)
    if fit == "pad":  # 64x64 -> 54x54 in the middle, 21-pixel black bars left and right
        assert sides.max() <= 4
    else:  # scaled to 96x96 and cropped: the colour everywhere, no bars
        assert np.abs(sides - colour).max() <= 4


def test_stretch_fills_the_frame(tmp_path):
    frames = np.full((3, 64, 64, 3), 180, dtype=np.uint8)
    decoded = read_frames(_write(tmp_path / "s.mp4", frames, width=96, height=54,
                                 config=VideoConfig(fit="stretch", crf=0)))
    assert np.abs(decoded.astype(int) - 180).max() <= 3


def test_crf0_round_trip_is_close_and_lossless_mode_is_exact(tmp_path):
    frames = gradient_frames(8)
    decoded = read_frames(_write(tmp_path / "crf0.mp4", frames, config=VideoConfig(crf=0)))
    assert decoded.shape == frames.shape
    assert psnr(decoded, frames) > 38  # yuv420p chroma subsampling is the only loss
    exact = read_frames(_write(tmp_path / "lossless.mp4", frames, config=VideoConfig(lossless=True)))
    np.testing.assert_array_equal(exact, frames)


def test_single_hwc_frames_and_no_queue(tmp_path):
    frames = gradient_frames(4)
    with VideoWriter(tmp_path / "c.mp4", width=64, height=64, fps=30, queue_batches=0,
                     config=VideoConfig(lossless=True)) as writer:
        for frame in frames:
            writer.write(frame)
    np.testing.assert_array_equal(read_frames(tmp_path / "c.mp4"), frames)


def test_wrong_frame_shape_is_refused(tmp_path):
    with VideoWriter(tmp_path / "c.mp4", width=64, height=64, fps=30) as writer:
        with pytest.raises(ValueError, match="uint8"):
            writer.write(np.zeros((2, 32, 32, 3), np.uint8))
        with pytest.raises(ValueError):
            writer.write(np.zeros((2, 64, 64, 3), np.float32))
        writer.write(np.zeros((2, 64, 64, 3), np.uint8))
    assert probe(tmp_path / "c.mp4").n_frames == 2


# ---------------------------------------------------------------- atomic output, abort, preflight


class _Boom(Exception):
    pass


@pytest.mark.parametrize("error", [_Boom, KeyboardInterrupt])
def test_abort_mid_write_leaves_nothing(tmp_path, video_song, error):
    target = tmp_path / "clip.mp4"
    with pytest.raises(error):
        with VideoWriter(target, width=64, height=64, fps=30, audio=AudioSource(video_song)) as writer:
            writer.write(gradient_frames(10))
            proc = writer._proc
            raise error()
    assert proc.poll() is not None  # ffmpeg is gone
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.wav"]


def test_abort_is_idempotent_and_close_after_abort_fails(tmp_path):
    writer = VideoWriter(tmp_path / "clip.mp4", width=64, height=64, fps=30)
    writer.write(gradient_frames(3))
    writer.abort()
    writer.abort()
    with pytest.raises(MusicVideoError):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_close_without_frames_leaves_nothing(tmp_path):
    writer = VideoWriter(tmp_path / "clip.mp4", width=64, height=64, fps=30)
    with pytest.raises(OutputError, match="no frames"):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_before_ffmpeg_starts(tmp_path, monkeypatch):
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"keep me")

    def no_popen(*args, **kwargs):
        raise AssertionError("ffmpeg started")

    monkeypatch.setattr(subprocess, "Popen", no_popen)
    with pytest.raises(OutputError, match="already exists"):
        VideoWriter(target, width=64, height=64, fps=30)
    assert target.read_bytes() == b"keep me"


def test_overwrite_replaces_existing_output(tmp_path):
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"old")
    _write(target, gradient_frames(3), overwrite=True)
    assert probe(target).n_frames == 3


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        VideoWriter(tmp_path / "nope" / "clip.mp4", width=64, height=64, fps=30)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(OutputError, match="cannot write"):
            VideoWriter(locked / "clip.mp4", width=64, height=64, fps=30)
    finally:
        locked.chmod(0o700)


def test_bad_song_and_start_past_end_are_refused(tmp_path, video_song):
    with pytest.raises(AudioError, match="not found"):
        VideoWriter(tmp_path / "a.mp4", width=64, height=64, fps=30, audio=AudioSource(tmp_path / "none.wav"))
    with pytest.raises(AudioError, match="past the end"):
        VideoWriter(tmp_path / "a.mp4", width=64, height=64, fps=30, audio=AudioSource(video_song, start_s=10))
    not_audio = tmp_path / "noise.wav"
    not_audio.write_bytes(b"\0" * 100)
    with pytest.raises(AudioError):
        VideoWriter(tmp_path / "a.mp4", width=64, height=64, fps=30, audio=AudioSource(not_audio))
    assert leftovers(tmp_path) == [] and not (tmp_path / "a.mp4").exists()


def test_ffmpeg_failure_raises_with_its_message_and_leaves_nothing(tmp_path):
    target = tmp_path / "clip.mp4"
    config = VideoConfig(fit="pad", pad_color="notacolour")
    with pytest.raises(MusicVideoError, match="ffmpeg failed.*notacolour"):
        with VideoWriter(target, width=96, height=54, fps=30, input_width=64, input_height=64,
                         config=config) as writer:
            for _ in range(50):
                writer.write(gradient_frames(4))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- codecs and containers


def test_containers_and_extensions(tmp_path):
    assert default_extension(VideoConfig()) == ".mp4"
    assert default_extension(VideoConfig(codec="hevc")) == ".mp4"
    assert default_extension(VideoConfig(codec="prores")) == ".mov"
    assert default_extension(VideoConfig(codec="dnxhr")) == ".mov"
    assert codec_for_extension("out.mp4") == "h264"
    assert codec_for_extension(".mov") == "prores"
    with pytest.raises(OutputError):
        codec_for_extension("out.avi")
    with pytest.raises(OutputError, match=r"name it clip\.mov"):
        VideoWriter(tmp_path / "clip.mp4", width=64, height=64, fps=30, config=VideoConfig(codec="prores"))


def test_config_values_are_checked():
    for bad in ({"codec": "vp9"}, {"crf": 60}, {"preset": "turbo"}, {"fit": "zoom"}, {"nvenc": "yes"},
                {"pcm_bits": 20}, {"codec": "prores", "lossless": True}):
        with pytest.raises(ConfigError):
            VideoConfig(**bad)


def test_config_loads_from_toml(tmp_path):
    from musicvideo.config import load_config

    path = tmp_path / "c.toml"
    path.write_text('[video]\ncodec = "prores"\nfit = "pad"\nnvenc = "off"\n')
    config = load_config(path)
    assert (config.video.codec, config.video.fit, config.video.nvenc) == ("prores", "pad", "off")
    path.write_text('[video]\nfit = "zoom"\n')
    with pytest.raises(ConfigError, match="fit"):
        load_config(path)


@pytest.mark.skipif(Path("/dev/nvidia0").exists(), reason="an NVIDIA device is present")
def test_nvenc_detection_is_false_without_gpu_and_on_is_an_error(tmp_path):
    assert nvenc_available("h264") is False
    assert nvenc_available("hevc") is False
    assert codecs_module.resolve_encoder(VideoConfig()) == "libx264"
    with pytest.raises(MusicVideoError, match="NVENC"):
        VideoWriter(tmp_path / "clip.mp4", width=64, height=64, fps=30, config=VideoConfig(nvenc="on"))


def test_frame_count_other_than_the_audio_clip_needs_is_refused(tmp_path, video_song):
    target = tmp_path / "clip.mp4"
    writer = VideoWriter(target, width=64, height=64, fps=30, audio=AudioSource(video_song, 0, 1.0))
    assert writer.expected_frames == 30
    writer.write(gradient_frames(29))
    with pytest.raises(MusicVideoError, match="need ceil"):
        writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.wav"]


def test_ffmpeg_dying_mid_write_raises_and_leaves_nothing(tmp_path):
    target = tmp_path / "clip.mp4"
    with pytest.raises(MusicVideoError, match="ffmpeg failed"):
        with VideoWriter(target, width=64, height=64, fps=30) as writer:
            writer.write(gradient_frames(4))
            writer._proc.kill()
            for _ in range(100):
                writer.write(gradient_frames(4))
    assert list(tmp_path.iterdir()) == []


SIGINT_SCRIPT = """
import sys, time, numpy as np
from musicvideo.video import VideoWriter
frames = np.zeros((4, 64, 64, 3), np.uint8)
with VideoWriter(sys.argv[1], width=64, height=64, fps=30) as writer:
    writer.write(frames)
    print("writing", flush=True)
    while True:
        writer.write(frames)
        time.sleep(0.01)
"""


def test_sigint_mid_write_leaves_no_output_and_no_temporaries(tmp_path):
    import signal
    import sys

    proc = subprocess.Popen([sys.executable, "-c", SIGINT_SCRIPT, str(tmp_path / "clip.mp4")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "KeyboardInterrupt" in stderr
    assert list(tmp_path.iterdir()) == []


def test_192k_source_is_resampled_for_aac_but_kept_in_pcm(tmp_path):
    song = write_wav(tmp_path / "hires.wav", duration_s=1.0, sample_rate=192000, channels=2)
    mp4 = probe(_write(tmp_path / "clip.mp4", gradient_frames(15), audio=AudioSource(song, 0, 0.5)))
    assert (mp4.audio_codec, mp4.sample_rate) == ("aac", 48000)
    assert abs(mp4.audio_duration_s - 0.5) <= 1 / 30
    mov = probe(_write(tmp_path / "clip.mov", gradient_frames(15), audio=AudioSource(song, 0, 0.5)))
    assert (mov.audio_codec, mov.sample_rate) == ("pcm_s24le", 192000)
    assert mov.audio_duration_s == pytest.approx(0.5, abs=1e-6)


UNCLOSED_SCRIPT = """
import sys, numpy as np
from musicvideo.video import VideoWriter
writer = VideoWriter(sys.argv[1], width=64, height=64, fps=30)
writer.write(np.zeros((4, 64, 64, 3), np.uint8))
raise SystemExit(3)  # exits without close() or abort()
"""


def test_writer_left_open_at_exit_leaves_no_temporary(tmp_path):
    import sys

    result = subprocess.run([sys.executable, "-c", UNCLOSED_SCRIPT, str(tmp_path / "clip.mp4")], timeout=60)
    assert result.returncode == 3
    assert list(tmp_path.iterdir()) == []


def test_aac_at_320k_keeps_the_stereo_image(tmp_path):
    """At 320 kb/s the AAC stream is a faithful copy: no noise substitution or intensity stereo, which replace
    bands and the side channel with parametric stand-ins (with them this song decodes 10 dB worse)."""
    import wave

    from musicvideo.ffmpeg import ffmpeg_exe

    sr, rng = 44100, np.random.default_rng(0)
    t = np.arange(3 * sr) / sr
    tones = sum(a * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
                for f, a in [(220, .2), (330, .15), (1760, .05), (5000, .03), (9000, .02), (12000, .02)])
    hiss = np.convolve(rng.normal(0, 1, len(t)), [1, -1], "same") * 0.02  # hi-hat-like high band
    left = tones + hiss + 0.01 * rng.normal(0, 1, len(t))
    right = 0.6 * (tones + hiss) + 0.01 * rng.normal(0, 1, len(t))  # panned, with its own quiet detail
    pcm = np.round(np.stack([left, right], 1) * 0.8 * 32767).astype("<i2")
    song = tmp_path / "stereo.wav"
    with wave.open(str(song), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    out = _write(tmp_path / "clip.mp4", gradient_frames(90), audio=AudioSource(song, 0, 3.0))
    decoded = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(out), "-map", "0:a", "-f", "s16le", "-"],
                             capture_output=True, check=True).stdout
    got = np.frombuffer(decoded, "<i2").reshape(-1, 2).astype(np.float64)
    ref = pcm.astype(np.float64)
    n = min(len(got), len(ref))
    assert n >= len(ref) - 1024
    snr = 10 * np.log10((ref[:n] ** 2).sum() / ((got[:n] - ref[:n]) ** 2).sum())
    side = ref[:n, 0] - ref[:n, 1]
    side_snr = 10 * np.log10((side ** 2).sum() / (((got[:n, 0] - got[:n, 1]) - side) ** 2).sum())
    assert snr > 29 and side_snr > 21, (snr, side_snr)


# ---------------------------------------------------------------- yuv420p input (frames converted on the GPU)


def _planes(frames: np.ndarray) -> np.ndarray:
    """I420 planes of uint8 RGB frames, as a GPU render makes them (``render.to_yuv420``)."""
    import torch

    from musicvideo.render import to_yuv420

    images = (torch.from_numpy(frames).permute(0, 3, 1, 2).float() - 127.5) / 127.5  # exactly these 8-bit values
    return to_yuv420(images).numpy()


def _decode_yuv420p(path: Path, width: int, height: int) -> np.ndarray:
    from musicvideo.ffmpeg import ffmpeg_exe

    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height * 3 // 2, width)


def test_yuv420p_input_is_encoded_as_given_and_tagged_bt709(tmp_path, video_song):
    frames = gradient_frames(8)
    planes = _planes(frames)
    assert planes.shape == (8, 96, 64)
    out = tmp_path / "yuv.mp4"
    with VideoWriter(out, width=64, height=64, fps=30, config=VideoConfig(crf=0), input_format="yuv420p",
                     audio=AudioSource(video_song, duration_s=8 / 30)) as writer:
        assert writer.frame_shape == (96, 64)
        writer.write(planes[:5])
        writer.write(planes[5])  # one frame without a batch axis
        writer.write(planes[6:])
    info = probe(out)
    assert (info.pix_fmt, info.color_space, info.color_range, info.n_frames) == ("yuv420p", "bt709", "tv", 8)
    assert info.audio_codec == "aac"
    np.testing.assert_array_equal(_decode_yuv420p(out, 64, 64), planes)  # crf 0: lossless in yuv420p
    # and the colours are right: decoded to RGB, only the chroma subsampling is lost (as in the RGB path)
    assert psnr(read_frames(out), frames) > 38


def test_rgb_input_is_converted_with_left_sited_chroma_like_the_gpu_path(tmp_path):
    # ffmpeg's converter puts 4:2:0 chroma at the "center" unless told; H.264 means "left" (so do players that
    # follow it, and render.to_yuv420 on the GPU): both paths now give the same planes up to the filter
    frames = gradient_frames(4)
    out = tmp_path / "rgb.mp4"
    with VideoWriter(out, width=64, height=64, fps=30, config=VideoConfig(crf=0)) as writer:
        writer.write(frames)
    planes, gpu = _decode_yuv420p(out, 64, 64), _planes(frames)
    assert psnr(planes[:, :64], gpu[:, :64]) > 60  # luma: the same conversion
    assert psnr(planes[:, 64:], gpu[:, 64:]) > 52  # chroma at "center" scores 44 dB here
    # decoded at the same siting, the round trip loses only the subsampling (at "center" it scores 40.5 dB)
    assert psnr(read_frames(out), frames) > 46


def test_yuv420p_input_needs_a_yuv420p_codec_at_the_generators_size(tmp_path):
    for kwargs in (dict(config=VideoConfig(codec="prores"), path="p.mov"),
                   dict(config=VideoConfig(lossless=True), path="l.mp4"),
                   dict(width=128, height=72, path="scaled.mp4"),
                   dict(input_width=63, input_height=64, width=63, path="odd.mp4")):
        args = dict(width=64, height=64, fps=30, input_width=64, input_height=64, input_format="yuv420p")
        args.update(kwargs)
        with pytest.raises(ValueError, match="yuv420p"):
            VideoWriter(tmp_path / args.pop("path"), **args)
    with pytest.raises(ValueError, match="input_format"):
        VideoWriter(tmp_path / "x.mp4", width=64, height=64, fps=30, input_format="nv12")
    with VideoWriter(tmp_path / "y.mp4", width=64, height=64, fps=30, input_format="yuv420p") as writer:
        with pytest.raises(ValueError, match=r"uint8 \[B, 96, 64\]"):
            writer.write(gradient_frames(2))  # RGB frames into a yuv writer
        writer.write(_planes(gradient_frames(2)))
    assert leftovers(tmp_path) == []


def test_to_yuv420_is_bt709_studio_range_with_left_sited_chroma():
    import torch

    from musicvideo.render import to_yuv420

    h, w = 8, 16
    rgb = np.zeros((1, h, w, 3), np.uint8)
    rgb[0, :, :, 0] = np.linspace(20, 230, h).round().astype(np.uint8)[:, None]  # red ramps down the rows
    rgb[0, :, :, 1] = 90
    rgb[0, :, :, 2] = np.linspace(10, 250, w).round().astype(np.uint8)[None, :]  # blue ramps across
    planes = _planes(rgb)[0]
    r, g, b = (rgb[0, ..., c].astype(np.float64) for c in range(3))
    luma = 0.2126 * r + 0.7152 * g + 0.0722 * b
    np.testing.assert_array_equal(planes[:h], np.floor(luma * 219 / 255 + 16.5))
    cb = (b - luma) / 1.8556 * 224 / 255 + 128
    cr = (r - luma) / 1.5748 * 224 / 255 + 128
    u = planes[h:].reshape(-1)[: h * w // 4].reshape(h // 2, w // 2).astype(np.float64)
    v = planes[h:].reshape(-1)[h * w // 4:].reshape(h // 2, w // 2).astype(np.float64)
    # left siting: chroma sample (i, k) sits at column 2k, between rows 2i and 2i+1; on these linear ramps the
    # [1, 2, 1] / 4 and [1, 1] / 2 filters give exactly the value there (column 0 repeats its edge, so skip it)
    expect_u = 0.5 * (cb[0::2, 2::2] + cb[1::2, 2::2])
    expect_v = 0.5 * (cr[0::2, 2::2] + cr[1::2, 2::2])
    assert np.abs(u[:, 1:] - expect_u).max() <= 0.5 + 1e-6
    assert np.abs(v[:, 1:] - expect_v).max() <= 0.5 + 1e-6
    with pytest.raises(ValueError, match="even"):
        to_yuv420(torch.zeros(1, 3, 7, 8))
