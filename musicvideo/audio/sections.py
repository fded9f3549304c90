"""Sections: the song's form (verse, chorus, ...) as boundaries snapped to downbeats and repeat-aware labels.

The method is the Laplacian structural segmentation of McFee & Ellis ("Analyzing song structure with spectral
clustering", ISMIR 2014), written here on numpy/scipy over beat-synchronous features:

1. The song is cut into units: its beats when the beat is trusted, else fixed windows of ``window_s``.
2. Each unit gets the mean of its frames' MFCC (timbre, from the mel spectrogram) and chroma (harmony).
3. A recurrence graph links each unit to its mutual nearest neighbours anywhere in the song (the second chorus
   to the first); a median filter along its diagonals keeps the links that form repeated *paths* (a repeat lasts
   bars, a chance resemblance one unit). A sequence graph links each unit to the next, strongly where the timbre
   does not change. The two are balanced (McFee's ``mu``) into one graph.
4. The first eigenvectors of that graph's normalised Laplacian embed the units so that units of one kind of part
   cluster together; k-means on them gives one label per unit for each candidate number of labels.
5. Labels are voted per bar (so boundaries land on downbeats), too-short sections are absorbed by a neighbour,
   and the number of labels is the one whose segmentation best explains the song's features (between-label
   contrast, penalised per label). A song whose parts do not differ audibly gets one section "A".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.ndimage

import os
_DEBUG = bool(os.environ.get('SECTIONS_DEBUG'))
_ENVELOPE_MFCC = int(os.environ.get('ENV_MFCC', 13))


@dataclass
class Sections:
    """The form of a song.

    Attributes
    ----------
    starts_s : numpy.ndarray
        float64 start of each section in seconds; the first is 0.
    labels : list of str
        One label per section, "A", "B", ...: a part that returns gets the label it had the first time.
    """

    starts_s: np.ndarray
    labels: list[str]


def _one_section() -> Sections:
    return Sections(np.zeros(1), ["A"])


def _label_names(n: int) -> list[str]:
    """"A".."Z", then "AA", "AB", ... (more than 26 labels only for pathological input)."""
    names = []
    for i in range(n):
        name, j = "", i
        while True:
            name = chr(ord("A") + j % 26) + name
            j = j // 26 - 1
            if j < 0:
                break
        names.append(name)
    return names


def _unit_edges(*, beat_times_s: np.ndarray, downbeat_times_s: np.ndarray | None, n_frames: int,
                frame_rate: float, window_s: float, max_units: int) -> np.ndarray:
    """Frame index where each unit starts, plus ``n_frames`` at the end (strictly increasing, first 0).

    Units are the beats (``beat_times_s`` not None), else windows of ``window_s``. Songs with more than
    ``max_units`` beats keep every ``s``-th beat counted from each downbeat (so downbeats stay unit starts);
    long songs without beats get longer windows.
    """
    if beat_times_s is not None:
        beats = np.asarray(beat_times_s, np.float64)
        step = int(np.ceil(len(beats) / max_units))
        if step > 1:
            keep = np.arange(len(beats)) % step == 0
            if downbeat_times_s is not None and len(downbeat_times_s):
                # count beats from the last downbeat (from the first one backwards before it)
                down = np.unique(np.clip(np.searchsorted(beats, np.asarray(downbeat_times_s) - 1e-3), 0,
                                         len(beats) - 1))
                last = np.searchsorted(down, np.arange(len(beats)), side="right") - 1
                from_down = np.arange(len(beats)) - down[np.maximum(last, 0)]
                keep = from_down % step == 0
            beats = beats[keep]
        starts = np.round(beats * frame_rate).astype(np.int64)
        # stretches without beats (a free-time intro, the tail after the last beat) get windows of about a beat
        if len(starts) >= 2:
            period = max(float(np.median(np.diff(starts))), 1.0)
            bounds = np.concatenate([[0], starts, [n_frames]])
            fill = [np.arange(a + period, b - 0.5 * period, period) for a, b in zip(bounds[:-1], bounds[1:])
                    if b - a > 2 * period]
            if fill:
                starts = np.concatenate([starts, np.round(np.concatenate(fill)).astype(np.int64)])
    else:
        step_frames = max(window_s * frame_rate, n_frames / max_units, 1.0)
        starts = np.round(np.arange(int(np.ceil(n_frames / step_frames))) * step_frames).astype(np.int64)
    starts = starts[(starts > 0) & (starts < n_frames)]
    return np.unique(np.concatenate([[0], starts, [n_frames]]))


def _unit_means(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of the columns of ``x`` ``[d, K]`` within each unit: ``[n_units, d]``."""
    sums = np.add.reduceat(x, edges[:-1], axis=1)
    return (sums / np.diff(edges)[None, :]).T


def _db(power: np.ndarray) -> np.ndarray:
    """Power in dB, floored 80 dB under the peak (as librosa's ``power_to_db(top_db=80)``)."""
    db = 10.0 * np.log10(np.maximum(power, 1e-10))
    return np.maximum(db, db.max() - 80.0)


def _mfcc(db: np.ndarray, n_mfcc: int) -> np.ndarray:
    """MFCC ``[..., n_mfcc]`` of dB mel spectra ``[..., n_mels]`` (orthonormal DCT-II, as librosa's)."""
    return scipy.fft.dct(db, type=2, norm="ortho", axis=-1)[..., :n_mfcc]


def _band_flux(mel: np.ndarray, n_bands: int) -> np.ndarray:
    """Spectral flux (summed dB increases) in ``n_bands`` groups of mel bands, per frame: ``[K, n_bands]``.

    It describes the rhythm section (what is struck, where) and, unlike the spectrum, is not smeared by the
    reverb or release tail of the previous part into the first bar of the next.
    """
    db = _db(mel)
    rise = np.maximum(np.diff(db, axis=1, prepend=db[:, :1]), 0.0)
    bands = np.array_split(np.arange(len(mel)), n_bands)
    return np.stack([rise[b].sum(axis=0) for b in bands], axis=1)


def _affinity(x: np.ndarray, *, width: int) -> np.ndarray:
    """Mutual k-nearest-neighbour affinity of the rows of ``x`` (``exp(-d / median kNN distance)``).

    Units closer than ``width`` in time are not neighbours (they trivially resemble each other).
    """
    n = len(x)
    sq = np.sum(x * x, axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0))
    idx = np.arange(n)
    near = np.abs(idx[:, None] - idx[None, :]) < width
    dist_masked = np.where(near, np.inf, dist)
    k = int(min(max(2 * np.ceil(np.sqrt(max(n - 2 * width + 1, 1))), 1), max(n - 2 * width, 1)))
    order = np.argsort(dist_masked, axis=1, kind="stable")[:, :k]
    links = np.zeros((n, n), bool)
    links[idx[:, None], order] = True
    links &= links.T  # mutual neighbours only
    links &= ~near
    kth = dist_masked[idx, order[:, -1]]
    bandwidth = float(np.median(kth[np.isfinite(kth)])) if np.any(np.isfinite(kth)) else 0.0
    if not bandwidth > 0:
        bandwidth = 1.0
    return np.where(links, np.exp(-dist / bandwidth), 0.0)


def _path_enhance(rec: np.ndarray, size: int) -> np.ndarray:
    """Median filter along the diagonals of a recurrence matrix (McFee's time-lag filter)."""
    n = len(rec)
    if size <= 1 or n < size:
        return rec
    padded = np.pad(rec, ((0, n), (0, 0)))  # [2n, n]: lags without wrap-around
    cols = np.arange(n)
    rows = (cols[None, :] + np.arange(2 * n)[:, None]) % (2 * n)
    lag = padded[rows, cols[None, :]]  # lag[l, j] = rec[j + l, j]
    lag = scipy.ndimage.median_filter(lag, size=(1, size), mode="nearest")
    out = np.zeros_like(padded)
    out[rows, cols[None, :]] = lag
    return out[:n]


def _spectral_embedding(rec: np.ndarray, path: np.ndarray, *, n_vectors: int, smooth: int) -> np.ndarray:
    """The first eigenvectors of the normalised Laplacian of ``mu * rec + (1 - mu) * path``, median-smoothed in
    time: ``[n_units, n_vectors]``."""
    deg_path, deg_rec = path.sum(axis=1), rec.sum(axis=1)
    total = deg_path + deg_rec
    # McFee's balance: both graphs contribute equally to a unit's degree, on average
    mu = float(deg_path @ total / max(np.sum(total ** 2), 1e-12))
    graph = mu * rec + (1.0 - mu) * path
    degree = np.maximum(graph.sum(axis=1), 1e-12)
    scale = 1.0 / np.sqrt(degree)
    lap = np.eye(len(graph)) - scale[:, None] * graph * scale[None, :]
    n_vectors = min(n_vectors, len(graph))
    _, vectors = scipy.linalg.eigh(lap, subset_by_index=[0, n_vectors - 1])
    if smooth > 1:
        vectors = scipy.ndimage.median_filter(vectors, size=(smooth, 1), mode="nearest")
    return vectors


def _kmeans(x: np.ndarray, k: int, *, seed: int, restarts: int, iterations: int = 50) -> np.ndarray:
    """Deterministic k-means labels of the rows of ``x``: the best of ``restarts`` k-means++ runs."""
    rng = np.random.default_rng(seed)
    n = len(x)
    best, best_cost = np.zeros(n, np.int64), np.inf
    sq = np.sum(x * x, axis=1)
    for _ in range(restarts):
        centres = [x[rng.integers(n)]]
        for _ in range(1, k):  # k-means++: the next centre far from the chosen ones
            d2 = np.min(sq[:, None] - 2.0 * x @ np.array(centres).T + np.sum(np.square(centres), axis=1)[None, :],
                        axis=1)
            d2 = np.maximum(d2, 0.0)
            total = d2.sum()
            centres.append(x[rng.choice(n, p=d2 / total)] if total > 0 else x[rng.integers(n)])
        centres = np.array(centres)
        labels = np.full(n, -1)
        for _ in range(iterations):
            d2 = sq[:, None] - 2.0 * x @ centres.T + np.sum(centres * centres, axis=1)[None, :]
            new = np.argmin(d2, axis=1)
            if np.array_equal(new, labels):
                break
            labels = new
            for c in range(k):
                members = labels == c
                if members.any():
                    centres[c] = x[members].mean(axis=0)
        cost = float(np.sum((x - centres[labels]) ** 2))
        if cost < best_cost - 1e-12:
            best, best_cost = labels.astype(np.int64), cost
    return best


def _runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index and label of each run of equal labels."""
    starts = np.flatnonzero(np.concatenate([[True], labels[1:] != labels[:-1]]))
    return starts, labels[starts]



def _vote(labels: np.ndarray, groups: np.ndarray, n_labels: int) -> np.ndarray:
    """The most frequent label of the units of each group (``groups`` are unit start indices, then ``len``)."""
    counts = np.zeros((len(groups) - 1, n_labels))
    group_of = np.searchsorted(groups, np.arange(len(labels)), side="right") - 1
    np.add.at(counts, (group_of, labels), 1.0)
    return np.argmax(counts, axis=1)


def _absorb_short(labels: np.ndarray, sizes: np.ndarray, feats: np.ndarray, min_size: float) -> np.ndarray:
    """Relabel runs shorter than ``min_size`` (in units of ``sizes``) with the label of the neighbouring run whose
    mean feature is closest, shortest first, until none is left (or one run remains).

    ``labels``, ``sizes`` and ``feats`` are per group (bar or unit).
    """
    labels = labels.copy()
    while True:
        starts, run_labels = _runs(labels)
        if len(starts) <= 1:
            return labels
        ends = np.append(starts[1:], len(labels))
        lengths = np.array([sizes[a:b].sum() for a, b in zip(starts, ends)])
        r = int(np.argmin(lengths))
        if lengths[r] >= min_size:
            return labels
        mean = feats[starts[r]:ends[r]].mean(axis=0)
        options = [q for q in (r - 1, r + 1) if 0 <= q < len(starts)]
        dists = [np.linalg.norm(feats[starts[q]:ends[q]].mean(axis=0) - mean) for q in options]
        labels[starts[r]:ends[r]] = run_labels[options[int(np.argmin(dists))]]


def _partition_fit(labels: np.ndarray, similarity: np.ndarray) -> float:
    """Pearson correlation between "same label" and the similarity of each pair of groups (0 for one label)."""
    same = (labels[:, None] == labels[None, :]).astype(np.float64)
    mask = ~np.eye(len(labels), dtype=bool)
    a, b = same[mask], similarity[mask]
    if a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def find_sections(*, mel: np.ndarray, chroma: np.ndarray, beat_times_s: np.ndarray, downbeat_times_s: np.ndarray,
                  duration_s: float, sr: int, hop_length: int, beat_confidence: float,
                  min_beat_confidence: float = 0.4, window_s: float = 0.5, context_bars: float = 4.0,
                  context_s: float = 8.0, min_section_bars: int = 4, min_section_s: float = 8.0,
                  max_labels: int = 8, min_contrast_db: float = 2.0, min_chroma_contrast: float = 0.15,
                  quiet_db: float = 30.0, min_explained_timbre: float = 0.3, min_explained_chroma: float = 0.5, max_units: int = 400,
                  seed: int = 0) -> Sections:
    """Structural segmentation of a whole song.

    Parameters
    ----------
    mel : numpy.ndarray
        ``[n_mels, K]`` mel power spectrogram.
    chroma : numpy.ndarray
        ``[K, 12]`` chroma.
    beat_times_s, downbeat_times_s : numpy.ndarray
        Beats and downbeats in seconds (may be empty: then fixed-length time windows stand in for beats).
    duration_s : float
        Length of the song.
    sr, hop_length : int
        Feature frame ``k`` is at ``k * hop_length / sr`` seconds.
    beat_confidence : float
        0..1; below ``min_beat_confidence`` the beats and downbeats are not used (windows of ``window_s`` instead,
        boundaries not snapped).
    min_beat_confidence : float
        Trust the beats from this confidence on.
    window_s : float
        Unit length without trusted beats.
    context_bars, context_s : float
        Features are averaged over this much music around each unit (bars with trusted downbeats, else seconds)
        before units are compared, so that parts compare as wholes rather than chord by chord.
    min_section_bars, min_section_s : int, float
        Shortest section (bars with trusted downbeats, else seconds).
    max_labels : int
        Most kinds of part considered.
    quiet_db : float
        Units this far under the song's median level are near-silent: left out of the statistics.
    min_explained_timbre, min_explained_chroma : float
        The labels must explain at least this share of the variance of the spectral envelope or of the chroma
        (both at a ~2 s scale) or the song is one section.
    min_contrast_db, min_chroma_contrast : float
        Two labels are kept apart only if their mean spectra differ by at least ``min_contrast_db`` (RMS over the
        mel bands) or their mean chroma by ``min_chroma_contrast`` (cosine distance); otherwise they merge, and a
        song with nothing to tell apart is one section "A".
    max_units : int
        Cap on the number of beats/windows compared (long songs group beats), which bounds the cost.
    seed : int
        Seed of the k-means restarts (the result is deterministic).

    Returns
    -------
    Sections
        ``starts_s`` (first 0.0) and labels "A", "B", ... in order of first appearance; adjacent sections have
        different labels.

    Examples
    --------
    >>> form = find_sections(mel=mel, chroma=chroma, beat_times_s=beats, downbeat_times_s=downbeats,
    ...                      duration_s=240.0, sr=22050, hop_length=512, beat_confidence=0.9)
    >>> list(zip(form.starts_s, form.labels))  # doctest: +SKIP
    [(0.0, 'A'), (16.0, 'B'), (32.0, 'A'), (48.0, 'B')]
    """
    mel = np.asarray(mel, np.float64)
    n_frames = mel.shape[1] if mel.ndim == 2 else 0
    frame_rate = sr / hop_length
    if n_frames < 2 or not np.all(np.isfinite(mel)) or not duration_s > 0:
        return _one_section()
    chroma = np.nan_to_num(np.asarray(chroma, np.float64))[:n_frames]
    if len(chroma) < n_frames:
        chroma = np.pad(chroma, ((0, n_frames - len(chroma)), (0, 0)))
    beats = np.asarray(beat_times_s, np.float64)
    downbeats = np.asarray(downbeat_times_s, np.float64)
    use_beats = bool(beat_confidence >= min_beat_confidence and len(beats) >= 8)
    use_bars = use_beats and len(downbeats) >= 2

    edges = _unit_edges(beat_times_s=beats if use_beats else None, downbeat_times_s=downbeats if use_bars else None,
                        n_frames=n_frames, frame_rate=frame_rate, window_s=window_s, max_units=max_units)
    n_units = len(edges) - 1
    unit_s = np.diff(edges) / frame_rate
    if use_bars:
        # bars as groups of units: a boundary can only fall on a unit that starts nearest a downbeat
        down_frames = np.round(downbeats * frame_rate)
        group_starts = np.unique(np.concatenate([[0], np.searchsorted(edges[:-1], down_frames - 0.5)]))
        group_starts = group_starts[group_starts < n_units]
        bar_s = float(np.median(np.diff(downbeats)))
        min_len_s = max(min_section_bars * bar_s, 1e-9)
        context_units = context_bars * bar_s / float(np.median(unit_s))
    else:
        group_starts = np.arange(n_units)
        min_len_s = min_section_s
        context_units = context_s / float(np.median(unit_s))
    group_edges = np.append(group_starts, n_units)
    n_groups = len(group_starts)
    group_s = np.add.reduceat(unit_s, group_starts)
    if n_groups < 2 or duration_s < 2 * min_len_s or n_units < 8:
        return _one_section()

    # unit features: timbre (MFCC, standardised) and harmony (chroma direction), averaged over the context
    # unit spectra: mean power over the unit, in dB (cheaper than per frame, and a unit is heard as a whole)
    unit_db = _db(_unit_means(mel, edges))
    mfcc = _mfcc(unit_db, 20)
    chroma_u = _unit_means(chroma.T, edges)
    chroma_u /= np.maximum(np.linalg.norm(chroma_u, axis=1, keepdims=True), 1e-9)
    # near-silent units (a fade, the tail after the last note) are outliers that would dominate the statistics:
    # they are labelled like the rest but left out of the standardisation and of the explained-variance gate
    level_db = 10.0 * np.log10(np.maximum(_unit_means(mel, edges).mean(axis=1), 1e-10))
    heard = level_db >= np.median(level_db) - quiet_db
    if np.count_nonzero(heard) < 8:
        return _one_section()

    def standardise(x: np.ndarray) -> np.ndarray:
        mean, spread = x[heard].mean(axis=0), x[heard].std(axis=0)
        # clipped at 3 standard deviations: one odd unit (a crash, the last silent bit) must not stretch the scale
        return np.clip((x - mean) / np.maximum(spread, 1e-6), -3.0, 3.0) / np.sqrt(x.shape[1])

    timbre = standardise(mfcc)
    flux = _unit_means(_band_flux(mel, 8).T, edges)
    rhythm = standardise(flux)
    feats = np.hstack([timbre, rhythm, chroma_u])
    width = max(int(round(context_units)), 1)
    smooth = scipy.ndimage.uniform_filter1d(feats, width, axis=0, mode="nearest") if width > 1 else feats

    # recurrence (path-enhanced) + sequence graph -> Laplacian embedding
    rec = _path_enhance(_affinity(smooth, width=3), 7)
    step = np.sum(np.diff(mfcc, axis=0) ** 2, axis=1)
    sigma = float(np.median(step))
    step_sim = np.exp(-step / sigma) if sigma > 0 else np.ones_like(step)
    path = np.diag(step_sim, 1) + np.diag(step_sim, -1)
    n_labels_max = int(min(max_labels, max(n_groups // 2, 1), max(int(duration_s // min_len_s), 1)))
    vectors = _spectral_embedding(rec, path, n_vectors=max(n_labels_max, 2), smooth=9)

    # per-group features for the choice of k and the merging of short runs
    group_feats = np.add.reduceat(smooth * unit_s[:, None], group_starts, axis=0) / group_s[:, None]
    gf = group_feats
    sq = np.sum(gf * gf, axis=1)
    gdist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * gf @ gf.T, 0.0))
    scale = float(np.median(gdist[~np.eye(n_groups, dtype=bool)])) or 1.0
    similarity = np.exp(-gdist / scale)

    best_labels, best_fit = np.zeros(n_groups, np.int64), 0.0
    for k in range(2, n_labels_max + 1):
        x = vectors[:, :k] / np.maximum(np.linalg.norm(vectors[:, :k], axis=1, keepdims=True), 1e-12)
        unit_labels = _kmeans(x, k, seed=seed, restarts=4)
        labels = _vote(unit_labels, group_edges, k)
        labels = _absorb_short(labels, group_s, group_feats, min_len_s)
        fit = _partition_fit(labels, similarity)
        if _DEBUG:
            st_, rl_ = _runs(labels)
            print(k, round(fit, 4), ' '.join(f'{edges[group_edges[a]] / frame_rate:.1f}:{b}' for a, b in zip(st_, rl_)))
        if fit > best_fit + 1e-9:
            best_labels, best_fit = labels, fit

    unit_chroma = _unit_means(chroma.T, edges)
    labels = _merge_similar(best_labels, unit_db=unit_db, unit_chroma=unit_chroma, unit_s=unit_s,
                            group_edges=group_edges, min_contrast_db=min_contrast_db,
                            min_chroma_contrast=min_chroma_contrast)
    # the context average blurs boundaries over about one context: place each on the bar where the unaveraged
    # features switch from one label's mean to the other's
    for _ in range(2):  # the second pass with label means from the refined boundaries
        labels = _refine_boundaries(labels, group_edges, feats, heard, radius=int(np.ceil(context_units / 2)) + 1)
    if _DEBUG:
        lev = 10 * np.log10(np.maximum(_unit_means(mel, edges).mean(axis=1), 1e-10))
        print('levels', np.round(lev[:3], 1), np.round(lev[-4:], 1), np.round(unit_s[-4:], 2), 'median', np.median(lev))
        print('after refine', _runs(labels))
    labels = _absorb_short(labels, group_s, group_feats, min_len_s)
    if _DEBUG:
        print('after absorb', _runs(labels))
    # the gate: the labels must explain a good part of how the music changes (at a ~2 s scale, where beats and
    # single chords are averaged away), in timbre or in harmony; else the song is one part
    short = max(int(round(2.0 / float(np.median(unit_s)))), 1)
    unit_labels = np.repeat(labels, np.diff(group_edges))
    r2_timbre = _explained(scipy.ndimage.uniform_filter1d(_mfcc(unit_db, _ENVELOPE_MFCC), short, axis=0,
                                                          mode="nearest")[heard], unit_labels[heard])
    r2_chroma = _explained(scipy.ndimage.uniform_filter1d(unit_chroma, short, axis=0, mode="nearest")[heard],
                           unit_labels[heard])
    if _DEBUG:
        print('R2 timbre', round(r2_timbre, 3), 'chroma', round(r2_chroma, 3), 'fit', round(best_fit, 3))
    if r2_timbre < min_explained_timbre and r2_chroma < min_explained_chroma:
        return _one_section()
    starts, run_labels = _runs(labels)
    if len(starts) <= 1:
        return _one_section()
    # names in order of first appearance
    order = {}
    for lab in run_labels:
        order.setdefault(int(lab), len(order))
    names = _label_names(len(order))
    starts_s = edges[group_edges[starts]] / frame_rate
    starts_s[0] = 0.0
    if use_bars:
        # the unit nearest a downbeat starts at the frame nearest it: report the downbeat itself
        near = np.abs(downbeats[None, :] - starts_s[1:, None])
        idx = np.argmin(near, axis=1)
        ok = near[np.arange(len(idx)), idx] < 1.0 / frame_rate + 1e-9
        starts_s[1:][ok] = downbeats[idx[ok]]
    return Sections(starts_s.astype(np.float64), [names[order[int(lab)]] for lab in run_labels])


def _explained(x: np.ndarray, labels: np.ndarray) -> float:
    """Share of the variance of the rows of ``x`` that the labels explain (R^2 of the label means; 0 for one
    label or constant rows)."""
    total = float(np.sum((x - x.mean(axis=0)) ** 2))
    if total <= 1e-12 * max(x.size, 1):
        return 0.0
    within = sum(float(np.sum((x[labels == q] - x[labels == q].mean(axis=0)) ** 2)) for q in np.unique(labels))
    return 1.0 - within / total


def _refine_boundaries(labels: np.ndarray, group_edges: np.ndarray, unit_feats: np.ndarray, heard: np.ndarray, *,
                       radius: int) -> np.ndarray:
    """Move each boundary between two runs, within ``radius`` groups (never past a neighbouring boundary), to the
    group start where the units best split into "nearer the left label's mean" and "nearer the right one's"."""
    labels = labels.copy()
    unit_labels = np.repeat(labels, np.diff(group_edges))
    means = {int(q): unit_feats[(unit_labels == q) & heard].mean(axis=0) if np.any((unit_labels == q) & heard)
             else unit_feats[unit_labels == q].mean(axis=0) for q in np.unique(labels)}
    starts, run_labels = _runs(labels)
    bounds = list(starts) + [len(labels)]
    for r in range(1, len(starts)):
        left, right = int(run_labels[r - 1]), int(run_labels[r])
        lo = max(bounds[r] - radius, bounds[r - 1] + 1)
        hi = min(bounds[r] + radius, bounds[r + 1] - 1)
        if hi <= lo:
            continue
        u0 = group_edges[lo - 1]  # units that can change side, with one group each side
        f = unit_feats[u0:group_edges[hi + 1]]
        # what a unit saves by being on the left rather than the right (its distance to each label's mean)
        gain = np.sum((f - means[right]) ** 2, axis=1) - np.sum((f - means[left]) ** 2, axis=1)
        gain[~heard[u0:group_edges[hi + 1]]] = 0.0  # a near-silent unit belongs to neither
        saved = np.concatenate([[0.0], np.cumsum(gain)])  # saved[i]: the first i units on the left
        cands = np.arange(lo, hi + 1)
        # a split at group c puts units [u0, group_edges[c]) on the left
        c = int(cands[np.argmin(-saved[group_edges[cands] - u0])])
        if _DEBUG:
            print('refine', bounds[r], '->', c, cands.tolist(), np.round(-saved[group_edges[cands] - u0], 1).tolist())
        labels[bounds[r - 1]:c] = left
        labels[c:bounds[r + 1]] = right
        bounds[r] = c
    return labels


def _merge_similar(labels: np.ndarray, *, unit_db: np.ndarray, unit_chroma: np.ndarray, unit_s: np.ndarray,
                   group_edges: np.ndarray, min_contrast_db: float, min_chroma_contrast: float) -> np.ndarray:
    """Merge the closest pair of labels while it is not audibly different.

    The test is on absolute scales (dB, chroma direction), so that a uniform song's small fluctuations, which the
    standardised features of the clustering magnify, never make two parts.
    """
    labels = labels.copy()
    unit_label = np.repeat(labels, np.diff(group_edges))
    while True:
        present = np.unique(unit_label)
        if len(present) <= 1:
            return labels
        weights = (unit_label[None, :] == present[:, None]) * unit_s[None, :]
        weights /= weights.sum(axis=1, keepdims=True)
        spectra = _mfcc(weights @ unit_db, _ENVELOPE_MFCC)  # spectral envelope: timbre and level, not pitch
        chromas = weights @ unit_chroma
        norms = np.linalg.norm(chromas, axis=1)
        chromas /= np.maximum(norms, 1e-9)[:, None]
        # RMS difference in dB over the mel bands of the two envelopes (the DCT is orthonormal)
        db_gap = np.sqrt(np.sum((spectra[:, None, :] - spectra[None, :, :]) ** 2, axis=2) / unit_db.shape[1])
        # silence has no chroma: only the spectra tell it apart
        pitched = norms > 1e-6
        chroma_gap = np.where(pitched[:, None] & pitched[None, :], 1.0 - chromas @ chromas.T, 0.0)
        # how far a pair is from being kept apart (< 1: merge); the closest pair first
        apart = np.maximum(db_gap / min_contrast_db, chroma_gap / min_chroma_contrast)
        np.fill_diagonal(apart, np.inf)
        if _DEBUG:
            print('db_gap', np.round(db_gap, 2).tolist(), 'chroma_gap', np.round(chroma_gap, 3).tolist())
        i, j = np.unravel_index(np.argmin(apart), apart.shape)
        if apart[i, j] >= 1.0:
            return labels
        labels[labels == present[j]] = present[i]
        unit_label[unit_label == present[j]] = present[i]
