"""Speed of the audio analysis on a 5-minute song, against the targets of issues 2 and 14.

    python benchmarks/analyze_speed.py [--song PATH] [--fps 30] [--baseline COMMIT]

Without --song a deterministic 5-minute song (the demo arrangement stretched to 300 s, 44.1 kHz stereo) is
synthesized and encoded to a 192 kb/s mp3 with the bundled ffmpeg, the common case for users. Rows:

- decode + loudness + onsets + beats: ``analyze_file`` (decode in blocks, the per-ms power sums for loudness, the
  STFT, onset strength, beat tracking), sampled at the frame times (HPSS and chroma switched off).  Target < 3 s.
- full analysis (+ HPSS, chroma, bands): the default AnalysisConfig, no cache.  Target < 20 s.
- cache hit: ``analyze()`` of the same file again (hash the bytes, read the entry, sample).  Target < 0.5 s.

What a command-line user waits for (issue 14): ``musicvideo analyze SONG -o x.npz --no-cache`` as a new process,
imports and any numba compilation included (target < 12 s on 2 cores), and the same command on a 1-second song
(its start-up: imports, numba, a tiny analysis). Both run twice: with numba's on-disk cache as a normal install has it after its
first run, and with an empty numba cache (``NUMBA_CACHE_DIR`` pointed at a new folder: the very first run after
``pip install``, when librosa's numba functions compile). ``--baseline COMMIT`` runs the same command with the code
of an earlier commit (a ``git worktree`` on ``PYTHONPATH``, same virtualenv) in the same run, for the ratio.

The in-process rows run after a warm-up on a 5 s clip (imports, soxr), shown separately. The pydub row times
pydub's own ``segment[a:b].dBFS`` per frame (the reference our vectorised loudness is tested against) on the
same song.
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


REPO = Path(__file__).resolve().parents[1]


def command_s(song: Path, out: Path, *, code: Path = REPO, numba_cache: Path | None = None) -> float:
    """Wall seconds of ``musicvideo analyze SONG -o OUT --no-cache`` in a new process (imports included)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "musicvideo", "analyze", str(song), "-o", str(out), "--no-cache",
                    "--overwrite"], check=True, env=env, cwd=code, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def cold_rows(song: Path, tmp_dir: Path, baseline: str | None) -> list[tuple[str, float, float | None]]:
    """The command-line rows: warm numba cache, empty numba cache; this code and, with ``baseline``, that commit."""
    short = write_wav(tmp_dir / "one_second.wav", demo_song(1.0, 22050), 22050)  # start-up: imports and JIT
    codes = [("", REPO)]
    if baseline:
        old = tmp_dir / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), baseline], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        codes.append((f" [{baseline}]", old))
    rows = []
    try:
        for tag, code in codes:
            command_s(song, tmp_dir / "warm.npz", code=code)  # numba's on-disk cache filled, as after a first run
            rows.append((f"command, new process{tag}", command_s(song, tmp_dir / "cold.npz", code=code), 12.0))
            rows.append((f"  start-up: the command on a 1-s song{tag}", command_s(short, tmp_dir / "s.npz", code=code),
                         None))
            empty = tmp_dir / f"numba{len(rows)}"
            rows.append((f"command, first run after install{tag}",
                         command_s(song, tmp_dir / "first.npz", code=code, numba_cache=empty), None))
    finally:
        if baseline:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp_dir / "baseline")],
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--song", default=None, help="song to analyse (default: synthesize a 5-minute mp3)")
    parser.add_argument("--fps", default="30")
    parser.add_argument("--baseline", default=None, metavar="COMMIT",
                        help="also time the command with the code of this commit (e.g. the last release)")
    args = parser.parse_args()
    fps = exact_fps(args.fps)

    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        os.environ["MUSICVIDEO_CACHE_DIR"] = str(tmp_dir / "cache")
        song = Path(args.song).resolve() if args.song else synth_mp3(tmp_dir)
        cold = cold_rows(song, tmp_dir, args.baseline)

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
    rows = [(label, (wall, float("nan")), target) for label, wall, target in cold] + [
        ("in process: warm-up, 5 s clip, first call", warm_s, None),
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
        cpu_text = "-" if cpu != cpu else f"{cpu:.2f}"  # NaN: a child process's CPU is not measured here
        print(f"| {label:<55} | {wall:8.2f} | {cpu_text:>7} | {tgt:>10} | {ratio:>11} |")
    print(f"\nCPU = user + system seconds of this process and ffmpeg; load average during the run: {load:.1f} "
          f"on {os.cpu_count()} cores (wall times above CPU times mean the machine was shared)")
    met = [wall < target for _, (wall, _), target in rows if target]
    print("all targets met (wall)" if all(met) else f"{met.count(False)} target(s) missed (wall)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
