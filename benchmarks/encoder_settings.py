"""Encoder settings: CPU cost against quality and size, for choosing the defaults of ``VideoConfig``.

    python benchmarks/encoder_settings.py                       # 300 frames of the default network, 256 px
    python benchmarks/encoder_settings.py --frames 150 --skip-audio

Two tables, both timed as the CPU seconds (user + system) of the ffmpeg child, single-threaded, best of
``--repeat`` runs, so a shared machine's noise mostly drops out:

video  the same frames (the embedded default generator's walk over the demo song, made once, lossless) through
       libx264 at several presets and CRFs: CPU-s, MB, PSNR and SSIM against the frames (both in yuv420p, so the
       chroma subsampling every MP4 has is not counted as codec loss). Baseline: the old default, veryfast CRF 18.
audio  songs through ffmpeg's AAC encoder at 320 kb/s with its coders and tools: CPU-s, kb/s and SNR of the
       decoded audio against the input (a crude, not perceptual, measure; it does show a tool that throws signal
       away). Songs: the demo song and, when present, ``../shared/audio``. Baseline: the old default, the fast
       coder with its default tools. Then the default tools at lower bit rates than the default 320 kb/s.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from musicvideo.ffmpeg import ffmpeg_exe  # noqa: E402
from musicvideo.video.codecs import VideoConfig, audio_args  # noqa: E402

SHARED_AUDIO = ROOT.parent / "shared" / "audio"
VIDEO_SETTINGS = [("veryfast", 18), ("veryfast", 20), ("superfast", 18), ("superfast", 20), ("superfast", 21),
                  ("ultrafast", 18), ("ultrafast", 24), ("faster", 18), ("medium", 18)]
AUDIO_SETTINGS = [
    ("twoloop (ffmpeg's default)", []),
    ("fast", ["-aac_coder", "fast"]),
    ("fast, no PNS, no intensity stereo", ["-aac_coder", "fast", "-aac_pns", "0", "-aac_is", "0"]),
    ("fast, no PNS, no IS, no M/S", ["-aac_coder", "fast", "-aac_pns", "0", "-aac_is", "0", "-aac_ms", "0"]),
]
# lower bit rates with the default tools (codecs.audio_args): each step saves CPU; what does it cost the sound?
AUDIO_BITRATES = ("288k", "256k", "224k")


def child_cpu(cmd: list[str], repeat: int) -> float:
    """Best-of-``repeat`` CPU seconds (user + system) of running ``cmd``."""
    best = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best


def make_frames(path: Path, n: int, tmp: Path) -> int:
    """Raw rgb24 frames of the default generator's walk over the demo song; returns the frame size in px."""
    from musicvideo.audio.synth import demo_song, write_wav
    from musicvideo.config import RenderConfig
    from musicvideo.render import render
    from musicvideo.video.codecs import VideoConfig

    song = write_wav(tmp / "song.wav", demo_song(n / 30 + 1, sample_rate=44100), 44100)
    config = RenderConfig(fps=30, duration_s=n / 30, device="cpu", video=VideoConfig(lossless=True))
    result = render(song, output=tmp / "lossless.mp4", config=config, progress=False, overwrite=True, audio=False)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(result.path), "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-y", str(path)], check=True)
    return result.width


def video_rows(n: int, repeat: int, tmp: Path) -> list[str]:
    raw = tmp / "frames.rgb"
    size = make_frames(raw, n, tmp)
    source = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size}x{size}", "-r", "30", "-i", str(raw)]
    rows, base = [], None
    for preset, crf in VIDEO_SETTINGS:
        out = tmp / "v.mp4"
        cpu = child_cpu([ffmpeg_exe(), "-v", "error", *source, "-c:v", "libx264", "-preset", preset, "-crf",
                         str(crf), "-pix_fmt", "yuv420p", "-threads", "1", "-y", str(out)], repeat)
        graph = ("[0:v]format=yuv420p,split[r1][r2];[1:v]format=yuv420p,split[d1][d2];"
                 "[d1][r1]psnr;[d2][r2]ssim")
        log = subprocess.run([ffmpeg_exe(), "-hide_banner", *source, "-i", str(out), "-lavfi", graph, "-f", "null",
                              "-"], capture_output=True, text=True).stderr
        psnr = float(re.search(r"PSNR .*average:([\d.]+|inf)", log).group(1))
        ssim = float(re.search(r"SSIM .*All:([\d.]+)", log).group(1))
        mb = out.stat().st_size / 1e6
        base = base or cpu
        rows.append(f"| x264 {preset:9s} CRF {crf} | {cpu:6.2f} | {cpu / base:5.2f} | {1000 * cpu / n:5.2f} | "
                    f"{mb:6.2f} | {psnr:6.2f} | {ssim:.4f} |")
    head = [f"{n} frames, {size} px, libx264 single-threaded; baseline veryfast CRF 18 (the old default)", "",
            "| setting | CPU-s | x base | ms/frame | MB | PSNR dB | SSIM |", "|---|---|---|---|---|---|---|"]
    return head + rows


def decode(path: Path) -> np.ndarray:
    pcm = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "2", "-ar", "44100",
                          "-"], capture_output=True, check=True).stdout
    return np.frombuffer(pcm, np.int16).reshape(-1, 2).astype(np.float64)


def audio_rows(repeat: int, tmp: Path, seconds: float) -> list[str]:
    from musicvideo.audio.synth import demo_song, write_wav

    songs = [("demo song", write_wav(tmp / "demo.wav", demo_song(seconds, sample_rate=44100), 44100))]
    for path in sorted(SHARED_AUDIO.glob("*")) if SHARED_AUDIO.is_dir() else []:
        if path.suffix in (".mp3", ".ogg", ".flac", ".wav", ".m4a") and path.stat().st_size > 200_000:
            wav = tmp / f"{path.stem}.wav"
            subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-t", str(seconds), "-ar", "44100", "-ac",
                            "2", "-y", str(wav)], check=True)
            songs.append((path.name, wav))
    rows = [f"{seconds:g} s of each song, stereo, 320 kb/s unless the setting names another rate; baseline the fast "
            "coder with default tools at 320 kb/s (the old default)",
            "", "| song | setting | CPU-s | x base | kb/s | SNR dB |", "|---|---|---|---|---|---|"]
    settings = [(label, [*opts, "-b:a", "320k"]) for label, opts in AUDIO_SETTINGS]
    settings += [(f"default tools at {rate}", audio_args(VideoConfig(audio_bitrate=rate), "a.m4a")[2:])
                 for rate in AUDIO_BITRATES]
    for name, wav in songs:
        ref = decode(wav)
        base = None
        for label, opts in settings:
            out = tmp / "a.m4a"
            cpu = child_cpu([ffmpeg_exe(), "-v", "error", "-threads", "1", "-i", str(wav), "-c:a", "aac", *opts,
                             "-y", str(out)], repeat)
            got = decode(out)
            n = min(len(got), len(ref))
            snr = 10 * np.log10((ref[:n] ** 2).sum() / max(((got[:n] - ref[:n]) ** 2).sum(), 1e-9))
            kbps = out.stat().st_size * 8 / seconds / 1000
            base = cpu if label == "fast" else base
            ratio = f"{cpu / base:5.2f}" if base else "  -  "
            rows.append(f"| {name} | {label} | {cpu:5.2f} | {ratio} | {kbps:4.0f} | {snr:5.1f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300, help="frames of the video table (default 300)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting, best taken (default 3)")
    parser.add_argument("--audio-seconds", type=float, default=30.0, help="seconds of each song (default 30)")
    parser.add_argument("--skip-video", action="store_true")
    parser.add_argument("--skip-audio", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_video:
            print("\n".join(video_rows(args.frames, args.repeat, Path(tmp))) + "\n")
        if not args.skip_audio:
            print("\n".join(audio_rows(args.repeat, Path(tmp), args.audio_seconds)))


if __name__ == "__main__":
    main()
