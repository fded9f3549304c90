"""Speed of the audio analysis on a 5-minute song, against the targets of issue 2.

    python benchmarks/analyze_speed.py [--song PATH] [--fps 30]

Without --song a deterministic 5-minute song (the demo arrangement stretched to 300 s, 44.1 kHz stereo) is
synthesized and encoded to a 192 kb/s mp3 with the bundled ffmpeg, the common case for users. Rows:

- decode + loudness + onsets + beats: ``analyze_file`` (decode in blocks, the per-ms power sums for loudness, the
  STFT, onset strength, beat tracking), sampled at the frame times (HPSS and chroma switched off).  Target < 3 s.
- full analysis (+ HPSS, chroma, bands): the default AnalysisConfig, no cache.  Target < 20 s.
- cache hit: ``analyze()`` of the same file again (hash the bytes, read the entry, sample).  Target < 0.5 s.

numba compiles librosa's beat tracker on the first call of a process; a warm-up on a 5 s clip runs first and its
time is shown separately. The pydub row times pydub's own ``segment[a:b].dBFS`` per frame (the reference our
vectorised loudness is tested against) on the same song.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicvideo.audio import AnalysisConfig, analyze, exact_fps, frame_count  # noqa: E402
from musicvideo.audio.decode import decode_segment  # noqa: E402
from musicvideo.audio.decode import PcmStream  # noqa: E402
from musicvideo.audio.features import analyze_file  # noqa: E402
from musicvideo.audio.frames import sample_features  # noqa: E402
from musicvideo.audio.synth import demo_song, write_wav  # noqa: E402
from musicvideo.ffmpeg import ffmpeg_exe  # noqa: E402


def synth_mp3(directory: Path, seconds: float = 300.0) -> Path:
    """A 5-minute synthesized song encoded as mp3."""
    wav = write_wav(directory / "song5min.wav", demo_song(seconds, 44100, seed=0), 44100)
    mp3 = directory / "song5min.mp3"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame", "-b:a", "192k",
                    str(mp3)], check=True)
    return mp3


def _cpu() -> float:
    """CPU seconds of this process and its finished children (ffmpeg), user + system."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn):
    """((wall seconds, CPU seconds), result)."""
    cpu0, start = _cpu(), time.perf_counter()
    result = fn()
    return (time.perf_counter() - start, _cpu() - cpu0), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--song", default=None, help="song to analyse (default: synthesize a 5-minute mp3)")
    parser.add_argument("--fps", default="30")
    args = parser.parse_args()
    fps = exact_fps(args.fps)

    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        os.environ["MUSICVIDEO_CACHE_DIR"] = str(tmp_dir / "cache")
        song = Path(args.song) if args.song else synth_mp3(tmp_dir)

        # warm-up: numba JIT of librosa's beat tracker, soxr and the imports
        warm = write_wav(tmp_dir / "warm.wav", demo_song(5.0, 22050), 22050)
        warm_s, _ = timed(lambda: analyze(warm, fps=fps, cache=False))

        basic_cfg = AnalysisConfig(hpss=False, chroma=False)
        full_cfg = AnalysisConfig()

        def pipeline(cfg):
            analysis = analyze_file(song, cfg)  # what analyze() runs on a cache miss: decoded as it streams
            n = frame_count(analysis.duration_s, fps)
            return analysis, sample_features(analysis, fps=fps, start_s=0.0, n_frames=n,
                                             duration_s=analysis.duration_s, config=cfg)

        def decode_only():
            with PcmStream(song) as stream:
                for _ in stream.blocks(10 * stream.sample_rate):
                    pass
            return stream

        decode_s, clip = timed(decode_only)
        basic_s, (_, basic) = timed(lambda: pipeline(basic_cfg))
        full_s, (_, full) = timed(lambda: pipeline(full_cfg))
        analyze(song, fps=fps)  # fill the cache
        hits = [timed(lambda: analyze(song, fps=fps))[0] for _ in range(3)]
        hit_s = sorted(hits)[1]  # median of 3 by wall time

        # pydub's own per-frame dBFS loop, on 1000 frames, scaled to the song's frame count
        segment = decode_segment(song)
        n = full.n_frames
        centres = np.round(full.times_s[np.linspace(0, n - 1, 1000).astype(int)] * 1000).astype(int)
        half = int(round(full_cfg.loudness_window_s * 500))
        loop_s, _ = timed(lambda: [segment[max(c - half, 0):c + half].dBFS for c in centres])
        pydub_s = (loop_s[0] * n / 1000, loop_s[1] * n / 1000)

    name = song.name if args.song else "synthesized 5-min mp3 (192 kb/s, 44.1 kHz stereo)"
    print(f"song: {name}, {clip.frames_read / clip.sample_rate:.1f} s, {clip.sample_rate} Hz, {clip.channels} ch; "
          f"{full.n_frames} frames at {float(fps):g} fps; {os.cpu_count()} CPU cores")
    print(f"tempo {full.tempo_bpm:.1f} BPM, {len(full.beat_times_s)} beats\n")
    rows = [
        ("warm-up: 5 s clip, first call (numba JIT)", warm_s, None),
        ("decode alone (bundled ffmpeg, 10 s blocks)", decode_s, None),
        ("decode + loudness + onsets + beats", basic_s, 3.0),
        ("full analysis (+ HPSS, chroma, bands)", full_s, 20.0),
        ("cache hit (hash + read + sample), median of 3", hit_s, 0.5),
        (f"reference: pydub dBFS loop, {n} frames (extrapolated)", pydub_s, None),
    ]
    load = os.getloadavg()[0]
    print(f"| {'stage':<55} | {'wall (s)':>8} | {'CPU (s)':>7} | {'target (s)':>10} | {'wall/target':>11} |")
    print(f"|{'-' * 57}|{'-' * 9}:|{'-' * 8}:|{'-' * 11}:|{'-' * 12}:|")
    for label, (wall, cpu), target in rows:
        tgt = f"{target:.1f}" if target else "-"
        ratio = f"{wall / target:.2f}" if target else "-"
        print(f"| {label:<55} | {wall:8.2f} | {cpu:7.2f} | {tgt:>10} | {ratio:>11} |")
    print(f"\nCPU = user + system seconds of this process and ffmpeg; load average during the run: {load:.1f} "
          f"on {os.cpu_count()} cores (wall times above CPU times mean the machine was shared)")
    met = [wall < target for _, (wall, _), target in rows if target]
    print("all targets met (wall)" if all(met) else f"{met.count(False)} target(s) missed (wall)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
