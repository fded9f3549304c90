"""Test helpers of the choreography tests: songs whose beats, bars and sections are known, and features that carry
that truth, so a test of the walk does not depend on how well the analysis hears them."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from musicvideo.audio.features import analyze_song
from musicvideo.audio.frames import FrameFeatures, sample_features
from musicvideo.audio.timing import frame_count


@functools.lru_cache(maxsize=8)
def truth_case(name: str, seconds: float | None = None):
    """``groundtruth.make_case(name)``, optionally cut to its first ``seconds`` (the truth cut with it)."""
    from musicvideo.audio.groundtruth import make_case

    song = make_case(name)
    if seconds is None or seconds >= song.duration_s:
        return song
    n = int(round(seconds * song.sample_rate))
    keep = song.section_starts_s < seconds
    return dataclasses.replace(song, samples=np.ascontiguousarray(song.samples[:, :n]),
                               beat_times_s=song.beat_times_s[song.beat_times_s < seconds],
                               downbeat_times_s=song.downbeat_times_s[song.downbeat_times_s < seconds],
                               section_starts_s=song.section_starts_s[keep],
                               section_labels=[x for x, k in zip(song.section_labels, keep) if k])


_ANALYSES: dict = {}


def _analysis(song):
    key = (song.name, song.samples.shape)
    if key not in _ANALYSES:
        _ANALYSES[key] = analyze_song(song.clip())
    return _ANALYSES[key]


def truth_features(song, *, fps: float, start_s: float = 0.0, duration_s: float | None = None) -> FrameFeatures:
    """The song's features with the analysis' beats, bars, confidence and sections replaced by the truth."""
    analysis = _analysis(song)
    n_beats = len(song.beat_times_s)
    truth = dict(beat_times_s=np.asarray(song.beat_times_s, np.float64),
                 downbeat_times_s=np.asarray(song.downbeat_times_s, np.float64),
                 beats_per_bar=int(song.beats_per_bar), tempo_bpm=float(song.tempo_bpm),
                 beat_confidence=1.0 if n_beats else 0.0,
                 beat_confidence_curve=np.full(len(analysis.onset), 1.0 if n_beats else 0.0, np.float32),
                 section_starts_s=np.asarray(song.section_starts_s, np.float64),
                 section_labels=np.asarray(song.section_labels, dtype=str))
    analysis = dataclasses.replace(analysis, **truth)
    duration = song.duration_s - start_s if duration_s is None else duration_s
    return sample_features(analysis, fps=fps, start_s=start_s, n_frames=frame_count(duration, fps),
                           duration_s=duration)


def write_truth_wav(song, path: Path) -> Path:
    """The song as a 16-bit WAV (for renders, which read files)."""
    from musicvideo.audio.synth import write_wav

    return write_wav(path, song.samples, song.sample_rate)


def analyze_with_truth(monkeypatch, songs_by_path: dict) -> None:
    """Make ``musicvideo.audio.analyze`` return the known truth for the given song files (a mapping of resolved
    path -> TruthSong), so that renders are planned on exact beats, bars and sections; other files are analysed."""
    import musicvideo.audio

    real = musicvideo.audio.analyze

    def analyze(path, *, fps, start_s=0.0, duration_s=None, config=None, cache=True):
        song = songs_by_path.get(Path(path).resolve())
        if song is None:
            return real(path, fps=fps, start_s=start_s, duration_s=duration_s, config=config, cache=cache)
        return truth_features(song, fps=fps, start_s=start_s, duration_s=duration_s)

    monkeypatch.setattr(musicvideo.audio, "analyze", analyze)
