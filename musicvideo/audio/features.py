"""AudioClip + fps -> FrameFeatures: per-frame loudness, onsets, beats, HPSS, chroma and band energies.

Two steps, so that any clip of a song gives exactly the values of the whole song at the same times:

1. :func:`analyze_song` analyses the *whole* song once, at a fixed feature rate that does not depend on fps:
   a per-millisecond running power sum for loudness (pydub's RMS/dBFS, vectorised), and, from one shared STFT of a
   22.05 kHz mono mix, librosa onset strength, beat times and tempo, HPSS percussive/harmonic loudness, chroma and
   bass/mid/treble energies. This :class:`SongAnalysis` is what the cache stores.
2. :func:`sample_features` reads those song-level curves at the frame times ``t_i = start + i / fps``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import AudioError, ConfigError, OutputError, require_file
from .decode import AudioClip
from .timing import frame_times

SILENCE_DB = -120.0  # loudness_db of digital silence (dBFS would be -inf)
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass
class AnalysisConfig:
    """Knobs of the audio analysis (all of them are part of the cache key)."""

    sample_rate: int = 22050  # Hz of the mono mix used for onsets, beats, HPSS, chroma and bands
    hop_length: int = 512  # STFT hop in samples at sample_rate (512 -> one feature every 23 ms)
    n_fft: int = 2048  # STFT window in samples at sample_rate
    n_mels: int = 128  # mel bands for onset strength and HPSS
    loudness_window_s: float = 0.05  # RMS window centred on each frame, seconds (at the file's own rate)
    floor_db: float = -60.0  # dBFS mapped to 0 by the normalised loudness / percussive / harmonic / band curves
    start_bpm: float = 120.0  # beat tracker's prior tempo
    tightness: float = 100.0  # how strictly the beat tracker keeps a steady tempo
    trim_beats: bool = False  # drop weak beats at the start and end (librosa's trim); off keeps quiet intros' beats
    hpss: bool = True  # compute percussive/harmonic loudness (the slow part; zeros when off)
    hpss_kernel: int = 31  # median filter length (frames and mel bins) of HPSS
    chroma: bool = True  # compute the 12 pitch classes (zeros when off)
    bass_hz: float = 250.0  # upper edge of the bass band
    treble_hz: float = 4000.0  # lower edge of the treble band (mid lies between)

    def __post_init__(self) -> None:
        if self.sample_rate < 4000 or self.hop_length < 16 or self.n_fft < self.hop_length:
            raise ConfigError("analysis: need sample_rate >= 4000, hop_length >= 16 and n_fft >= hop_length")
        if not 0 < self.loudness_window_s <= 10:
            raise ConfigError("analysis.loudness_window_s must be in (0, 10] seconds")
        if not self.floor_db < 0:
            raise ConfigError("analysis.floor_db must be negative (e.g. -60)")
        if not 0 < self.bass_hz < self.treble_hz:
            raise ConfigError("analysis: need 0 < bass_hz < treble_hz")


@dataclass
class SongAnalysis:
    """Song-level analysis independent of fps and clip (what the cache stores).

    Attributes
    ----------
    source_rate : int
        Sample rate of the file.
    n_samples : int
        Samples per channel of the file.
    channels : int
        Channels of the file.
    power_cumsum : numpy.ndarray
        float64 ``[n_ms + 1]``: cumulative sum over channels of squared samples up to each millisecond boundary
        (boundary ``m`` is sample ``floor(m * source_rate / 1000)``, pydub's millisecond slicing).
    feature_rate : float
        Feature frames per second (``sample_rate / hop_length``); feature frame ``k`` is at ``k / feature_rate``.
    onset, percussive, harmonic, bass, mid, treble : numpy.ndarray
        float32 ``[K]`` in 0..1.
    chroma : numpy.ndarray
        float32 ``[K, 12]`` in 0..1.
    beat_times_s : numpy.ndarray
        float64 beat times in seconds.
    tempo_bpm : float
        Tempo (0 when there is no beat).
    """

    source_rate: int
    n_samples: int
    channels: int
    power_cumsum: np.ndarray
    feature_rate: float
    onset: np.ndarray
    percussive: np.ndarray
    harmonic: np.ndarray
    chroma: np.ndarray
    bass: np.ndarray
    mid: np.ndarray
    treble: np.ndarray
    beat_times_s: np.ndarray
    tempo_bpm: float

    @property
    def duration_s(self) -> float:
        """Length of the song in seconds."""
        return self.n_samples / self.source_rate

    def to_arrays(self) -> dict[str, np.ndarray]:
        """All fields as numpy arrays (for ``np.savez``)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays) -> "SongAnalysis":
        """Inverse of :meth:`to_arrays` (raises KeyError/ValueError on a malformed mapping)."""
        values = {}
        for f in dataclasses.fields(cls):
            a = np.asarray(arrays[f.name])
            values[f.name] = a.item() if a.ndim == 0 else a
        values["source_rate"] = int(values["source_rate"])
        values["n_samples"] = int(values["n_samples"])
        values["channels"] = int(values["channels"])
        song = cls(**values)
        k = len(song.onset)
        if any(len(getattr(song, n)) != k for n in ("percussive", "harmonic", "chroma", "bass", "mid", "treble")):
            raise ValueError("inconsistent feature lengths")
        return song


@dataclass
class FrameFeatures:
    """Per-frame features of a clip; every array has length ``n_frames`` (see DESIGN.md, "Time").

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

    PER_FRAME = ("times_s", "loudness_db", "loudness", "onset", "beat", "percussive", "harmonic", "bass", "mid",
                 "treble")

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.times_s)

    # ---------------------------------------------------------------- serialisation

    def to_dict(self) -> dict:
        """Plain-Python dict (lists and floats), e.g. for JSON."""
        out: dict = {"fps": float(self.fps), "start_s": float(self.start_s), "duration_s": float(self.duration_s),
                     "n_frames": self.n_frames, "tempo_bpm": float(self.tempo_bpm),
                     "beat_times_s": [float(t) for t in self.beat_times_s]}
        for name in self.PER_FRAME:
            out[name] = [float(v) for v in getattr(self, name)]
        out["chroma"] = [[float(v) for v in row] for row in self.chroma]
        return out

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` by extension: ``.npz`` (exact, loadable), ``.csv`` (one row per frame) or ``.json``.

        The caller provides atomicity (see :func:`musicvideo.audio.analyze_to_file`); this writes ``path`` directly.

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
            with open(p, "w", newline="", encoding="utf-8") as fh:
                fh.write(f"# musicvideo features: fps={float(self.fps):.6f} start_s={self.start_s:.6f} "
                         f"duration_s={self.duration_s:.6f} tempo_bpm={self.tempo_bpm:.3f} "
                         f"n_beats={len(self.beat_times_s)}\n")
                writer = csv.writer(fh)
                writer.writerow(["frame", *self.PER_FRAME, *(f"chroma_{c}" for c in PITCH_CLASSES)])
                columns = [getattr(self, n) for n in self.PER_FRAME]
                for i in range(self.n_frames):
                    writer.writerow([i, *(f"{c[i]:.6g}" for c in columns), *(f"{v:.4g}" for v in self.chroma[i])])
        else:
            raise OutputError(f"unknown features format {p.suffix or '(none)'} for {p} (use .npz, .csv or .json)")
        return p

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
                    values[f.name] = float(a) if a.ndim == 0 else a
        except (KeyError, ValueError, OSError) as exc:
            raise AudioError(f"not a musicvideo features .npz: {p} ({exc})") from None
        return cls(**values)


# ---------------------------------------------------------------- song-level analysis


def _db_to_unit(db: np.ndarray, floor_db: float) -> np.ndarray:
    return np.clip((db - floor_db) / -floor_db, 0.0, 1.0).astype(np.float32)


def _rms_to_db(rms: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(rms)
    return np.maximum(np.nan_to_num(db, nan=SILENCE_DB, neginf=SILENCE_DB), SILENCE_DB)


def millisecond_boundaries(n_samples: int, sample_rate: int) -> np.ndarray:
    """Sample index of each millisecond boundary, as pydub slices (``floor(ms * rate / 1000)``), clipped to n."""
    n_ms = -(-n_samples * 1000 // sample_rate)  # ceil
    return np.minimum(np.arange(n_ms + 1, dtype=np.int64) * sample_rate // 1000, n_samples)


def power_cumsum(samples: np.ndarray, sample_rate: int, *, chunk_ms: int = 10_000) -> np.ndarray:
    """Cumulative sum over channels of squared samples at each millisecond boundary (float64).

    Squares are summed per millisecond in chunks of ``chunk_ms`` (no song-length float64 temporaries: at 5 minutes
    of 48 kHz stereo those cost more than the arithmetic); the running sum is then over milliseconds only.
    """
    bounds = millisecond_boundaries(samples.shape[1], sample_rate)
    blocks = np.zeros(len(bounds) - 1, np.float64)
    for m0 in range(0, len(blocks), chunk_ms):
        m1 = min(m0 + chunk_ms, len(blocks))
        a, b = bounds[m0], bounds[m1]
        if b <= a:
            continue
        part = samples[:, a:b]
        squares = np.einsum("cn,cn->n", part, part)  # float32, summed over channels
        starts = np.minimum(bounds[m0:m1] - a, len(squares) - 1)
        sums = np.add.reduceat(squares, starts, dtype=np.float64)
        sums[bounds[m0 + 1:m1 + 1] == bounds[m0:m1]] = 0.0  # empty milliseconds (only past the end)
        blocks[m0:m1] = sums
    return np.concatenate([[0.0], np.cumsum(blocks)])


def loudness_db_at(song: SongAnalysis, times_s: np.ndarray, window_s: float) -> np.ndarray:
    """pydub's ``segment[a:b].dBFS`` for the window of ``window_s`` centred on each time (in whole ms).

    Parameters
    ----------
    song : SongAnalysis
        Provides the millisecond power sums.
    times_s : numpy.ndarray
        Window centres in seconds.
    window_s : float
        Window length in seconds.

    Returns
    -------
    numpy.ndarray
        float32 dBFS, ``SILENCE_DB`` where the window is silent or outside the song.
    """
    cum = song.power_cumsum
    bounds = millisecond_boundaries(song.n_samples, song.source_rate)
    half_ms = max(int(round(window_s * 500.0)), 1)
    centre = np.round(np.asarray(times_s, dtype=np.float64) * 1000.0).astype(np.int64)
    a = np.clip(centre - half_ms, 0, len(cum) - 1)
    b = np.clip(centre + half_ms, 0, len(cum) - 1)
    count = (bounds[b] - bounds[a]) * song.channels
    energy = np.maximum(cum[b] - cum[a], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rms = np.sqrt(np.where(count > 0, energy / np.maximum(count, 1), 0.0))
    return _rms_to_db(rms).astype(np.float32)


def mono_mix(clip: AudioClip, sample_rate: int) -> np.ndarray:
    """Mean of the channels resampled to ``sample_rate`` (float32)."""
    y = clip.samples.mean(axis=0, dtype=np.float32) if clip.channels > 1 else clip.samples[0]
    if clip.sample_rate != sample_rate:
        import librosa

        y = librosa.resample(y, orig_sr=clip.sample_rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(y, dtype=np.float32)


def _refine_tempo(beat_times: np.ndarray, tempo_guess: float) -> float:
    """Mean beat period of the steady part: far finer than the tempogram's lag grid."""
    if len(beat_times) < 2:
        return float(tempo_guess) if len(beat_times) else 0.0
    intervals = np.diff(beat_times)
    period = 60.0 / tempo_guess if tempo_guess > 0 else float(np.median(intervals))
    steady = intervals[np.abs(intervals - period) < 0.25 * period]
    if len(steady) == 0:
        steady = intervals
    return float(60.0 / np.mean(steady))


def analyze_song(clip: AudioClip, config: AnalysisConfig | None = None) -> SongAnalysis:
    """Analyse a whole decoded song at the feature rate (independent of fps).

    Parameters
    ----------
    clip : AudioClip
        The decoded song.
    config : AnalysisConfig, optional
        Analysis knobs.

    Returns
    -------
    SongAnalysis
        Song-level curves; see :func:`sample_features` to read them at frame times.
    """
    import librosa

    cfg = config or AnalysisConfig()
    sr, hop = cfg.sample_rate, cfg.hop_length
    cum = power_cumsum(clip.samples, clip.sample_rate)
    y = mono_mix(clip, sr)
    if len(y) < cfg.n_fft:  # very short songs: pad so the STFT has at least one full window
        y = np.pad(y, (0, cfg.n_fft - len(y)))

    # One STFT shared by onsets, HPSS, chroma and bands.
    magnitude = np.abs(librosa.stft(y, n_fft=cfg.n_fft, hop_length=hop, center=True))
    power = magnitude ** 2
    k = power.shape[1]
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=cfg.n_mels)

    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel, ref=1.0, top_db=None, amin=1e-10), sr=sr,
                                         hop_length=hop)[:k]
    onset = np.nan_to_num(onset).astype(np.float32)
    if np.any(onset > 0) and np.max(mel) > 1e-10:
        tempo, beats = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=hop, start_bpm=cfg.start_bpm,
                                               tightness=cfg.tightness, trim=cfg.trim_beats,
                                               units="time")
        tempo_guess = float(np.atleast_1d(tempo)[0])
        beat_times = np.asarray(beats, dtype=np.float64)
        scale = float(np.percentile(onset, 99.5)) or float(np.max(onset))
        onset = np.clip(onset / scale, 0.0, 1.0)
    else:  # silence: no beats, zeros everywhere
        tempo_guess, beat_times = 0.0, np.zeros(0)
        onset = np.zeros(k, np.float32)
    tempo_bpm = _refine_tempo(beat_times, tempo_guess)

    # Loudness of parts of the spectrum on the dBFS scale of ``loudness`` (Parseval for a Hann-windowed STFT:
    # twice the one-sided power sum over sum(window^2) * n_fft is the mean square; a full-scale sine is -3 dB).
    parseval = 2.0 / (np.sum(np.hanning(cfg.n_fft + 1)[:-1] ** 2) * cfg.n_fft)

    def part_loudness(frame_power: np.ndarray) -> np.ndarray:
        return _db_to_unit(_rms_to_db(np.sqrt(np.maximum(frame_power, 0.0) * parseval)), cfg.floor_db)

    if cfg.hpss:
        harmonic_mel, percussive_mel = librosa.decompose.hpss(mel, kernel_size=cfg.hpss_kernel)
        # HPSS on the mel spectrogram (8x fewer bins than the STFT: seconds instead of tens of seconds);
        # each part's share of the mel power, applied to the linear power, keeps the dB scale.
        total_mel = np.maximum(mel.sum(axis=0), 1e-30)
        frame_power = power.sum(axis=0)
        harmonic = part_loudness(frame_power * harmonic_mel.sum(axis=0) / total_mel)
        percussive = part_loudness(frame_power * percussive_mel.sum(axis=0) / total_mel)
    else:
        harmonic = percussive = np.zeros(k, np.float32)

    if cfg.chroma:
        chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=cfg.n_fft, hop_length=hop, tuning=0.0).T[:k]
        chroma = np.nan_to_num(chroma).astype(np.float32)
        chroma[np.max(mel, axis=0) <= 1e-10] = 0.0  # pure silence has no pitch
    else:
        chroma = np.zeros((k, 12), np.float32)

    freqs = librosa.fft_frequencies(sr=sr, n_fft=cfg.n_fft)
    bands = []
    for lo, hi in ((0.0, cfg.bass_hz), (cfg.bass_hz, cfg.treble_hz), (cfg.treble_hz, np.inf)):
        rows = (freqs >= lo) & (freqs < hi)
        bands.append(part_loudness(power[rows].sum(axis=0)))

    return SongAnalysis(source_rate=int(clip.sample_rate), n_samples=int(clip.samples.shape[1]),
                        channels=int(clip.channels), power_cumsum=cum, feature_rate=sr / hop,
                        onset=onset.astype(np.float32), percussive=percussive, harmonic=harmonic, chroma=chroma,
                        bass=bands[0], mid=bands[1], treble=bands[2], beat_times_s=beat_times, tempo_bpm=tempo_bpm)


# ---------------------------------------------------------------- frame sampling


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


def sample_features(song: SongAnalysis, *, fps: float | Fraction, start_s: float, n_frames: int,
                    duration_s: float, config: AnalysisConfig | None = None) -> FrameFeatures:
    """Read song-level curves at the frame times ``start + i / fps``.

    Parameters
    ----------
    song : SongAnalysis
        From :func:`analyze_song` (or the cache).
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
    beat_frames = nearest_frames(times, song.beat_times_s, fps)
    beat = np.zeros(n_frames, np.float32)
    beat[beat_frames[beat_frames >= 0]] = 1.0
    inside = song.beat_times_s[beat_frames >= 0]
    return FrameFeatures(fps=float(fps), start_s=float(start_s), duration_s=float(duration_s),
                         times_s=times, loudness_db=loud_db, loudness=_db_to_unit(loud_db, cfg.floor_db),
                         onset=at(song.onset), beat=beat, beat_times_s=inside.astype(np.float64),
                         tempo_bpm=float(song.tempo_bpm), percussive=at(song.percussive),
                         harmonic=at(song.harmonic), chroma=chroma.astype(np.float32), bass=at(song.bass),
                         mid=at(song.mid), treble=at(song.treble))


def check_clip(song_duration_s: float, start_s: float, duration_s: float | None,
               fps: float | Fraction | None = None) -> float:
    """Validate a clip against the song; return its duration.

    A duration that runs past the end by more than one frame is clamped to the end of the song; within a frame
    the requested duration is kept, so the clip has exactly ``ceil(duration_s * fps)`` frames as the caller
    computed (frames past the end read as silence).

    Raises
    ------
    AudioError
        Negative or non-finite start, start at or past the end, non-positive duration.
    """
    if not math.isfinite(start_s) or start_s < 0:
        raise AudioError(f"--start must be >= 0 seconds, got {start_s}")
    if start_s >= song_duration_s:
        raise AudioError(f"--start {start_s:g} s is past the end of the song ({song_duration_s:.2f} s long)")
    if duration_s is None:
        return song_duration_s - start_s
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise AudioError(f"--duration must be > 0 seconds, got {duration_s}")
    slack = 1.0 / float(fps) if fps else 1e-3
    if start_s + duration_s > song_duration_s + slack:
        return song_duration_s - start_s
    return float(duration_s)
