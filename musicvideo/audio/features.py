"""AudioClip -> SongAnalysis: whole-song loudness, onsets, HPSS, chroma, band energies, beats, bars and sections.

Two steps, so that any clip of a song gives exactly the values of the whole song at the same times:

1. :func:`analyze_file` (or :func:`analyze_song` for samples in memory) analyses the *whole* song once, at a fixed
   feature rate that does not depend on fps: a per-millisecond running power sum for loudness (pydub's RMS/dBFS,
   vectorised), and, from the STFT of a 22.05 kHz mono mix, librosa onset strength, HPSS percussive/harmonic
   loudness, chroma and bass/mid/treble energies; the song's musical time and form (beats, downbeats, sections)
   come from :mod:`.structure`. The song streams through in blocks (decoded 10 s at a time, the STFT, tempogram
   and HPSS a block of frames at a time), so memory does not grow with the song beyond the feature-rate curves.
   This :class:`SongAnalysis` is what the cache stores.
2. :func:`musicvideo.audio.frames.sample_features` reads it at the frame times ``t_i = start + i / fps``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import AudioError, ConfigError
from .decode import AudioClip

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
    beat_confidence : float
        0..1, how far the beat can be trusted (near 0 for beatless music).
    beat_confidence_curve : numpy.ndarray
        float32 ``[K]`` local beat confidence.
    downbeat_times_s : numpy.ndarray
        float64 first beat of each bar.
    beats_per_bar : int
        Meter (0 without beats).
    section_starts_s : numpy.ndarray
        float64 section starts, the first at 0.
    section_labels : numpy.ndarray
        str, one label per section ("A", "B", ...; a returning part keeps its label).
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
    beat_confidence: float
    beat_confidence_curve: np.ndarray
    downbeat_times_s: np.ndarray
    beats_per_bar: int
    section_starts_s: np.ndarray
    section_labels: np.ndarray

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
        values["beats_per_bar"] = int(values["beats_per_bar"])
        values["section_labels"] = np.asarray(values["section_labels"], dtype=str).reshape(-1)
        song = cls(**values)
        k = len(song.onset)
        if any(len(getattr(song, n)) != k for n in ("percussive", "harmonic", "chroma", "bass", "mid", "treble",
                                                     "beat_confidence_curve")):
            raise ValueError("inconsistent feature lengths")
        return song


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


BLOCK_S = 10  # whole seconds of samples per decoded block: each block starts on a millisecond boundary
STFT_BLOCK_FRAMES = 1024  # STFT frames per block (~24 s at the default hop): about 20 MB of temporaries


def millisecond_power(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Sum over channels of the squared samples in each millisecond of a block (float64 ``[ceil(n ms)]``).

    The block must start on a sample that is a millisecond boundary of the song (a whole number of seconds in),
    so its boundaries are the song's, as pydub slices them.
    """
    bounds = millisecond_boundaries(samples.shape[1], sample_rate)
    if samples.shape[1] == 0:
        return np.zeros(0, np.float64)
    squares = np.einsum("cn,cn->n", samples, samples)  # float32, summed over channels
    sums = np.add.reduceat(squares, np.minimum(bounds[:-1], len(squares) - 1), dtype=np.float64)
    sums[bounds[1:] == bounds[:-1]] = 0.0  # empty milliseconds (only past the end)
    return sums


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


class MonoMix:
    """Channel mean resampled to the analysis rate, block by block (soxr's stream gives exactly the samples of a
    one-shot ``librosa.resample(..., res_type='soxr_hq')``)."""

    def __init__(self, source_rate: int, sample_rate: int) -> None:
        import soxr

        self._stream = None if source_rate == sample_rate else soxr.ResampleStream(
            source_rate, sample_rate, 1, dtype="float32", quality="HQ")

    def __call__(self, samples: np.ndarray, *, last: bool = False) -> np.ndarray:
        """The next block ``[channels, m]`` mixed down and resampled (float32); ``last`` flushes the resampler."""
        y = samples.mean(axis=0, dtype=np.float32) if samples.shape[0] > 1 else samples[0]
        if self._stream is not None:
            y = self._stream.resample_chunk(np.ascontiguousarray(y, dtype=np.float32), last=last)
        return np.asarray(y, dtype=np.float32)


def _with_last(blocks: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, bool]]:
    """``(block, is_last)`` for each block: one block of look-ahead, so the last one is known as the last."""
    previous = None
    for block in blocks:
        if previous is not None:
            yield previous, False
        previous = block
    if previous is not None:
        yield previous, True


def _analyze_blocks(blocks: Iterable[np.ndarray], sample_rate: int,
                    config: AnalysisConfig) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The millisecond power cumsum (float64 ``[n_ms + 1]``) and the :class:`SpectralStream` curves of a song
    given as consecutive ``[channels, m]`` blocks of ``BLOCK_S`` seconds (the last one may be shorter)."""
    mix, spectra, power = MonoMix(sample_rate, config.sample_rate), SpectralStream(config), []
    for block, last in _with_last(blocks):
        power.append(millisecond_power(block, sample_rate))
        spectra.add(mix(block, last=last), last=last)
    return np.concatenate([[0.0], np.cumsum(np.concatenate(power))]), spectra.result()


class SpectralStream:
    """The STFT-based curves of a mono signal fed in pieces: librosa's centred STFT (zero padding of
    ``n_fft // 2`` at both ends) computed ``STFT_BLOCK_FRAMES`` frames at a time as the samples arrive.

    The blocks always start at multiples of ``STFT_BLOCK_FRAMES``, so the result does not depend on how the
    signal was cut into pieces, and only a block's worth of samples and spectra is held at any time.

    Parameters
    ----------
    config : AnalysisConfig
        ``sample_rate``, ``n_fft``, ``hop_length``, ``n_mels``, ``chroma``, band edges.
    """

    def __init__(self, config: AnalysisConfig) -> None:
        import librosa

        self.config = config
        self.hop, self.n_fft, self.pad = config.hop_length, config.n_fft, config.n_fft // 2
        freqs = librosa.fft_frequencies(sr=config.sample_rate, n_fft=config.n_fft)
        self._rows = [(freqs >= lo) & (freqs < hi) for lo, hi in
                      ((0.0, config.bass_hz), (config.bass_hz, config.treble_hz), (config.treble_hz, np.inf))]
        self._buffer = np.zeros(self.pad, np.float32)  # the centring pad before the first sample
        self._start = -self.pad  # signal index of _buffer[0]
        self._received = 0
        self._done = 0  # frames computed
        self._finished = False
        self._parts: dict[str, list[np.ndarray]] = {"mel": [], "frame_power": [], "chroma": [], "bands": []}

    def add(self, y: np.ndarray, *, last: bool = False) -> None:
        """Feed the next samples; ``last`` pads the end and computes the remaining frames."""
        if self._finished:
            raise RuntimeError("SpectralStream already finished")
        self._buffer = np.concatenate([self._buffer, np.asarray(y, dtype=np.float32)])
        self._received += len(y)
        if last:
            # a song shorter than one window is padded to one, as if it were that long
            total = 1 + max(self._received, self.n_fft) // self.hop
            end = (total - 1) * self.hop - self.pad + self.n_fft  # signal index just past the last window
            missing = end - (self._start + len(self._buffer))
            if missing > 0:
                self._buffer = np.concatenate([self._buffer, np.zeros(missing, np.float32)])
            self._compute(total)
            self._finished = True
        else:
            ready = (self._received + self.pad - self.n_fft) // self.hop + 1  # frames whose window has arrived
            block = STFT_BLOCK_FRAMES
            self._compute(self._done + max(ready - self._done, 0) // block * block)

    def _compute(self, upto: int) -> None:
        import librosa

        cfg, hop = self.config, self.hop
        while self._done < upto:
            k0 = self._done
            k1 = min(k0 + STFT_BLOCK_FRAMES, upto)
            a = k0 * hop - self.pad - self._start
            segment = self._buffer[a:a + (k1 - k0 - 1) * hop + self.n_fft]
            power = np.abs(librosa.stft(segment, n_fft=self.n_fft, hop_length=hop, center=False)) ** 2
            self._parts["mel"].append(librosa.feature.melspectrogram(S=power, sr=cfg.sample_rate, n_mels=cfg.n_mels))
            self._parts["frame_power"].append(power.sum(axis=0))
            if cfg.chroma:
                self._parts["chroma"].append(librosa.feature.chroma_stft(
                    S=power, sr=cfg.sample_rate, n_fft=self.n_fft, hop_length=hop, tuning=0.0).T)
            self._parts["bands"].append(np.stack([power[rows].sum(axis=0) for rows in self._rows]))
            self._done = k1
        drop = self._done * hop - self.pad - self._start  # samples no later frame needs
        if drop > 0:
            self._buffer = self._buffer[drop:].copy()
            self._start += drop

    def result(self) -> dict[str, np.ndarray]:
        """``mel`` [n_mels, K] power, ``frame_power`` [K] (sum of the power spectrum), ``chroma`` [K, 12] and
        ``bands`` [3, K] (power summed over the bass, mid and treble bins); after the ``last`` piece."""
        if not self._finished:
            raise RuntimeError("SpectralStream.result() before the last piece")
        parts = self._parts
        return {"mel": np.concatenate(parts["mel"], axis=1), "frame_power": np.concatenate(parts["frame_power"]),
                "chroma": np.concatenate(parts["chroma"]) if parts["chroma"] else np.zeros((self._done, 12),
                                                                                             np.float32),
                "bands": np.concatenate(parts["bands"], axis=1)}


def spectral_features(y: np.ndarray, config: AnalysisConfig) -> dict[str, np.ndarray]:
    """The STFT-based curves of a whole mono signal (see :class:`SpectralStream`)."""
    stream = SpectralStream(config)
    stream.add(y, last=True)
    return stream.result()


def hpss_power(mel: np.ndarray, *, kernel_size: int,
               block_frames: int = STFT_BLOCK_FRAMES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Harmonic and percussive power per frame (``librosa.decompose.hpss`` summed over bins), in time blocks,
    and the percussive mel spectrogram itself (the beat tracker's input).

    HPSS median-filters along time (harmonic) and frequency (percussive), then masks elementwise, so a block
    with ``kernel_size`` frames of context on each side gives exactly the whole spectrogram's columns without
    the filters' song-length temporaries.

    Returns
    -------
    tuple of numpy.ndarray
        ``(harmonic, percussive)``, each ``[K]``, and ``percussive_mel`` ``[n_mels, K]``.
    """
    import librosa

    n = mel.shape[1]
    harmonic, percussive = np.zeros(n, mel.dtype), np.zeros(n, mel.dtype)
    percussive_mel = np.zeros_like(mel)
    for k0 in range(0, n, block_frames):
        k1 = min(k0 + block_frames, n)
        a, b = max(k0 - kernel_size, 0), min(k1 + kernel_size, n)
        h, p = librosa.decompose.hpss(mel[:, a:b], kernel_size=kernel_size)
        harmonic[k0:k1] = h[:, k0 - a:k1 - a].sum(axis=0)
        percussive_mel[:, k0:k1] = p[:, k0 - a:k1 - a]
        percussive[k0:k1] = percussive_mel[:, k0:k1].sum(axis=0)
    return harmonic, percussive, percussive_mel


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
        Song-level curves; see :func:`sample_features` to read them at frame times. The same as
        :func:`analyze_file` gives for the file the clip was decoded from.
    """
    cfg = config or AnalysisConfig()
    step, n = BLOCK_S * clip.sample_rate, clip.samples.shape[1]
    cum, spectra = _analyze_blocks((clip.samples[:, a:a + step] for a in range(0, max(n, 1), step)),
                                   clip.sample_rate, cfg)
    return _analyze(cum, spectra, source_rate=int(clip.sample_rate), n_samples=int(n), channels=int(clip.channels),
                    config=cfg)


def analyze_file(path: str | Path, config: AnalysisConfig | None = None) -> SongAnalysis:
    """Analyse a song file while it decodes, ``BLOCK_S`` seconds at a time.

    Only the per-millisecond power sums (8 bytes per ms) and the feature-rate curves (about 25 kB per second)
    grow with the song; the decoded samples, the mono mix and the STFT are held a block at a time (a 10-minute
    song peaks at about 80 MB here instead of the ~1 GB of decoding and analysing it whole).

    Parameters
    ----------
    path : str or Path
        The song (anything the bundled ffmpeg decodes).
    config : AnalysisConfig, optional
        Analysis knobs.

    Returns
    -------
    SongAnalysis
        Equal to ``analyze_song(decode_audio(path), config)``.

    Raises
    ------
    AudioError
        For a missing, empty, corrupt or non-audio file.
    """
    from .decode import PcmStream

    cfg = config or AnalysisConfig()
    with PcmStream(path) as stream:
        cum, spectra = _analyze_blocks(stream.blocks(BLOCK_S * stream.sample_rate), stream.sample_rate, cfg)
    return _analyze(cum, spectra, source_rate=stream.sample_rate, n_samples=stream.frames_read,
                    channels=stream.channels, config=cfg)


def _analyze(cum: np.ndarray, spectra: dict[str, np.ndarray], *, source_rate: int, n_samples: int, channels: int,
             config: AnalysisConfig) -> SongAnalysis:
    """The song-level curves from the millisecond power sums and the STFT curves of :class:`SpectralStream`."""
    import librosa

    from .structure import analyze_structure

    cfg = config
    sr, hop = cfg.sample_rate, cfg.hop_length
    mel = spectra["mel"]
    k = mel.shape[1]

    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel, ref=1.0, top_db=None, amin=1e-10), sr=sr,
                                         hop_length=hop)[:k]
    onset = np.nan_to_num(onset).astype(np.float32)
    silent = not (np.any(onset > 0) and np.max(mel) > 1e-10)

    # Loudness of parts of the spectrum on the dBFS scale of ``loudness`` (Parseval for a Hann-windowed STFT:
    # twice the one-sided power sum over sum(window^2) * n_fft is the mean square; a full-scale sine is -3 dB).
    parseval = 2.0 / (np.sum(np.hanning(cfg.n_fft + 1)[:-1] ** 2) * cfg.n_fft)

    def part_loudness(frame_power: np.ndarray) -> np.ndarray:
        return _db_to_unit(_rms_to_db(np.sqrt(np.maximum(frame_power, 0.0) * parseval)), cfg.floor_db)

    percussive_mel = None
    if cfg.hpss:
        harmonic_mel, percussive_sum, percussive_mel = hpss_power(mel, kernel_size=cfg.hpss_kernel)
        # HPSS on the mel spectrogram (8x fewer bins than the STFT: seconds instead of tens of seconds);
        # each part's share of the mel power, applied to the linear power, keeps the dB scale.
        total_mel = np.maximum(mel.sum(axis=0), 1e-30)
        frame_power = spectra["frame_power"]
        harmonic = part_loudness(frame_power * harmonic_mel / total_mel)
        percussive = part_loudness(frame_power * percussive_sum / total_mel)
    else:
        harmonic = percussive = np.zeros(k, np.float32)

    chroma = np.nan_to_num(spectra["chroma"][:k]).astype(np.float32)
    chroma[np.max(mel, axis=0) <= 1e-10] = 0.0  # pure silence has no pitch
    bands = [part_loudness(band) for band in spectra["bands"]]

    form = analyze_structure(mel=mel, percussive_mel=percussive_mel, onset=onset, chroma=chroma, sr=sr,
                             hop_length=hop, duration_s=n_samples / source_rate, start_bpm=cfg.start_bpm,
                             tightness=cfg.tightness, trim_beats=cfg.trim_beats)
    if silent:
        onset = np.zeros(k, np.float32)
    else:
        scale = float(np.percentile(onset, 99.5)) or float(np.max(onset))
        onset = np.clip(onset / scale, 0.0, 1.0)

    return SongAnalysis(source_rate=source_rate, n_samples=n_samples, channels=channels, power_cumsum=cum,
                        feature_rate=sr / hop, onset=onset.astype(np.float32), percussive=percussive,
                        harmonic=harmonic, chroma=chroma, bass=bands[0], mid=bands[1], treble=bands[2],
                        beat_times_s=form.beat_times_s, tempo_bpm=form.tempo_bpm,
                        beat_confidence=form.beat_confidence,
                        beat_confidence_curve=form.beat_confidence_curve,
                        downbeat_times_s=form.downbeat_times_s, beats_per_bar=form.beats_per_bar,
                        section_starts_s=form.section_starts_s, section_labels=form.section_labels)


def check_clip(song_duration_s: float, start_s: float, duration_s: float | None,
               fps: float | Fraction | None = None, *, song_name: str = "the song") -> float:
    """Validate a clip against the song; return its duration.

    The one past-the-end rule of ``analyze``, ``preview`` and ``render``: a clip that runs past the end of the song
    by more than one frame is refused, with the song's length; within a frame the requested duration is kept, so
    the clip has exactly ``ceil(duration_s * fps)`` frames as the caller computed (frames past the end read as
    silence).

    Raises
    ------
    AudioError
        Negative or non-finite start, start at or past the end, non-positive duration, a clip past the end.
    """
    if not math.isfinite(start_s) or start_s < 0:
        raise AudioError(f"--start must be >= 0 seconds, got {start_s}")
    if start_s >= song_duration_s:
        raise AudioError(f"--start {start_s:g} s is past the end of {song_name} ({song_duration_s:.3f} s long)")
    if duration_s is None:
        return song_duration_s - start_s
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise AudioError(f"--duration must be > 0 seconds, got {duration_s}")
    slack = 1.0 / float(fps) if fps else 1e-3
    if start_s + duration_s > song_duration_s + slack:
        raise AudioError(f"the clip ({start_s:g} s + {duration_s:g} s) runs past the end of {song_name} "
                         f"({song_duration_s:.3f} s long); use a shorter --duration or leave it out")
    return float(duration_s)
