"""SongAnalysis -> FrameFeatures: the song-level curves and the song's form read at the video frame times.

Frame ``i`` of a clip is song time ``start_s + i / fps`` (DESIGN.md, "Time"). The song's beats, bars and sections
are kept whole-song (a clip of the chorus still knows it is the second "B"), and read per frame as bar index, beat
in bar and section index.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import AudioError, OutputError, require_file
from .features import PITCH_CLASSES, AnalysisConfig, SongAnalysis, _db_to_unit, loudness_db_at
from .structure import frame_positions, section_start_bars
from .timing import frame_times


@dataclass
class FrameFeatures:
    """Per-frame features of a clip; every per-frame array has length ``n_frames`` (see DESIGN.md, "Time").

    Attributes
    ----------
    fps : float
        Frame rate (exact value in ``times_s``: frame ``i`` is at ``start_s + i / fps``).
    start_s, duration_s : float
        The clip in song time.
    times_s : numpy.ndarray
        Song time of each frame, seconds.
    loudness_db : numpy.ndarray
        pydub RMS in dBFS over the window centred on each frame (``SILENCE_DB`` for digital silence).
    loudness : numpy.ndarray
        ``loudness_db`` mapped from ``[floor_db, 0]`` to ``[0, 1]``.
    onset : numpy.ndarray
        librosa onset strength, 0..1 (1 = the song's strongest onsets).
    beat : numpy.ndarray
        1 on the frame nearest each beat, else 0.
    beat_times_s : numpy.ndarray
        Beat times inside the clip, song time in seconds.
    tempo_bpm : float
        Tempo of the song, beats per minute (0 without a beat).
    percussive, harmonic : numpy.ndarray
        Loudness of the HPSS parts, 0..1 on the same dB scale as ``loudness``.
    chroma : numpy.ndarray
        ``[n_frames, 12]`` pitch-class energy (C, C#, ..., B), each frame's maximum is 1 (0 in silence).
    bass, mid, treble : numpy.ndarray
        Band loudness (below ``bass_hz``, between, above ``treble_hz``), 0..1 on the same dB scale.
    beat_confidence : float
        0..1 for the whole song: near 0 when there is no beat to trust (ambient, rubato), high for a steady groove.
    local_beat_confidence : numpy.ndarray
        Per-frame beat confidence, 0..1 (a free-time intro is low, the groove after it high).
    downbeat : numpy.ndarray
        1 on the frame nearest each downbeat, else 0.
    downbeat_times_s : numpy.ndarray
        Downbeat (bar start) times inside the clip, song time in seconds.
    beats_per_bar : int
        The song's meter (3, 4, ...; 0 without beats).
    bar_index : numpy.ndarray
        int64 index of the song's bar each frame is in (-1 before the first downbeat or without bars).
    bar_position : numpy.ndarray
        float64 continuous bar coordinate of each frame in the song (3.5 = halfway through bar 3, counted from 0 at
        the first downbeat), from the whole song's downbeats; -1 without bars.
    beat_in_bar : numpy.ndarray
        int64 1..beats_per_bar (1 from the downbeat on), 0 where there are no bars.
    section_starts_s : numpy.ndarray
        Start of each section of the whole song (even for a clip), seconds; the first is 0.
    section_labels : numpy.ndarray
        str label per section of the whole song ("A", "B", ...); a returning part has its first label.
    section_index : numpy.ndarray
        int64 index into ``section_starts_s`` / ``section_labels`` of each frame.
    section_start_bars : numpy.ndarray
        int64 per section of the whole song: the song's bar (index into its downbeats, as ``bar_index``) that the
        section starts with, -1 without bars; a clip that starts inside a section still knows its first bar.
    """

    fps: float
    start_s: float
    duration_s: float
    times_s: np.ndarray
    loudness_db: np.ndarray
    loudness: np.ndarray
    onset: np.ndarray
    beat: np.ndarray
    beat_times_s: np.ndarray
    tempo_bpm: float
    percussive: np.ndarray
    harmonic: np.ndarray
    chroma: np.ndarray
    bass: np.ndarray
    mid: np.ndarray
    treble: np.ndarray
    beat_confidence: float
    local_beat_confidence: np.ndarray
    downbeat: np.ndarray
    downbeat_times_s: np.ndarray
    beats_per_bar: int
    bar_index: np.ndarray
    bar_position: np.ndarray
    beat_in_bar: np.ndarray
    section_starts_s: np.ndarray
    section_labels: np.ndarray
    section_index: np.ndarray
    section_start_bars: np.ndarray

    PER_FRAME = ("times_s", "loudness_db", "loudness", "onset", "beat", "percussive", "harmonic", "bass", "mid",
                 "treble", "local_beat_confidence", "downbeat", "bar_index", "bar_position", "beat_in_bar",
                 "section_index")
    _INTS = ("bar_index", "beat_in_bar", "section_index")  # per-frame columns written as integers

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.times_s)

    @property
    def section_label(self) -> np.ndarray:
        """str label of each frame's section."""
        return np.asarray(self.section_labels, dtype=str)[self.section_index]

    # ---------------------------------------------------------------- serialisation

    def to_dict(self) -> dict:
        """Plain-Python dict (lists and floats), e.g. for JSON."""
        out: dict = {"fps": float(self.fps), "start_s": float(self.start_s), "duration_s": float(self.duration_s),
                     "n_frames": self.n_frames, "tempo_bpm": float(self.tempo_bpm),
                     "beat_confidence": float(self.beat_confidence), "beats_per_bar": int(self.beats_per_bar),
                     "beat_times_s": [float(t) for t in self.beat_times_s],
                     "downbeat_times_s": [float(t) for t in self.downbeat_times_s],
                     "section_starts_s": [float(t) for t in self.section_starts_s],
                     "section_labels": [str(x) for x in self.section_labels],
                     "section_start_bars": [int(x) for x in self.section_start_bars]}
        for name in self.PER_FRAME:
            cast = int if name in self._INTS else float
            out[name] = [cast(v) for v in getattr(self, name)]
        out["chroma"] = [[float(v) for v in row] for row in self.chroma]
        return out

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` by extension: ``.npz`` (exact, loadable), ``.csv`` (one row per frame) or ``.json``.

        The caller provides atomicity (see :func:`musicvideo.audio.analyze_to_file`); this writes ``path`` directly.
        The CSV starts with ``#`` comment lines holding the song-level values (tempo, beat confidence, meter, the
        beat and downbeat times in the clip, the whole song's sections), then one row per frame.

        Parameters
        ----------
        path : str or Path
            Output file.

        Returns
        -------
        Path
            ``path``.
        """
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix == ".npz":
            arrays = {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)}
            np.savez_compressed(p, **arrays)
        elif suffix == ".json":
            p.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        elif suffix == ".csv":
            self._write_csv(p)
        else:
            raise OutputError(f"unknown features format {p.suffix or '(none)'} for {p} (use .npz, .csv or .json)")
        return p

    def _write_csv(self, p: Path) -> None:
        def times(values) -> str:
            return " ".join(f"{float(t):.4f}" for t in values)

        with open(p, "w", newline="", encoding="utf-8") as fh:
            fh.write(f"# musicvideo features: fps={float(self.fps):.6f} start_s={self.start_s:.6f} "
                     f"duration_s={self.duration_s:.6f} tempo_bpm={self.tempo_bpm:.3f} "
                     f"n_beats={len(self.beat_times_s)} beat_confidence={self.beat_confidence:.3f} "
                     f"beats_per_bar={int(self.beats_per_bar)}\n")
            fh.write(f"# beat_times_s: {times(self.beat_times_s)}\n")
            fh.write(f"# downbeat_times_s: {times(self.downbeat_times_s)}\n")
            fh.write(f"# section_starts_s: {times(self.section_starts_s)}\n")
            fh.write(f"# section_labels: {' '.join(str(x) for x in self.section_labels)}\n")
            fh.write(f"# section_start_bars: {' '.join(str(int(x)) for x in self.section_start_bars)}\n")
            writer = csv.writer(fh)
            writer.writerow(["frame", *self.PER_FRAME, "section_label", *(f"chroma_{c}" for c in PITCH_CLASSES)])
            columns = [getattr(self, n) for n in self.PER_FRAME]
            fmt = ["{:d}" if n in self._INTS else "{:.6g}" for n in self.PER_FRAME]
            labels = self.section_label
            for i in range(self.n_frames):
                writer.writerow([i, *(f.format(c[i].item()) for f, c in zip(fmt, columns)), labels[i],
                                 *(f"{v:.4g}" for v in self.chroma[i])])

    @classmethod
    def load(cls, path: str | Path) -> "FrameFeatures":
        """Read features written by :meth:`save` as ``.npz``.

        Parameters
        ----------
        path : str or Path
            An ``.npz`` file.

        Returns
        -------
        FrameFeatures
        """
        p = require_file(path, "features file", AudioError)
        try:
            with np.load(p, allow_pickle=False) as data:
                values = {}
                for f in dataclasses.fields(cls):
                    a = data[f.name]
                    values[f.name] = a.item() if a.ndim == 0 else a
        except (KeyError, ValueError, OSError) as exc:
            raise AudioError(f"not a musicvideo features .npz: {p} ({exc}); write it again with "
                             f"`musicvideo analyze`") from None
        values["beats_per_bar"] = int(values["beats_per_bar"])
        return cls(**values)


def nearest_frames(times_s: np.ndarray, events_s: np.ndarray, fps: float | Fraction) -> np.ndarray:
    """Index of the frame nearest each event, -1 for events more than half a frame outside the clip."""
    if len(times_s) == 0 or len(events_s) == 0:
        return np.full(len(events_s), -1, np.int64)
    half = 0.5 / float(fps)
    right = np.clip(np.searchsorted(times_s, events_s), 0, len(times_s) - 1)
    left = np.clip(right - 1, 0, len(times_s) - 1)
    pick = np.where(np.abs(times_s[left] - events_s) <= np.abs(times_s[right] - events_s), left, right)
    ok = np.abs(times_s[pick] - events_s) <= half + 1e-9
    return np.where(ok, pick, -1)


def _event_frames(times_s: np.ndarray, events_s: np.ndarray, fps: float | Fraction) -> tuple[np.ndarray, np.ndarray]:
    """A 0/1 float32 curve with 1 on the frame nearest each event, and the events inside the clip."""
    frames = nearest_frames(times_s, events_s, fps)
    curve = np.zeros(len(times_s), np.float32)
    curve[frames[frames >= 0]] = 1.0
    return curve, np.asarray(events_s, np.float64)[frames >= 0]


def sample_features(song: SongAnalysis, *, fps: float | Fraction, start_s: float, n_frames: int,
                    duration_s: float, config: AnalysisConfig | None = None) -> FrameFeatures:
    """Read song-level curves at the frame times ``start + i / fps``.

    Parameters
    ----------
    song : SongAnalysis
        From :func:`~musicvideo.audio.features.analyze_song` (or the cache).
    fps : float or Fraction
        Frame rate.
    start_s : float
        Song time of frame 0.
    n_frames : int
        Number of frames.
    duration_s : float
        Clip length recorded in the result.
    config : AnalysisConfig, optional
        Must be the config the song was analysed with (for the loudness window and dB floor).

    Returns
    -------
    FrameFeatures
    """
    cfg = config or AnalysisConfig()
    times = frame_times(start_s, n_frames, fps)
    loud_db = loudness_db_at(song, times, cfg.loudness_window_s)
    k = len(song.onset)
    feature_times = np.arange(k) / song.feature_rate

    past_end = times >= song.duration_s

    def at(values: np.ndarray) -> np.ndarray:
        out = np.interp(times, feature_times, values).astype(np.float32)
        out[past_end] = 0.0  # a frame after the last sample hears silence
        return out

    chroma = np.stack([at(song.chroma[:, c]) for c in range(12)], axis=1) if n_frames else np.zeros((0, 12))
    beat, beats_inside = _event_frames(times, song.beat_times_s, fps)
    downbeat, downbeats_inside = _event_frames(times, song.downbeat_times_s, fps)
    where = frame_positions(times, beat_times_s=song.beat_times_s, downbeat_times_s=song.downbeat_times_s,
                            section_starts_s=song.section_starts_s, tolerance_s=0.5 / float(fps))
    return FrameFeatures(fps=float(fps), start_s=float(start_s), duration_s=float(duration_s),
                         times_s=times, loudness_db=loud_db, loudness=_db_to_unit(loud_db, cfg.floor_db),
                         onset=at(song.onset), beat=beat, beat_times_s=beats_inside,
                         tempo_bpm=float(song.tempo_bpm), percussive=at(song.percussive),
                         harmonic=at(song.harmonic), chroma=chroma.astype(np.float32), bass=at(song.bass),
                         mid=at(song.mid), treble=at(song.treble), beat_confidence=float(song.beat_confidence),
                         local_beat_confidence=at(song.beat_confidence_curve), downbeat=downbeat,
                         downbeat_times_s=downbeats_inside, beats_per_bar=int(song.beats_per_bar),
                         bar_index=where.bar_index, bar_position=where.bar_position,
                         beat_in_bar=where.beat_in_bar,
                         section_starts_s=np.asarray(song.section_starts_s, np.float64),
                         section_labels=np.asarray(song.section_labels, dtype=str),
                         section_index=where.section_index,
                         section_start_bars=section_start_bars(song.section_starts_s, song.downbeat_times_s))
