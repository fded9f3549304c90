"""Beat tracking: spectra of a song -> beat times, tempo and how far the beat can be trusted.

Input is what :mod:`musicvideo.audio.features` already computed for the whole song (mel power spectrogram, its HPSS
percussive part, librosa's full-band onset strength); output is a :class:`BeatTrack`. All numpy, no numba: nothing
here compiles at run time.

How it works
------------
1. **Onset envelopes per band** (:func:`onset_envelopes`): half-wave rectified log-mel flux of the low band
   (< ``LOW_HZ``: kick, and bass notes), of the whole percussive spectrogram (kick, snare, hats) and of the whole
   mel spectrogram (everything, melodic onsets included). The *phase* envelope (where a beat sits) is mostly low
   and percussive (``PHASE_WEIGHTS``); the *tempo* envelope (how fast) gives the full band an equal say.
2. **Local tempo** (:func:`local_tempo`): autocorrelation of the tempo envelope in 8 s windows every second,
   read as a comb over a log-spaced grid of beat periods and weighted by a tempo prior (:func:`tempo_prior`):
   flat where a listener taps quarter notes (95-160 BPM around ``start_bpm`` 120), falling off outside, so that
   79 BPM loses to 158 on a fast half-time groove and 60 to 120 on a plain one. The song's main tempo (and so
   the metrical level) comes from the whole-song sum; a Viterbi pass then follows the local tempo within
   ``LOCAL_RANGE`` of it, so drift, ramps and a DJ's tempo change are followed while octave flips are not allowed.
3. **Beats** (:func:`_dp_beats`): Ellis' dynamic program (as librosa's ``beat_track``) with the local beat
   period at every frame, on the phase envelope plus a little of the harmonic change (:func:`harmonic_change`:
   chords and bass notes change on beats, which picks the on-beat eighths where the drums leave it open). It is
   vectorised over blocks of frames shorter than half a beat (no predecessor can lie inside the block), so it
   runs as numpy without a compiler. An anticipation check (:func:`_anticipation_check`) then moves the beats a
   sixteenth later or earlier where the low band (kick, bass-note starts) is far stronger there: a chord stab a
   sixteenth before every beat, louder than the kick, can otherwise take them.
4. **Sub-frame times**: each beat moves to the parabolic peak of the phase envelope within a frame of it, then
   by ``LATENCY_S`` (the envelope's measured lead over the true hit). Weak beats at the ends (a reverb tail) go.
5. **Confidence** (:func:`_confidence`): in each 8 s window, how strongly the tempo envelope repeats at the local
   beat period, and how much more onset the beats land on than the window's mean; the smaller of the two, mapped
   to 0..1, smoothed and read per frame. The song's confidence is the upper quartile of the local one over the
   frames with sound. Without a trusted beat (song confidence below ``MIN_CONFIDENCE``) there are no beats at all;
   beats where the local confidence is below it (a free-time intro, an ambient break) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOW_HZ = 150.0  # upper edge of the "kick" band of the phase envelope
# Weights of the z-scored envelopes in the phase envelope (where beats sit) and the tempo envelope (how fast).
PHASE_WEIGHTS = {"low": 1.0, "low_all": 1.0, "percussive": 1.0, "full": 0.35}
TEMPO_WEIGHTS = {"low": 1.0, "percussive": 1.0, "full": 1.0}
HARMONY_WEIGHT = 0.35  # weight of the (z-scored) harmonic change in the beat tracker's score (0.6 let a syncopated lead
# whose notes change a sixteenth before the beat pull the beats onto it; 0 lets real off-beat-heavy clips flip)
HARMONY_MAX_HZ = 2000.0  # harmonic change is measured on the mel bins below this (bass, chords)
HARMONY_BLOCK = 4096  # frames of harmonic change computed at once
TIGHTNESS_GAIN = 4.0  # the DP's penalty is tightness * TIGHTNESS_GAIN * log(interval / period) ** 2
# Systematic latency of the log-mel flux envelopes (2048-point centred STFT, hop 512 at 22.05 kHz): the flux rises
# as soon as a hit enters the 93 ms window, so its peak comes early. Measured (parabolic peak of each envelope vs
# the true onset, 55 hits at random sub-frame positions): clicks, synthesized kicks and snares alone in silence
# -20 to -28 ms; over white noise at -26 dB -11 to -18 ms (the noise masks the window's first touch of the hit);
# sd 2-5 ms per case. Within full mixes (the synthesized ground-truth songs, the real planetblupi clips) a 20 ms
# shift left beats 4-10 ms late, so the mixes sit at the noisy end: 14 ms is the compromise that centres them.
# (librosa's onset_strength, which pads by n_fft / (2 hop) frames, peaks 16-36 ms *late* instead.)
LATENCY_S = 0.014
WINDOW_S = 8.0  # tempogram / confidence window
WINDOW_HOP_S = 1.0  # spacing of the windows
MIN_BPM, MAX_BPM = 40.0, 240.0
# Tempo prior: flat where a listener taps (start_bpm / PRIOR_BELOW .. start_bpm * PRIOR_ABOVE: 95-160 BPM around
# 120), falling off as a half-Gaussian of PRIOR_OCTAVES (in octaves) outside. The comb at half the tempo is
# 1.1-1.8 times the comb at the tempo on every song we have (the bar repeats too), so the prior alone picks the
# level: a log-normal around 120 (0.7 octaves) let 79 BPM beat 158 on a fast half-time groove.
PRIOR_BELOW, PRIOR_ABOVE = 120.0 / 95.0, 160.0 / 120.0
PRIOR_OCTAVES = 0.2
MAIN_PULL = 0.8  # cost per octave (salience units) of a local tempo away from the main one: an intro figure
# that repeats every 5/4 beat (planetblupi music000) does not set its own tempo for the first bars (0.6 was
# enough with the old log-normal prior, which pulled too; with the flat prior 0.6 lets it, F 0.96 -> 0.92)
LOCAL_RANGE = 1.4  # the local tempo stays within [main / LOCAL_RANGE, main * LOCAL_RANGE]
SALIENCE_MULTIPLES = (1, 2, 4)  # beats at which a window's periodicity is read (one beat, half a bar, a bar)
SALIENCE_WEIGHTS = (1.0, 0.7, 0.5)  # ... and how far each reading counts (a longer lag repeats by chance more easily)
COMB = (1.0, 0.5, 0.25)  # weights of the autocorrelation at 1, 2, 3 beat periods (a steady beat repeats at each)
# Anticipation check: the beats move a sixteenth (a quarter of the period) later or earlier when the low band
# (kick and bass-note starts, ``low_all``) is at least ANTICIPATION_LOW times as strong there as on the tracked beats
# and the percussive low band (the kick alone) at least ANTICIPATION_KICK times: a loud chord stab a sixteenth
# before every beat can outweigh the kick in the phase envelope (its attack also leaks into the low bins), but it
# brings no low-band onset. Measured ratios: 3.0 on such a stab groove; at most 1.03 on every other song we have.
# The moved beats must also land on real low onsets, ANTICIPATION_ONSET times the low band's mean (5.2 on the stab
# groove; 3.7-11 on the beats of the other songs): in music without kick or bass the ratio of two small numbers
# decides nothing.
ANTICIPATION_LOW = 2.0
ANTICIPATION_KICK = 0.6
ANTICIPATION_ONSET = 3.0
WEAK_END = 0.1  # leading and trailing beats whose onset is below this fraction of the beats' RMS are dropped
MIN_ACTIVITY_DB = 0.05  # windows whose full-band flux averages less (dB per frame) have no onsets to trust
MIN_CONFIDENCE = 0.3  # below it (song or local) beats are not trusted and are dropped


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


def _no_beats(k: int) -> BeatTrack:
    return BeatTrack(np.zeros(0), 0.0, 0.0, np.zeros(k, np.float32))


def track_beats(*, mel: np.ndarray, percussive_mel: np.ndarray | None, onset: np.ndarray, sr: int,
                hop_length: int, start_bpm: float = 120.0, tightness: float = 100.0,
                trim: bool = False, min_confidence: float = MIN_CONFIDENCE) -> BeatTrack:
    """Beats, tempo and beat confidence of a whole song.

    Parameters
    ----------
    mel : numpy.ndarray
        ``[n_mels, K]`` mel power spectrogram (librosa's default mel filters, ``fmax = sr / 2``).
    percussive_mel : numpy.ndarray or None
        ``[n_mels, K]`` percussive part of ``mel`` (HPSS), or None when HPSS is off (the whole mel spectrogram
        stands in for it).
    onset : numpy.ndarray
        ``[K]`` librosa onset strength of the whole band (not normalised), 0 in silence; only used to tell
        silence.
    sr, hop_length : int
        Analysis sample rate and hop: feature frame ``k`` is at ``k * hop_length / sr`` seconds.
    start_bpm : float
        Centre of the tempo prior (what a listener taps most readily; the prior is flat from 95 to 160 BPM
        around 120 and scales with it).
    tightness : float
        How strictly consecutive beats keep the local period (as in ``librosa.beat.beat_track``).
    trim : bool
        Drop weak beats at the start and the end as librosa's ``trim`` does (onset below half the beats' RMS);
        without it only beats with (almost) no onset at all are dropped there (``WEAK_END``).
    min_confidence : float
        Beats are dropped where the local confidence is below this, and all of them when the song's is.

    Returns
    -------
    BeatTrack

    Examples
    --------
    >>> track = track_beats(mel=mel, percussive_mel=pmel, onset=onset, sr=22050, hop_length=512)
    >>> track.tempo_bpm, track.confidence, track.times_s[:4]
    """
    k = mel.shape[1]
    fr = sr / hop_length
    if k < 4 or not (np.any(onset > 0) and np.max(mel) > 1e-10):
        return _no_beats(k)
    env = onset_envelopes(mel, percussive_mel, sr=sr)
    phase = _combine(env, PHASE_WEIGHTS)
    tempo_env = _combine(env, TEMPO_WEIGHTS)
    if not np.any(phase > 0):
        return _no_beats(k)

    tempo = local_tempo(tempo_env, frame_rate=fr, start_bpm=start_bpm)
    period = _frames_curve(tempo.centres, 60.0 * fr / tempo.bpm, k)  # frames per beat at every frame
    harmony = harmonic_change(mel, percussive_mel, sr=sr, half_width=max(int(np.median(period) / 2), 2))
    score = phase / (np.std(phase) + 1e-12) + HARMONY_WEIGHT * harmony
    frames = _dp_beats(score, period, tightness=tightness * TIGHTNESS_GAIN)
    frames = _anticipation_check(frames, period, env)
    curve, song_conf = _confidence(tempo, phase, frames, mel, env["full"], frame_rate=fr)
    if len(frames) < 2 or song_conf < min_confidence:
        return BeatTrack(np.zeros(0), 0.0, float(song_conf), curve)

    keep = (curve[frames] >= min_confidence) & _untrimmed(phase, frames, 0.5 if trim else WEAK_END)
    frames = frames[keep]
    times = _subframe(phase, frames) / fr + LATENCY_S
    times = times[(times >= 0) & (times <= k / fr)]
    main = float(np.median(tempo.bpm[tempo.weight > 0])) if np.any(tempo.weight > 0) else tempo.main_bpm
    return BeatTrack(times.astype(np.float64), _refine_tempo(times, main), float(song_conf), curve)


# ---------------------------------------------------------------- onset envelopes


def _rises(spec: np.ndarray, range_db: float = 80.0) -> np.ndarray:
    """Half-wave rectified frame-to-frame rise of ``10 log10(spec)`` per bin (float32 ``[bins, K]``, 0 at frame 0).

    Bins more than ``range_db`` below the spectrogram's maximum are floored, so that noise in silence does not
    make onsets.
    """
    db = 10.0 * np.log10(np.maximum(spec, 1e-10, dtype=np.float32))
    np.maximum(db, db.max() - range_db, out=db)
    rise = np.zeros_like(db)
    np.subtract(db[:, 1:], db[:, :-1], out=rise[:, 1:])
    np.maximum(rise, 0.0, out=rise)
    return rise


def onset_envelopes(mel: np.ndarray, percussive_mel: np.ndarray | None, *, sr: int,
                    low_hz: float = LOW_HZ) -> dict[str, np.ndarray]:
    """Log-mel flux envelopes per band.

    Parameters
    ----------
    mel, percussive_mel : numpy.ndarray
        ``[n_mels, K]`` mel power spectrogram and its percussive part (None: ``mel`` stands in).
    sr : int
        Sample rate (the mel filters span 0 .. ``sr / 2``).
    low_hz : float
        Upper edge of the low band.

    Returns
    -------
    dict
        float64 ``[K]`` envelopes ``low`` (percussive bins below ``low_hz``: kick), ``low_all`` (all bins below
        ``low_hz``: kick and bass notes), ``percussive`` (all percussive bins) and ``full`` (all bins of ``mel``),
        each peaking about ``LATENCY_S`` before the hit.
    """
    import librosa

    n_mels = mel.shape[0]
    centres = librosa.mel_frequencies(n_mels + 2, fmax=sr / 2.0)[1:-1]
    low = centres < low_hz
    if not np.any(low):
        low[0] = True
    rise = _rises(mel)
    perc_rise = rise if percussive_mel is None else _rises(percussive_mel)

    def mean(r: np.ndarray) -> np.ndarray:
        return r.mean(axis=0, dtype=np.float64)

    return {"low": mean(perc_rise[low]), "low_all": mean(rise[low]), "percussive": mean(perc_rise),
            "full": mean(rise)}


def harmonic_change(mel: np.ndarray, percussive_mel: np.ndarray | None, *, sr: int, half_width: int,
                    max_hz: float | None = None) -> np.ndarray:
    """How much the harmonic spectrum changes at each frame: chords and bass notes change on beats.

    The cosine distance between the mean log-compressed harmonic mel spectrum (``mel - percussive_mel``, bins below
    ``max_hz``) of the ``half_width`` frames before and after each frame; above its median, in units of its
    standard deviation (float64 ``[K]``, >= 0). With half a beat on each side it peaks on the beat where a chord
    changes and stays lower half a beat later, which tells the on-beat eighth notes from the off-beat ones when the
    drums do not (syncopated kicks, busy off-beat hats).
    """
    import librosa

    centres = librosa.mel_frequencies(mel.shape[0] + 2, fmax=sr / 2.0)[1:-1]
    rows = centres < (HARMONY_MAX_HZ if max_hz is None else max_hz)
    harm = mel[rows] if percussive_mel is None else np.maximum(mel[rows] - percussive_mel[rows], 0.0)
    x = np.log1p(10.0 * harm / (harm.mean() + 1e-12))
    k = x.shape[1]
    change = np.zeros(k)
    # a block of frames at a time (with half_width frames of context each side): bounded temporaries
    for a in range(0, k, HARMONY_BLOCK):
        b = min(a + HARMONY_BLOCK, k)
        lo, hi = max(a - half_width, 0), min(b + half_width, k)
        csum = np.zeros((x.shape[0], hi - lo + 1))
        np.cumsum(x[:, lo:hi], axis=1, out=csum[:, 1:])
        t = np.arange(a, b) - lo  # frame t of the block sits at csum column t
        before = csum[:, t] - csum[:, np.maximum(t - half_width, 0)]
        after = csum[:, np.minimum(t + half_width, hi - lo)] - csum[:, t]
        num = np.einsum("bk,bk->k", before, after)
        den = np.sqrt(np.einsum("bk,bk->k", before, before) * np.einsum("bk,bk->k", after, after))
        change[a:b] = np.where(den > 1e-12, 1.0 - num / np.maximum(den, 1e-12), 0.0)
    sd = float(np.std(change))
    if sd < 1e-12:
        return np.zeros(k)
    return np.maximum(change - np.median(change), 0.0) / sd


def _combine(env: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Weighted sum of the envelopes, each scaled to unit standard deviation first (0 where flat)."""
    total = np.zeros_like(next(iter(env.values())))
    for name, w in weights.items():
        e = env[name]
        sd = float(np.std(e))
        if sd > 1e-12:
            total += w * e / sd
    return total


# ---------------------------------------------------------------- tempo


@dataclass
class LocalTempo:
    """Tempo per analysis window.

    Attributes
    ----------
    centres : numpy.ndarray
        Centre frame of each window (float64 ``[W]``).
    bpm : numpy.ndarray
        Local tempo per window (float64 ``[W]``).
    salience : numpy.ndarray
        Normalised autocorrelation of the tempo envelope at the local beat period, or at 2 or 4 of them where it
        is higher there (``[W]``, about -1..1).
    weight : numpy.ndarray
        Onset activity of each window (0 for silent windows).
    main_bpm : float
        The song's main tempo (the octave the local tempo stays near).
    """

    centres: np.ndarray
    bpm: np.ndarray
    salience: np.ndarray
    weight: np.ndarray
    main_bpm: float


def _windows(x: np.ndarray, win: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """``[W, win]`` windows of ``x`` (zero padded at both ends, centred every ``hop`` frames) and their centres."""
    n = len(x)
    centres = np.arange(0, max(n, 1), hop, dtype=np.int64)
    padded = np.concatenate([np.zeros(win // 2), x, np.zeros(win)])
    idx = centres[:, None] + np.arange(win)[None, :]
    return padded[idx], centres.astype(np.float64)


def _autocorrelation(frames: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation (lag 0 = 1) of each mean-removed, Hann-windowed row; 0 for flat rows."""
    win = frames.shape[1]
    x = frames - frames.mean(axis=1, keepdims=True)
    x *= np.hanning(win)[None, :]
    spec = np.fft.rfft(x, n=2 * win, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :win]
    # unbias: fewer products at longer lags under the window
    ac /= np.maximum(np.correlate(np.hanning(win) ** 2, np.hanning(win) ** 2, "full")[win - 1:], 1e-9)[None, :]
    zero = ac[:, :1]
    return np.where(zero > 1e-12, ac / np.maximum(zero, 1e-12), 0.0)


def _at_lag(ac: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """``ac[:, lag]`` linearly interpolated at fractional lags (``[W, L]``); 0 past the window."""
    win = ac.shape[1]
    i = np.floor(lags).astype(np.int64)
    f = lags - i
    ok = i + 1 < win
    i = np.clip(i, 0, win - 2)
    out = ac[:, i] * (1 - f) + ac[:, i + 1] * f
    return np.where(ok[None, :], out, 0.0)


def local_tempo(envelope: np.ndarray, *, frame_rate: float, start_bpm: float = 120.0,
                window_s: float = WINDOW_S, hop_s: float = WINDOW_HOP_S, step: float = 0.01,
                jump_cost: float = 0.02) -> LocalTempo:
    """The tempo of each ``window_s`` window of ``envelope``, kept near the song's main tempo.

    Parameters
    ----------
    envelope : numpy.ndarray
        ``[K]`` tempo envelope.
    frame_rate : float
        Envelope frames per second.
    start_bpm : float
        Centre of the tempo prior (:func:`tempo_prior`: flat from ``start_bpm / PRIOR_BELOW`` to
        ``start_bpm * PRIOR_ABOVE``).
    window_s, hop_s : float
        Window length and spacing.
    step : float
        Spacing of the tempo grid (fraction of the tempo).
    jump_cost : float
        Viterbi cost of a change of the local tempo by one grid step (in units of the salience, 0..1).

    Returns
    -------
    LocalTempo
    """
    win = max(int(round(window_s * frame_rate)), 16)
    frames, centres = _windows(envelope, win, max(int(round(hop_s * frame_rate)), 1))
    ac = _autocorrelation(frames)
    weight = frames.mean(axis=1)

    bpm_grid = MIN_BPM * (1 + step) ** np.arange(int(np.log(MAX_BPM / MIN_BPM) / np.log(1 + step)) + 1)
    lags = 60.0 * frame_rate / bpm_grid
    # comb over the first multiples of the period: a steady beat repeats at every one of them
    comb = sum(w * _at_lag(ac, m * lags) for m, w in enumerate(COMB, start=1) if w)
    prior = tempo_prior(bpm_grid, start_bpm)
    song = (np.maximum(comb, 0) * weight[:, None]).sum(axis=0) / max(weight.sum(), 1e-12)
    main = float(bpm_grid[np.argmax(song * prior)])

    band = (bpm_grid >= main / LOCAL_RANGE) & (bpm_grid <= main * LOCAL_RANGE)
    grid, score = bpm_grid[band], comb[:, band] * prior[band][None, :]
    score = score - MAIN_PULL * np.abs(np.log2(grid / main))[None, :]
    path = _viterbi(score, jump_cost)
    bpm = grid[path]
    lag = 60.0 * frame_rate / bpm
    rows = np.arange(len(bpm))
    # a steady beat's pattern repeats at one beat, or only at half a bar or a bar (half-time drums: kick on 1,
    # snare on 3 repeat weakly at one beat): the best of those lags is the window's periodicity
    salience = np.full(len(bpm), -1.0)
    for multiple, trust in zip(SALIENCE_MULTIPLES, SALIENCE_WEIGHTS):
        at = lag * multiple
        i = np.minimum(np.floor(at).astype(np.int64), win - 2)
        value = ac[rows, i] + (at - i) * (ac[rows, i + 1] - ac[rows, i])
        salience = np.maximum(salience, np.where(at < win - 1, trust * value, -1.0))
    return LocalTempo(centres, bpm, salience, weight, main)


def tempo_prior(bpm: np.ndarray, start_bpm: float = 120.0) -> np.ndarray:
    """Prior weight (0..1) of each tempo: 1 from ``start_bpm / PRIOR_BELOW`` to ``start_bpm * PRIOR_ABOVE``, a
    half-Gaussian in octaves (``PRIOR_OCTAVES``) outside.

    The edges are what decide the metrical level: a plain groove's comb is often stronger at half its tempo, and
    a fast half-time groove (158 BPM, snare on 3) looks like a 79-BPM one with sixteenth-note hats; only the
    listener's preferred range tells them apart. A half-time groove above 160 BPM (its half below 95) is still
    tracked at half tempo, as a groove below 95 BPM is kept at its own tempo (the two mirror each other)."""
    x = np.log2(np.asarray(bpm, np.float64) / start_bpm)
    out = np.maximum(np.maximum(-np.log2(PRIOR_BELOW) - x, x - np.log2(PRIOR_ABOVE)), 0.0)
    return np.exp(-0.5 * (out / PRIOR_OCTAVES) ** 2)


def _viterbi(score: np.ndarray, jump_cost: float) -> np.ndarray:
    """State per row maximising the summed ``score[t, state]`` minus ``jump_cost`` per state step between rows."""
    n_t, n_s = score.shape
    states = np.arange(n_s)
    cost = jump_cost * np.abs(states[:, None] - states[None, :])
    total = score[0].copy()
    back = np.zeros((n_t, n_s), np.int64)
    for t in range(1, n_t):
        cand = total[:, None] - cost  # [previous, current]
        back[t] = np.argmax(cand, axis=0)
        total = cand[back[t], states] + score[t]
    path = np.zeros(n_t, np.int64)
    path[-1] = int(np.argmax(total))
    for t in range(n_t - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _frames_curve(centres: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Per-window values linearly interpolated at every frame ``0..k-1``."""
    return np.interp(np.arange(k, dtype=np.float64), centres, values)


# ---------------------------------------------------------------- beats


def _dp_beats(envelope: np.ndarray, period: np.ndarray, *, tightness: float) -> np.ndarray:
    """Ellis' beat-tracking dynamic program with a beat period per frame; beat frames (int64, increasing).

    ``cumscore[t] = score[t] + max_d (cumscore[t - d] - tightness * log(d / period[t]) ** 2)`` for
    ``period[t] / 2 <= d <= 2 period[t]``. No frame's predecessors lie within half its period, so a block of
    ``min(period) / 2`` frames is computed at once from the frames before it.
    """
    k = len(envelope)
    score = np.asarray(envelope, np.float64)
    # a light smoothing (a 32nd of the beat, as librosa) keeps the DP from splitting a flat-topped onset
    score = np.convolve(score, np.array([0.25, 0.5, 0.25]), mode="same")
    period = np.maximum(period, 2.0)
    d_lo = np.maximum(np.round(period / 2), 1).astype(np.int64)
    d_hi = np.round(2 * period).astype(np.int64)
    block = max(int(d_lo.min()), 1)
    dmax = int(d_hi.max())
    d = np.arange(1, dmax + 1)
    cum = np.zeros(k, np.float64)
    back = np.full(k, -1, np.int64)
    thresh = 0.01 * score.max()
    started = np.cumsum(score >= thresh) > 0  # before the first onset there is no beat to link to
    for t0 in range(0, k, block):
        t = np.arange(t0, min(t0 + block, k))
        prev = t[:, None] - d[None, :]  # [block, dmax]
        valid = (prev >= 0) & (d[None, :] >= d_lo[t][:, None]) & (d[None, :] <= d_hi[t][:, None])
        pen = tightness * np.log(d[None, :] / period[t][:, None]) ** 2
        cand = np.where(valid, cum[np.maximum(prev, 0)] - pen, -np.inf)
        best = np.argmax(cand, axis=1)
        best_val = cand[np.arange(len(t)), best]
        linked = np.isfinite(best_val) & started[t]
        cum[t] = score[t] + np.where(linked, best_val, 0.0)
        back[t] = np.where(linked, t - d[best], -1)
    # the last beat: the last local maximum of the cumulative score above half their median (as librosa)
    peaks = np.flatnonzero((cum[1:-1] > cum[:-2]) & (cum[1:-1] >= cum[2:])) + 1
    if len(peaks) == 0:
        return np.zeros(0, np.int64)
    med = np.median(cum[peaks])
    tail = int(peaks[cum[peaks] >= 0.5 * med][-1]) if np.any(cum[peaks] >= 0.5 * med) else int(peaks[-1])
    beats = [tail]
    while back[beats[-1]] >= 0:
        beats.append(int(back[beats[-1]]))
    return np.asarray(beats[::-1], np.int64)


def _on_beats(envelope: np.ndarray, frames: np.ndarray) -> float:
    """Mean over the beats of the envelope's largest value within a frame of each (0 without beats)."""
    if len(frames) == 0:
        return 0.0
    at = np.clip(frames[:, None] + np.array([-1, 0, 1])[None, :], 0, len(envelope) - 1)
    return float(envelope[at].max(axis=1).mean())


def _anticipation_check(frames: np.ndarray, period: np.ndarray, env: dict[str, np.ndarray]) -> np.ndarray:
    """The beats, or the beats moved by a quarter of their period where the low band says the tracked beats
    anticipate the real ones (see ``ANTICIPATION_LOW``).

    The dynamic program weighs every band; a figure a sixteenth before every beat (a chord stab, a lead) that is
    louder than the kick can win it. What marks the beat there is the kick and the bass: the grid a sixteenth
    away on which the low band is far stronger (and clearly has onsets), with the kick at least not much weaker,
    is taken instead.
    """
    if len(frames) < 4:
        return frames
    k = len(env["low_all"])
    here_low, here_kick = _on_beats(env["low_all"], frames), _on_beats(env["low"], frames)
    best, best_low = frames, max(ANTICIPATION_LOW * here_low, ANTICIPATION_ONSET * float(env["low_all"].mean()))
    for shift in (0.25, -0.25):
        moved = np.unique(np.clip(np.round(frames + shift * period[frames]).astype(np.int64), 0, k - 1))
        low = _on_beats(env["low_all"], moved)
        if low > best_low and _on_beats(env["low"], moved) >= ANTICIPATION_KICK * here_kick:
            best, best_low = moved, low
    return best


def _subframe(envelope: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Beat frames moved to the parabolic peak of ``envelope`` within one frame of them (float64 frames)."""
    k = len(envelope)
    if len(frames) == 0:
        return np.zeros(0)
    f = frames.astype(np.int64)
    # the highest of the three frames around the beat, then a parabola through it and its neighbours
    cand = np.clip(f[:, None] + np.array([-1, 0, 1])[None, :], 0, k - 1)
    j = cand[np.arange(len(f)), np.argmax(envelope[cand], axis=1)]
    y0, y1, y2 = envelope[np.maximum(j - 1, 0)], envelope[j], envelope[np.minimum(j + 1, k - 1)]
    den = y0 - 2 * y1 + y2
    inside = (j > 0) & (j < k - 1) & (den < -1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(inside, 0.5 * (y0 - y2) / np.where(inside, den, -1.0), 0.0)
    return j + np.clip(shift, -0.5, 0.5)


def _untrimmed(envelope: np.ndarray, frames: np.ndarray, fraction: float) -> np.ndarray:
    """Mask of the beats from the first to the last whose envelope (largest within a frame) reaches ``fraction``
    of the beats' root mean square: the tracker runs on through a reverb tail or a silent start, where no onset
    marks a beat."""
    k = len(envelope)
    at = np.clip(frames[:, None] + np.array([-1, 0, 1])[None, :], 0, k - 1)
    on_beat = envelope[at].max(axis=1)
    strong = on_beat >= fraction * np.sqrt(np.mean(on_beat ** 2))
    keep = np.zeros(len(frames), bool)
    if np.any(strong):
        idx = np.flatnonzero(strong)
        keep[idx[0]:idx[-1] + 1] = True
    return keep


# ---------------------------------------------------------------- confidence


def _confidence(tempo: LocalTempo, phase: np.ndarray, frames: np.ndarray, mel: np.ndarray, full: np.ndarray, *,
                frame_rate: float) -> tuple[np.ndarray, float]:
    """Local beat confidence per frame (float32 ``[K]``, 0..1) and the song's confidence.

    Two things must hold in a window for its beat to be trusted, so the local confidence is the smaller of:

    - **periodicity**: the normalised autocorrelation of the tempo envelope at the local beat period (measured:
      0.5-1.0 on synthesized grooves, 0.3-0.9 in the windows of real songs with a beat; 0.1-0.3 on an ambient pad,
      a real ambient piece and a free-time piano intro), mapped 0.2 -> 0 and 0.45 -> 1;
    - **onsets on the beats**: the phase envelope at the beats (its largest value within a frame of each) over its
      mean in the window (4-11 on grooves, real or synthesized; 1.4-2.4 on ambient pieces), mapped on a log scale
      2.2 -> 0 and 4 -> 1. A free-time intro scores high here (the tracker follows its onsets) but not on
      periodicity; an ambient pad with a slow swell can look periodic but its "beats" land on nothing.

    Windows whose full-band flux ``full`` averages below ``MIN_ACTIVITY_DB`` (a steady tone, DC: only numerical
    ripple, which the z-scoring would otherwise blow up to look like onsets) score 0. The curve is then averaged
    over half a window (a fill or a bar's break does not drop the beat) and set to 0
    where the spectrum is silent. The song's confidence is its upper quartile over the frames with sound, so a
    song with a free intro (or a quiet break) still trusts its groove.
    """
    k = len(phase)
    periodic = np.clip((tempo.salience - 0.2) / 0.25, 0.0, 1.0)

    half = max(int(round(WINDOW_S * frame_rate / 2)), 1)
    centres = tempo.centres.astype(np.int64)
    lo, hi = np.clip(centres - half, 0, k), np.clip(centres + half, 0, k)
    csum = np.concatenate([[0.0], np.cumsum(phase)])
    mean_env = (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)
    if len(frames):
        at = np.clip(frames[:, None] + np.array([-1, 0, 1])[None, :], 0, k - 1)
        on_beat = phase[at].max(axis=1)
        bsum = np.concatenate([[0.0], np.cumsum(on_beat)])
        a, b = np.searchsorted(frames, lo), np.searchsorted(frames, hi)
        beat_mean = np.where(b - a >= 2, (bsum[b] - bsum[a]) / np.maximum(b - a, 1), 0.0)
    else:
        beat_mean = np.zeros(len(centres))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mean_env > 1e-12, beat_mean / np.maximum(mean_env, 1e-12), 0.0)
    aligned = np.clip(np.log(np.maximum(ratio, 1e-6) / 2.2) / np.log(4.0 / 2.2), 0.0, 1.0)
    # windows that reach past the song's ends see part of a window (one crash cymbal on the first downbeat can
    # then outweigh the beat's periodicity): they take the score of the first / last window inside the song
    inside = np.flatnonzero((centres - half >= 0) & (centres + half <= k))
    if len(inside):
        periodic[:inside[0]] = periodic[inside[0]]
        periodic[inside[-1] + 1:] = periodic[inside[-1]]

    fsum = np.concatenate([[0.0], np.cumsum(full)])
    active = (fsum[hi] - fsum[lo]) / np.maximum(hi - lo, 1) >= MIN_ACTIVITY_DB
    local = _frames_curve(tempo.centres, np.where(active, np.minimum(periodic, aligned), 0.0), k)
    width = max(int(round(WINDOW_S * frame_rate / 2)), 1)
    local = np.convolve(np.pad(local, width // 2, mode="edge"), np.ones(width) / width, mode="same")
    local = local[width // 2:width // 2 + k]
    sound = mel.max(axis=0) > 1e-8
    local[~sound] = 0.0
    local = np.clip(local, 0.0, 1.0).astype(np.float32)
    song = float(np.quantile(local[sound], 0.75)) if np.any(sound) else 0.0
    return local, song


def _refine_tempo(beat_times: np.ndarray, tempo_guess: float) -> float:
    """Median beat period of the steady part of the beats, as BPM: far finer than the tempogram's lag grid."""
    if len(beat_times) < 2:
        return float(tempo_guess) if len(beat_times) else 0.0
    intervals = np.diff(beat_times)
    period = 60.0 / tempo_guess if tempo_guess > 0 else float(np.median(intervals))
    steady = intervals[np.abs(intervals - period) < 0.25 * period]
    if len(steady) == 0:
        steady = intervals
    return float(60.0 / np.mean(steady))
