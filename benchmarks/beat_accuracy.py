"""Beat, downbeat and section accuracy of the analysis against known truth, beside librosa's beat tracker (issue 14).

    python benchmarks/beat_accuracy.py [--part tuning|held_out|held_out_2|real|all] [--cases NAME,...] [--results]

Parts:

- ``tuning``: the synthesized songs of :data:`musicvideo.audio.groundtruth.TUNING_CASES` (tune against these);
- ``held_out``: :data:`~musicvideo.audio.groundtruth.HELD_OUT_CASES` (report, never tune on them);
- ``held_out_2``: :data:`~musicvideo.audio.groundtruth.HELD_OUT_2_CASES`, made after all tuning had finished
  (the first held-out set had been looked at by then);
- ``real``: the files of ``../shared/audio`` that have a ``.beats`` file (time and beat in bar, 1 = downbeat; a
  one-column file has beats only); skipped when the folder is absent.

For every song with a beat: ours (``analyze_song`` / ``analyze_file`` with the default AnalysisConfig, the song's
``beat_times_s`` and ``downbeat_times_s``) and librosa's ``beat.beat_track`` defaults (mono at 22.05 kHz as
``librosa.load`` gives it; librosa finds no downbeats), scored with mir_eval: beat F-measure (+-70 ms), CMLt and
AMLt (correct metrical level / any metrical level, total), and the downbeat F-measure (``mir_eval.beat.f_measure``
on the downbeats). No beats are trimmed: ``mir_eval.beat.evaluate`` would ignore the first 5 s, but a video shows
them. For a beatless song: our beat confidence and the number of beats each tracker returns. Sections (songs with
section truth, ours only): boundary hit rate F at +-0.5 s and +-3 s (``mir_eval.segment.detection``, the song's
start and end not counted) and the pairwise frame-label F (``mir_eval.segment.pairwise``), which rewards a repeated
part labelled like its first appearance.

"ours s" is the wall time of our analysis of the song (after a warm-up: imports and numba compilation are not
in it). ``--results`` prints a Markdown block for ``benchmarks/RESULTS.md`` (header with the command, date and machine).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicvideo.audio import AudioClip, analyze_song  # noqa: E402
from musicvideo.audio.features import analyze_file  # noqa: E402
from musicvideo.audio.groundtruth import HELD_OUT_2_CASES, HELD_OUT_CASES, TUNING_CASES, make_case  # noqa: E402

PARTS = {"tuning": TUNING_CASES, "held_out": HELD_OUT_CASES, "held_out_2": HELD_OUT_2_CASES}

REAL_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "audio"
LIBROSA_SR = 22050


@dataclass
class Truth:
    """What is known of one song (from the ground-truth set or a ``.beats`` file)."""

    name: str
    duration_s: float
    beat_times_s: np.ndarray
    downbeat_times_s: np.ndarray | None  # None: unknown (not "none")
    beats_per_bar: int
    section_starts_s: np.ndarray | None
    section_labels: list[str] | None


@dataclass
class Row:
    """Scores of one song."""

    name: str
    truth_bpm: float
    has_beat: bool
    ours: dict
    librosa: dict
    sections: dict | None
    seconds: float


def read_beats(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Beat times and downbeat times (None for a one-column file) of a ``.beats`` file."""
    rows = np.atleast_2d(np.loadtxt(path, dtype=np.float64, ndmin=2))
    beats = rows[:, 0]
    downs = beats[rows[:, 1] == 1] if rows.shape[1] > 1 else None
    return beats, downs


def beat_scores(reference: np.ndarray, estimated: np.ndarray, ref_downbeats: np.ndarray | None,
                est_downbeats: np.ndarray | None) -> dict:
    """F-measure, CMLt, AMLt and downbeat F-measure (None where unknown) with mir_eval, no trimming."""
    import mir_eval

    est = np.asarray(estimated, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns on empty estimates and scores them 0
        f = mir_eval.beat.f_measure(reference, est, f_measure_threshold=0.07)
        _, cmlt, _, amlt = mir_eval.beat.continuity(reference, est)
        down = None
        if ref_downbeats is not None and est_downbeats is not None and len(ref_downbeats):
            down = mir_eval.beat.f_measure(ref_downbeats, np.asarray(est_downbeats, np.float64),
                                           f_measure_threshold=0.07)
    return {"f": f, "cmlt": cmlt, "amlt": amlt, "down_f": down}


def _intervals(starts: np.ndarray, duration_s: float) -> np.ndarray:
    starts = np.asarray(starts, np.float64)
    ends = np.append(starts[1:], max(duration_s, starts[-1] + 1e-3))
    return np.stack([starts, ends], axis=1)


def section_scores(truth: Truth, starts: np.ndarray, labels) -> dict:
    """Boundary hit-rate F at +-0.5 s and +-3 s (inner boundaries only) and pairwise label F."""
    import mir_eval

    ref = _intervals(truth.section_starts_s, truth.duration_s)
    est = _intervals(starts if len(starts) else np.array([0.0]), truth.duration_s)
    est_labels = [str(x) for x in labels] if len(labels) else ["A"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {"n_ref": len(ref), "n_est": len(est)}
        if len(ref) > 1:  # a one-section truth has no inner boundary to hit
            out["hr05"] = mir_eval.segment.detection(ref, est, window=0.5, trim=True)[2]
            out["hr3"] = mir_eval.segment.detection(ref, est, window=3.0, trim=True)[2]
        out["pair_f"] = mir_eval.segment.pairwise(ref, list(truth.section_labels), est, est_labels)[2]
    return out


def librosa_beats(mono: np.ndarray) -> np.ndarray:
    """``librosa.beat.beat_track`` with its defaults on a 22.05 kHz mono signal, in seconds."""
    import librosa

    _, frames = librosa.beat.beat_track(y=mono, sr=LIBROSA_SR)
    return librosa.frames_to_time(frames, sr=LIBROSA_SR)


def _mono_22k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """What ``librosa.load(path, sr=22050)`` (mono) gives for these samples."""
    import librosa

    mono = np.asarray(samples, np.float32).mean(axis=0)
    return librosa.resample(mono, orig_sr=sample_rate, target_sr=LIBROSA_SR) if sample_rate != LIBROSA_SR else mono


def score_song(truth: Truth, analysis, mono: np.ndarray, seconds: float) -> Row:
    """Our scores and librosa's for one song."""
    lib = librosa_beats(mono)
    has_beat = len(truth.beat_times_s) > 0
    ours = {"n_beats": len(analysis.beat_times_s), "confidence": float(analysis.beat_confidence),
            "bpm": float(analysis.tempo_bpm), "meter": int(analysis.beats_per_bar)}
    theirs = {"n_beats": len(lib)}
    if has_beat:
        ours.update(beat_scores(truth.beat_times_s, analysis.beat_times_s, truth.downbeat_times_s,
                                analysis.downbeat_times_s))
        theirs.update(beat_scores(truth.beat_times_s, lib, None, None))
        # the median signed offset of matched beats: a phase error shows here (negative = early)
        for scores, est in ((ours, analysis.beat_times_s), (theirs, lib)):
            scores["offset_ms"] = _median_offset_ms(truth.beat_times_s, est)
    sections = None
    if truth.section_starts_s is not None:
        sections = section_scores(truth, np.asarray(analysis.section_starts_s), list(analysis.section_labels))
    bpm = float(60.0 / np.median(np.diff(truth.beat_times_s))) if len(truth.beat_times_s) > 1 else 0.0
    return Row(truth.name, bpm, has_beat, ours, theirs, sections, seconds)


def _median_offset_ms(reference: np.ndarray, estimated: np.ndarray) -> float | None:
    est = np.asarray(estimated, np.float64)
    if not len(est) or not len(reference):
        return None
    nearest = est[np.clip(np.searchsorted(est, reference), 1, len(est) - 1)[:, None] + np.array([-1, 0])]
    d = nearest - reference[:, None]
    d = d[np.arange(len(d)), np.argmin(np.abs(d), axis=1)]
    close = np.abs(d) < 0.5 * np.median(np.diff(reference)) if len(reference) > 1 else np.abs(d) < 0.25
    return float(1000 * np.median(d[close])) if close.any() else None


def run_synth(part: str, only: set[str] | None = None) -> list[Row]:
    """Scores of one part of the ground-truth set (only the cases named in ``only``, when given)."""
    rows = []
    for song in (make_case(name) for name in PARTS[part] if only is None or name in only):
        start = time.perf_counter()
        analysis = analyze_song(song.clip())
        seconds = time.perf_counter() - start
        truth = Truth(song.name, song.duration_s, song.beat_times_s, song.downbeat_times_s, song.beats_per_bar,
                      song.section_starts_s, list(song.section_labels))
        rows.append(score_song(truth, analysis, _mono_22k(song.samples, song.sample_rate), seconds))
    return rows


def run_real(directory: Path) -> list[Row] | None:
    """Scores of the files with a ``.beats`` file in ``directory`` (None when it is absent)."""
    import librosa

    if not directory.is_dir():
        return None
    rows = []
    for beats_file in sorted(directory.glob("*.beats")):
        audio = [p for p in sorted(directory.glob(beats_file.stem + ".*")) if p.suffix != ".beats"]
        if not audio:
            continue
        beats, downs = read_beats(beats_file)
        start = time.perf_counter()
        analysis = analyze_file(audio[0])
        seconds = time.perf_counter() - start
        mono, _ = librosa.load(audio[0], sr=LIBROSA_SR, mono=True)
        truth = Truth(audio[0].name, analysis.duration_s, beats, downs, 0, None, None)
        rows.append(score_song(truth, analysis, mono, seconds))
    return rows


def _fmt(x, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def table(title: str, rows: list[Row]) -> str:
    """A Markdown table of one part with per-part means."""
    head = ("| song | truth BPM | ours BPM | ours F | librosa F | ours CMLt | librosa CMLt | ours AMLt | "
            "librosa AMLt | ours downbeat F | librosa downbeat F | offset ms ours / librosa | ours conf | meter | "
            "sections: n truth/ours, HR.5 F, HR3 F, pairwise F | ours s |")
    lines = [f"**{title}**", "", head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        o, lb = r.ours, r.librosa
        sec = "-"
        if r.sections:
            s = r.sections
            sec = f"{s['n_ref']}/{s['n_est']}, {_fmt(s.get('hr05'))}, {_fmt(s.get('hr3'))}, {_fmt(s['pair_f'])}"
        if r.has_beat:
            cells = [r.name, _fmt(r.truth_bpm, 1), _fmt(o["bpm"], 1), _fmt(o["f"]), _fmt(lb["f"]), _fmt(o["cmlt"]),
                     _fmt(lb["cmlt"]), _fmt(o["amlt"]), _fmt(lb["amlt"]), _fmt(o["down_f"]), "-",
                     f"{_fmt(o['offset_ms'], 0)} / {_fmt(lb['offset_ms'], 0)}", _fmt(o["confidence"]),
                     str(o["meter"]), sec, _fmt(r.seconds, 1)]
        else:
            beats = f"no beat: {o['n_beats']} beats found"
            cells = [r.name, "-", _fmt(o["bpm"], 1), beats, f"{lb['n_beats']} beats found", "-", "-", "-", "-",
                     "-", "-", "-", _fmt(o["confidence"]), str(o["meter"]), sec, _fmt(r.seconds, 1)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| " + " | ".join(_means(rows)) + " |")
    return "\n".join(lines)


def _means(rows: list[Row]) -> list[str]:
    beat = [r for r in rows if r.has_beat]
    free = [r for r in rows if not r.has_beat]

    def mean(values):
        values = [v for v in values if v is not None]
        return _fmt(float(np.mean(values))) if values else "-"

    secs = [r.sections for r in rows if r.sections]
    sec = (f"{mean([s.get('hr05') for s in secs])}, {mean([s.get('hr3') for s in secs])}, "
           f"{mean([s['pair_f'] for s in secs])}" if secs else "-")
    conf_beat, conf_free = mean([r.ours["confidence"] for r in beat]), mean([r.ours["confidence"] for r in free])
    return [f"**mean** ({len(beat)} with a beat, {len(free)} without)", "-", "-", mean([r.ours["f"] for r in beat]),
            mean([r.librosa["f"] for r in beat]), mean([r.ours["cmlt"] for r in beat]),
            mean([r.librosa["cmlt"] for r in beat]), mean([r.ours["amlt"] for r in beat]),
            mean([r.librosa["amlt"] for r in beat]), mean([r.ours["down_f"] for r in beat]), "-", "-",
            f"{conf_beat} (beat) / {conf_free} (none)", "-", sec, _fmt(sum(r.seconds for r in rows), 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=(*PARTS, "real", "all"), default="tuning")
    parser.add_argument("--results", action="store_true", help="print a Markdown block for benchmarks/RESULTS.md")
    parser.add_argument("--cases", default=None, help="comma-separated case names: only these (synthesized parts)")
    parser.add_argument("--audio-dir", type=Path, default=REAL_AUDIO, help="folder of real songs with .beats")
    args = parser.parse_args()

    start = time.perf_counter()
    # warm-up (imports, numba compilation) on 5 s of a song, so that the per-song seconds are the analysis alone
    warm = make_case("groove")
    analyze_song(AudioClip(np.ascontiguousarray(warm.samples[:, :5 * warm.sample_rate]), warm.sample_rate,
                           Path("warm-up")))
    librosa_beats(_mono_22k(warm.samples[:, :5 * warm.sample_rate], warm.sample_rate))
    parts = (*PARTS, "real") if args.part == "all" else (args.part,)
    tables = []
    for part in parts:
        if part == "real":
            rows = run_real(args.audio_dir)
            if rows is None:
                print(f"real: {args.audio_dir} is absent: skipped", file=sys.stderr)
                continue
            title = f"real songs with .beats ({args.audio_dir.name}/)"
        else:
            rows = run_synth(part, set(args.cases.split(",")) if args.cases else None)
            if not rows:
                continue
            title = {"tuning": "tuning set (synthesized)", "held_out": "held-out set (synthesized, not tuned on)",
                     "held_out_2": "second held-out set (synthesized after all tuning)"}[part]
        tables.append(table(title, rows))
        if not args.results:
            print(tables[-1] + "\n", flush=True)
    total = time.perf_counter() - start
    if args.results:
        import librosa
        import mir_eval

        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        command = "python benchmarks/beat_accuracy.py" + "".join(
            f" {a}" for a in sys.argv[1:])
        print(f"## Beat accuracy (issue 14), {datetime.date.today()}\n")
        print(f"`{command}`, {platform.machine()} with {os.cpu_count()} cores, load average {load:.1f}, "
              f"librosa {librosa.__version__}, mir_eval {mir_eval.__version__}, {total:.0f} s in all. Beat F at "
              "+-70 ms, CMLt, AMLt and downbeat F from mir_eval, nothing trimmed; offset = median signed error of "
              "the beats within half a period of a truth beat (negative: early); librosa = `beat.beat_track` "
              "defaults on the 22.05 kHz mono mix; sections: inner boundary hit-rate F at +-0.5 s and +-3 s, "
              "pairwise label F.\n")
        print("\n\n".join(tables))
    else:
        print(f"{total:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
