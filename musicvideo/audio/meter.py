"""Meter: beat times -> downbeats, beats per bar and each beat's place in its bar.

What marks a bar's first beat, heard at the beats themselves:

- **harmony changes** there: chords and bass notes change on downbeats far more than elsewhere (novelty of the
  beat-synchronous chroma and of the 30-160 Hz mel spectrum);
- **the kick** plays there (low-band onsets, of the percussive part and of the whole mix with the bass) and the
  snare rarely does (backbeats are 2 and 4).

The meter is the bar length at which these per-beat features repeat (their autocorrelation at lags of 3 and 9
beats against 4 and 8). Each beat then gets a "downbeat evidence" score (the features z-scored over the song,
weighted), and a Viterbi pass over the beats, with "position in the bar" as its states, finds the bars that collect
the most evidence: the bar line advances one position a beat, and moving it (a phase jump) costs a penalty, less
where the tempo changes abruptly and nothing across a gap in the beats that cannot be counted through (a free-time
passage). So a pickup takes its place in the last bar before the first downbeat, and each stretch of beats gets its
own phase where the count is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Meter:
    """Bars of a song.

    Attributes
    ----------
    downbeat_times_s : numpy.ndarray
        float64 times of the first beat of each bar (a subset of the beat times).
    beats_per_bar : int
        3, 4, ... (0 when there are no beats).
    beat_in_bar : numpy.ndarray
        int64 ``[n_beats]``: 1 on a downbeat, 2, 3, ... after it.
    """

    downbeat_times_s: np.ndarray
    beats_per_bar: int
    beat_in_bar: np.ndarray


# Weights of the downbeat evidence (each feature z-scored over the song first), chosen on the tuning songs and the
# real clips. Harmony decides between the beats that kick and snare leave open (1 or 3 in 4/4); the full-band
# accent is left out of the evidence (it peaks on the snare's backbeats as often as on downbeats) but helps to
# choose the meter.
WEIGHTS = {
    "chroma_change": 1.0,  # chord change into the beat (cosine distance of beat-synchronous chroma)
    "bass_change": 1.2,  # bass note change (shape of the 30-160 Hz spectrum)
    "low_onset": 0.3,  # onset below 150 Hz in the whole mix (kick and bass notes)
    "kick": 0.6,  # onset below 150 Hz in the percussive part
    "snare": -0.6,  # percussive onset at 1.5-8 kHz (snare, clap, hats): backbeats, not downbeats
    "accent": 0.0,  # full-band onset
}


def find_meter(beat_times_s: np.ndarray, *, mel: np.ndarray, percussive_mel: np.ndarray | None,
               chroma: np.ndarray, sr: int, hop_length: int, meters: tuple[int, ...] = (3, 4),
               jump_penalty: float = 24.0) -> Meter:
    """Downbeats and beats per bar from features sampled at the beats.

    Parameters
    ----------
    beat_times_s : numpy.ndarray
        Beat times in seconds (from :func:`musicvideo.audio.beats.track_beats`), increasing; may have gaps (a
        free-time intro or break without beats).
    mel, percussive_mel : numpy.ndarray
        ``[n_mels, K]`` mel power spectrogram and its percussive part (None when HPSS is off).
    chroma : numpy.ndarray
        ``[K, 12]`` chroma.
    sr, hop_length : int
        Feature frame ``k`` is at ``k * hop_length / sr`` seconds.
    meters : tuple of int
        Beats per bar to choose from.
    jump_penalty : float
        Cost (in units of the z-scored evidence) of moving the bar line within a run of steady beats.

    Returns
    -------
    Meter

    Examples
    --------
    >>> m = find_meter(np.zeros(0), mel=np.zeros((128, 10)), percussive_mel=None, chroma=np.zeros((10, 12)),
    ...                sr=22050, hop_length=512)
    >>> m.beats_per_bar, len(m.downbeat_times_s)
    (0, 0)
    """
    beats = np.asarray(beat_times_s, np.float64).reshape(-1)
    n = len(beats)
    if n == 0:
        return Meter(np.zeros(0), 0, np.zeros(0, np.int64))
    default = 4 if 4 in meters else meters[0]
    if n < 3 or mel.shape[1] == 0:
        return _meter_from_positions(beats, np.arange(n) % default, default)
    onsets, sync = _beat_features(beats, mel=mel, percussive_mel=percussive_mel, chroma=chroma, sr=sr,
                                  hop_length=hop_length)
    advance, cost = _transitions(beats, jump_penalty)
    # beats on one grid for the meter's autocorrelation: missed beats leave holes, an uncountable gap a wide one
    beat_index = np.cumsum(np.where(advance == 0, 1000, advance))
    m = choose_meter({**onsets, **_harmony_change(*sync)}, meters=meters, default=default, beat_index=beat_index)
    # the phase: harmony change also over whole bars of the chosen meter (a pattern inside the bar cancels)
    features = {**onsets, **_harmony_change(*sync, bar_beats=m)}
    evidence = sum(w * _zscore(features[name]) for name, w in WEIGHTS.items())
    positions, _ = _viterbi(evidence, m, advance, cost)
    return _meter_from_positions(beats, positions, m)


def choose_meter(features: dict[str, np.ndarray], *, meters: tuple[int, ...] = (3, 4), default: int = 4,
                 beat_index: np.ndarray | None = None, min_pairs: int = 12, margin: float = 0.1) -> int:
    """Beats per bar: the bar length at which the per-beat features repeat most.

    A feature that marks bars of ``m`` beats correlates with itself ``m``, ``2m`` ... beats later. Lags that are
    also multiples of another candidate's bar would not tell the two apart, and for an odd bar neither would even
    lags (a pattern that repeats every 2 beats, kick on 1 and 3 and snare on 2 and 4, is 4/4, not 3/4); so each
    meter is scored at its first two lags that no other candidate shares: 4 and 8 for 4/4, 3 and 9 for 3/4. The
    mean autocorrelation of the z-scored features decides; ``default`` wins ties within ``margin`` and short beat
    lists.

    Parameters
    ----------
    features : dict of str to numpy.ndarray
        ``[n_beats]`` per-beat features (see :func:`beat_features`).
    meters : tuple of int
        Candidates.
    default : int
        The answer without evidence.
    beat_index : numpy.ndarray, optional
        ``[n_beats]`` int64 count of each beat on a common grid (missing beats leave holes; a gap that cannot be
        counted through, a jump of more than any lag): only pairs of beats exactly ``lag`` apart count.
        Default: consecutive.
    min_pairs : int
        Fewest pairs of beats at a lag for it to count.
    margin : float
        How much better another meter must score than ``default``.

    Returns
    -------
    int
    """
    if len(meters) == 1:
        return meters[0]
    n = len(next(iter(features.values())))
    index = np.arange(n) if beat_index is None else np.asarray(beat_index, np.int64)
    z = np.stack([_zscore(v) for v in features.values()])  # [n_features, n_beats]
    scores = {}
    for m in meters:
        lags = [lag for lag in (m * j for j in range(1, 5))
                if all(lag % other for other in meters if other != m) and (m % 2 == 0 or lag % 2)]
        values = []
        for lag in lags[:2]:
            # pairs (i, j) with index[j] - index[i] == lag
            j = np.searchsorted(index, index + lag)
            ok = (j < n) & (index[np.minimum(j, n - 1)] == index + lag)
            if ok.sum() >= min_pairs:
                values.append(np.mean(z[:, ok] * z[:, j[ok]]))
        scores[m] = float(np.mean(values)) if values else None
    known = {m: v for m, v in scores.items() if v is not None}
    if not known:
        return default
    best = max(known, key=known.get)
    if best != default and known.get(default) is not None and known[best] - known[default] < margin:
        return default
    if best != default and known.get(default) is None:
        return default  # only one meter could be scored: no comparison
    return best


def _meter_from_positions(beats: np.ndarray, positions: np.ndarray, m: int) -> Meter:
    beat_in_bar = np.asarray(positions, np.int64) + 1
    return Meter(beats[beat_in_bar == 1].copy(), int(m), beat_in_bar)


def _zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


def _transitions(beats: np.ndarray, jump_penalty: float, *, gap: float = 1.5, short_gap_beats: int = 4,
                 long_gap_beats: int = 32, tempo_change: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """How the bar position moves from each beat's predecessor to it: ``(advance, cost)``, both ``[n]``.

    ``advance[i]`` is the expected step in the bar: 1, or k where the interval spans about k beat periods (k - 1
    beats went unheard: a gap of up to ``short_gap_beats``, or of up to ``long_gap_beats`` when the tempo is the
    same on both sides), 0 where the gap cannot be counted through. ``cost[i]`` is what any other step costs:
    ``jump_penalty`` in a run of steady beats, half of it across a counted gap (the count may be off by one), a
    quarter where the tempo changes abruptly (a DJ's next track need not start its bars in step), 0 across a gap
    too long or too uneven to count beats through (a free-time passage).
    """
    n = len(beats)
    advance = np.ones(n, np.int64)
    cost = np.full(n, float(jump_penalty))
    if n < 2:
        return advance, cost
    ibi = np.maximum(np.diff(beats), 1e-6)  # (a repeated beat time would divide by zero)
    # the beat period just before and just after each interval: medians of up to 8 intervals (a tracker's jitter
    # and a missed beat do not move them); where one side has no intervals, the other stands in
    before, after = _side_medians(ibi, 8)
    change = np.abs(np.log(after / before))  # NaN where a side is empty
    steady = np.nan_to_num(change, nan=1.0) < 0.03
    cost[1:][np.nan_to_num(change) > tempo_change] = 0.25 * jump_penalty
    before = np.where(np.isnan(before), after, before)
    after = np.where(np.isnan(after), before, after)
    around = np.where(np.isnan(before), ibi, np.sqrt(before * after))  # NaN both sides: two beats only
    ratio = ibi / np.maximum(around, 1e-9)
    steps = np.maximum(np.round(ratio), 1).astype(np.int64)
    is_gap = ratio > gap
    countable = is_gap & (np.abs(ratio - steps) < 0.15) & (
        (steps <= short_gap_beats) | (steady & (steps <= long_gap_beats)))
    advance[1:][countable] = steps[countable]
    cost[1:][countable] = 0.5 * jump_penalty
    uncountable = is_gap & ~countable
    advance[1:][uncountable] = 0  # unknown: any position may follow, at no cost
    cost[1:][uncountable] = 0.0
    return advance, cost


def _side_medians(x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Median of the (up to) ``w`` values before each element and of the ``w`` after it; NaN where none."""
    n = len(x)
    before, after = np.full(n, np.nan), np.full(n, np.nan)
    if n > w:  # full windows, vectorised
        windows = np.median(np.lib.stride_tricks.sliding_window_view(x, w), axis=1)  # windows[j]: x[j:j+w]
        before[w:] = windows[:n - w]
        after[:n - w] = windows[1:]
    for i in range(min(w, n)):  # the partial windows at either end
        if i > 0:
            before[i] = np.median(x[:i])
        j = n - 1 - i
        if j < n - 1:
            after[j] = np.median(x[j + 1:])
    return before, after


def _viterbi(evidence: np.ndarray, m: int, advance: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, float]:
    """Bar positions (0 = downbeat) of each beat that collect the most downbeat evidence.

    States are positions 0..m-1; from beat ``i - 1`` to beat ``i`` the position advances by ``advance[i]``
    (mod m) for free, or moves anywhere else at ``cost[i]``. Score = evidence summed over the downbeats minus the
    moves' cost. Ties go to the first beat being a downbeat.
    """
    n = len(evidence)
    # plain Python floats: with m <= a few states, numpy's per-call overhead would dominate the loop
    ev, adv, cst = evidence.tolist(), advance.tolist(), cost.tolist()
    score = [0.0] * m
    score[0] = ev[0] + 1e-9
    back = [[0] * m for _ in range(n)]
    for i in range(1, n):
        best_prev = max(range(m), key=score.__getitem__)
        jump = score[best_prev] - cst[i]
        a = adv[i]
        new, row = [0.0] * m, back[i]
        for state in range(m):
            source = (state - a) % m  # reached by the expected step
            stay = score[source]
            if jump > stay:
                new[state], row[state] = jump, best_prev
            else:
                new[state], row[state] = stay, source
        new[0] += ev[i]
        score = new
    positions = np.zeros(n, np.int64)
    state = max(range(m), key=score.__getitem__)
    total = float(score[state])
    positions[-1] = state
    for i in range(n - 1, 0, -1):
        state = back[i][state]
        positions[i - 1] = state
    return positions, total


def beat_features(beats: np.ndarray, *, mel: np.ndarray, percussive_mel: np.ndarray | None, chroma: np.ndarray,
                  sr: int, hop_length: int, bar_beats: int = 0) -> dict[str, np.ndarray]:
    """Per-beat features that tell downbeats from other beats (each ``[n_beats]`` float64, larger = more
    downbeat-like, except ``snare``).

    Parameters
    ----------
    beats : numpy.ndarray
        Beat times in seconds.
    mel, percussive_mel, chroma, sr, hop_length
        As for :func:`find_meter`.
    bar_beats : int
        Beats per bar once known (0: not yet): the harmony changes are then also measured between whole bars.

    Returns
    -------
    dict of str to numpy.ndarray
        ``chroma_change``, ``bass_change``, ``low_onset``, ``kick``, ``snare``, ``accent`` (see :data:`WEIGHTS`).
    """
    onsets, sync = _beat_features(beats, mel=mel, percussive_mel=percussive_mel, chroma=chroma, sr=sr,
                                  hop_length=hop_length)
    return {**onsets, **_harmony_change(*sync, bar_beats=bar_beats)}


def _harmony_change(sync_chroma: np.ndarray, sync_bass: np.ndarray, *, bar_beats: int = 0) -> dict[str, np.ndarray]:
    """``chroma_change`` and ``bass_change`` at each beat from the beat-synchronous chroma and bass spectra.

    Without a meter: between the 1 and the 2 beats before and after each beat. With one (``bar_beats``), chroma
    also between the whole bars before and after, and bass only so: a bass line that moves inside the bar (an
    octave jump on the off-beat, a walking line) changes at every beat, but it is the same in every bar of one
    chord, so bar-long windows keep only the change of chord.
    """
    if bar_beats:
        return {"chroma_change": _novelty(sync_chroma, (1, 2, bar_beats)),
                "bass_change": _novelty(sync_bass, (bar_beats,))}
    return {"chroma_change": _novelty(sync_chroma), "bass_change": _novelty(sync_bass)}


def _beat_features(beats: np.ndarray, *, mel: np.ndarray, percussive_mel: np.ndarray | None, chroma: np.ndarray,
                   sr: int, hop_length: int) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The onset features at the beats, and the beat-synchronous chroma and bass spectra ``[n_beats, d]``."""
    import librosa

    n_mels, k = mel.shape
    fps = sr / hop_length
    frames = np.clip(np.round(beats * fps).astype(np.int64), 0, k - 1)
    perc = percussive_mel if percussive_mel is not None else mel
    centres = librosa.mel_frequencies(n_mels=n_mels + 2, fmax=sr / 2.0)[1:-1]
    low, high = centres < 150.0, (centres >= 1500.0) & (centres < 8000.0)
    # bass fundamentals; above ~160 Hz chords and comping share the band (the "pah" of an oom-pah-pah)
    bass_band = (centres >= 30.0) & (centres < 160.0)
    if not bass_band.any():
        bass_band = centres <= centres[min(4, n_mels - 1)]

    floor = 1e-8 * max(float(mel.max()), 1e-30)  # 80 dB below the song's peak

    def log(x):
        return np.log10(np.maximum(x, floor))

    # onsets near the beats only: frames k-3 .. k+2 around each beat k give the flux into k-2 .. k+2
    near = np.clip(frames[:, None] + np.arange(-3, 3), 0, k - 1)  # [n_beats, 6]

    def onset_at_beats(x, rows):  # strongest positive spectral flux (log power) within +-2 frames (~46 ms)
        rows = np.flatnonzero(rows)
        if len(rows) == 0:
            return np.zeros(len(frames))
        d = np.diff(log(x[rows[:, None, None], near[None]]), axis=2)  # [bins, n_beats, 5]
        return np.maximum(d, 0.0).sum(axis=0).max(axis=1)

    kick = onset_at_beats(perc, low)
    low_onset = onset_at_beats(mel, low)
    snare = onset_at_beats(perc, high)
    accent = onset_at_beats(mel, np.ones(n_mels, bool))

    # beat-synchronous segments: from each beat to the next, at most 1.5 median periods long (across a gap)
    ibi = np.diff(beats)
    period = float(np.median(ibi)) if len(ibi) else 0.5
    ends_s = np.minimum(np.append(beats[1:], beats[-1] + period), beats + 1.5 * period)
    ends = np.clip(np.round(ends_s * fps).astype(np.int64), frames + 1, k)
    cum_c = np.vstack([np.zeros((1, chroma.shape[1])), np.cumsum(np.asarray(chroma, np.float64), axis=0)])
    sync_chroma = (cum_c[ends] - cum_c[frames]) / (ends - frames)[:, None]
    bass = log(mel[bass_band]).T  # [K, bins]
    cum_b = np.vstack([np.zeros((1, bass.shape[1])), np.cumsum(bass, axis=0)])
    sync_bass = (cum_b[ends] - cum_b[frames]) / (ends - frames)[:, None]
    sync_bass = sync_bass - sync_bass.mean(axis=1, keepdims=True)  # spectral shape, not level
    return {"low_onset": low_onset, "kick": kick, "snare": snare, "accent": accent}, (sync_chroma, sync_bass)


def _novelty(sync: np.ndarray, widths: tuple[int, ...] = (1, 2)) -> np.ndarray:
    """Change into each beat: cosine distance between the mean of the ``w`` beat segments before it and the ``w``
    from it on, averaged over the widths (0 where one side is missing)."""
    n = len(sync)
    out = np.zeros(n)
    cum = np.vstack([np.zeros((1, sync.shape[1])), np.cumsum(sync, axis=0)])
    for w in widths:
        i = np.arange(w, n - w + 1)
        if len(i) == 0:
            continue
        before = cum[i] - cum[i - w]
        after = cum[i + w] - cum[i]
        norm = np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1)
        cos = np.einsum("ij,ij->i", before, after) / np.maximum(norm, 1e-12)
        out[i] += np.where(norm > 1e-12, 1.0 - cos, 0.0) / len(widths)
    return out
