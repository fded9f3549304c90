"""Beat tracking: onset envelopes of a song -> beat times, tempo and how far the beat can be trusted.

Input is what :mod:`musicvideo.audio.features` already computed for the whole song (mel power spectrogram,
its HPSS percussive part, librosa's full-band onset strength); output is a :class:`BeatTrack`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STFT_BLOCK_FRAMES = 1024  # onset frames per tempogram block (the same blocking as the STFT)


@dataclass
class BeatTrack:
    """The beats of a song.

    Attributes
    ----------
    times_s : numpy.ndarray
        float64 beat times in seconds (sub-frame), increasing; empty when there is no beat to trust.
    tempo_bpm : float
        Main tempo in beats per minute (0 without a beat).
    confidence : float
        0..1 for the whole song: near 0 for beatless music, high for a steady groove.
    confidence_curve : numpy.ndarray
        float32 ``[K]`` local beat confidence at each feature frame, 0..1.
    """

    times_s: np.ndarray
    tempo_bpm: float
    confidence: float
    confidence_curve: np.ndarray


def track_beats(*, mel: np.ndarray, percussive_mel: np.ndarray | None, onset: np.ndarray, sr: int,
                hop_length: int, start_bpm: float = 120.0, tightness: float = 100.0,
                trim: bool = False) -> BeatTrack:
    """Beats, tempo and beat confidence of a whole song.

    Parameters
    ----------
    mel : numpy.ndarray
        ``[n_mels, K]`` mel power spectrogram (librosa's default mel filters, ``fmax = sr / 2``).
    percussive_mel : numpy.ndarray or None
        ``[n_mels, K]`` percussive part of ``mel`` (HPSS), or None when HPSS is off.
    onset : numpy.ndarray
        ``[K]`` librosa onset strength of the whole band (not normalised), 0 in silence.
    sr, hop_length : int
        Analysis sample rate and hop: feature frame ``k`` is at ``k * hop_length / sr`` seconds.
    start_bpm, tightness, trim
        Tracker prior tempo, tempo steadiness and weak-beat trimming (as in ``librosa.beat.beat_track``).

    Returns
    -------
    BeatTrack
    """
    import librosa

    k = len(onset)
    if not (np.any(onset > 0) and np.max(mel) > 1e-10):
        return BeatTrack(np.zeros(0), 0.0, 0.0, np.zeros(k, np.float32))
    tempo = librosa.feature.tempo(tg=mean_tempogram(onset, sr=sr, hop_length=hop_length), sr=sr,
                                  hop_length=hop_length, start_bpm=start_bpm)
    tempo, beats = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=hop_length, bpm=float(tempo[0]),
                                           tightness=tightness, trim=trim, units="time")
    times = np.asarray(beats, dtype=np.float64)
    return BeatTrack(times, _refine_tempo(times, float(np.atleast_1d(tempo)[0])), 1.0, np.ones(k, np.float32))


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


def mean_tempogram(onset: np.ndarray, *, sr: int, hop_length: int, ac_size_s: float = 8.0,
                   block_frames: int = STFT_BLOCK_FRAMES) -> np.ndarray:
    """librosa's tempogram of ``onset`` averaged over time, ``block_frames`` columns at a time.

    ``librosa.beat.beat_track`` estimates the tempo from this mean, but builds the whole tempogram first: an
    ``[ac_size_s * feature_rate, K]`` float32 matrix and its FFT autocorrelation, 450 MB for a 10-minute song.
    The columns are independent windows of the (centred, ramp-padded) onset envelope, so blocks of them give the
    same mean.

    Returns
    -------
    numpy.ndarray
        ``[win_length, 1]``, for ``librosa.feature.tempo(tg=...)``.
    """
    import librosa

    win = int(librosa.time_to_frames(ac_size_s, sr=sr, hop_length=hop_length))
    n = len(onset)
    padded = np.pad(onset, win // 2, mode="linear_ramp", end_values=[0, 0])
    total = np.zeros(win, np.float64)
    for k0 in range(0, n, block_frames):
        k1 = min(k0 + block_frames, n)
        tg = librosa.feature.tempogram(onset_envelope=padded[k0:k1 - 1 + win], sr=sr, hop_length=hop_length,
                                       win_length=win, center=False)
        total += tg.sum(axis=1, dtype=np.float64)
    return (total / max(n, 1)).astype(np.float32)[:, None]
