"""Sections: the song's form (verse, chorus, ...) as boundaries snapped to downbeats and repeat-aware labels.

The method follows the Laplacian structural segmentation of McFee & Ellis ("Analyzing song structure with spectral
clustering", ISMIR 2014), written here on numpy/scipy over beat-synchronous features, with a choice of the number
of labels and a test for songs that have no parts at all:

1. The song is cut into units: its beats when the beat is trusted (with windows of about a beat where there are
   none, e.g. a free-time intro), else fixed windows of ``window_s``. Bars (downbeat to downbeat) group them.
2. Each unit gets its mean spectrum's MFCC (timbre and level), spectral flux in 8 bands (what is struck: rhythm)
   and chroma (harmony), standardised over the song.
3. The features are averaged over a context of about 4 bars, so that parts compare as wholes rather than chord by
   chord. A recurrence graph links each unit to its mutual nearest neighbours anywhere in the song (the second
   chorus to the first) and a median filter along its diagonals keeps links that form repeated paths; a sequence
   graph links each unit to the next, strongly where the timbre does not change. The two are balanced (McFee's
   ``mu``) into one graph.
4. The first eigenvectors of its normalised Laplacian embed the units so that units of one kind of part cluster
   together. For each number of labels k = 2..8, k-means on the first k eigenvectors labels the units, labels are
   voted per bar (boundaries on downbeats) and too-short sections absorbed by a neighbour; each candidate is then
   finished (steps 5 and 6) and the form kept is the finest whose "same label" pattern correlates with the bars'
   similarity within 30 % of the best one.
5. The context average blurs boundaries, so each is moved to the downbeat where the unaveraged timbre and rhythm
   features switch from one label to the other (on the two labels' discriminant), with a prior for whole 4-bar
   phrases, which fills, crash cymbals and release tails around a change do not move.
6. Two labels stay apart only if they explain a fair share (R^2) of how the spectral envelope or the chroma
   changes between their units at a ~2 s scale; otherwise they merge (complete linkage). A uniform song (a steady
   groove, a pad, a sine, silence) ends as one section "A".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.ndimage

ENVELOPE_MFCC = 13  # MFCC kept for the spectral envelope (timbre and level without pitch detail)
FIT_TOLERANCE = 0.3  # finished forms within this share of the best fit count as fitting well enough
PHRASE_PRIOR = 0.75  # how much evidence (in typical bars) a boundary off the phrase grid must add to be chosen


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
    """Spectral flux (dB increase, half-wave rectified) of the power in ``n_bands`` groups of mel bands, per frame:
    ``[n_bands, K]``.

    It describes the rhythm section (what is struck, where) and, unlike the spectrum, is not smeared by the
    reverb or release tail of the previous part into the first bar of the next.
    """
    bands = np.add.reduceat(mel, np.linspace(0, len(mel), n_bands + 1).astype(int)[:-1], axis=0)
    db = _db(bands)
    return np.maximum(np.diff(db, axis=1, prepend=db[:, :1]), 0.0)


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
                  phrase_bars: int = 4, max_labels: int = 8, min_explained_timbre: float = 0.15,
                  min_explained_chroma: float = 0.5, quiet_db: float = 30.0, max_units: int = 400,
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
    phrase_bars : int
        Parts usually last whole phrases of this many bars: with trusted downbeats, a boundary off that grid must
        be clearly better (1 turns the prior off).
    max_labels : int
        Most kinds of part considered.
    min_explained_timbre, min_explained_chroma : float
        Two labels stay apart only if they explain at least this share of the variance of the spectral envelope,
        or of the chroma, over their units (at a ~2 s scale); else they merge.
    quiet_db : float
        Units this far under the song's median level are near-silent (a fade, the tail after the last note): they
        are labelled with their bar but left out of the statistics, where they would be outliers.
    max_units : int
        Cap on the number of beats/windows compared (long songs group beats), which bounds the cost.
    seed : int
        Seed of the k-means restarts (the result is deterministic).

    Returns
    -------
    Sections
        ``starts_s`` (first 0.0; with trusted downbeats the others are downbeats) and labels "A", "B", ... in order
        of first appearance; adjacent sections have different labels.

    Examples
    --------
    >>> form = find_sections(mel=mel, chroma=chroma, beat_times_s=beats, downbeat_times_s=downbeats,
    ...                      duration_s=66.0, sr=22050, hop_length=512, beat_confidence=0.9)
    >>> list(zip(form.starts_s, form.labels))  # doctest: +SKIP
    [(0.0, 'A'), (16.05, 'B'), (32.05, 'A'), (48.05, 'B')]
    """
    mel = np.asarray(mel, np.float64)
    n_frames = mel.shape[1] if mel.ndim == 2 and mel.shape[0] > 0 else 0
    frame_rate = sr / hop_length
    if n_frames < 2 or not np.all(np.isfinite(mel)) or not np.isfinite(duration_s) or not duration_s > 0:
        return _one_section()
    chroma = np.nan_to_num(np.asarray(chroma, np.float64).reshape(-1, 12))[:n_frames]
    if len(chroma) < n_frames:
        chroma = np.pad(chroma, ((0, n_frames - len(chroma)), (0, 0)))
    end_s = n_frames / frame_rate

    def times(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64).ravel()
        return np.unique(x[np.isfinite(x) & (x >= 0) & (x < end_s)])

    beats, downbeats = times(beat_times_s), times(downbeat_times_s)
    use_beats = bool(np.isfinite(beat_confidence) and beat_confidence >= min_beat_confidence and len(beats) >= 8)
    use_bars = use_beats and len(downbeats) >= 2

    edges = _unit_edges(beat_times_s=beats if use_beats else None, downbeat_times_s=downbeats if use_bars else None,
                        n_frames=n_frames, frame_rate=frame_rate, window_s=window_s, max_units=max_units)
    n_units = len(edges) - 1
    unit_s = np.diff(edges) / frame_rate
    if use_bars:
        # bars group the units: a section can only start on the unit that starts at a downbeat
        first_unit = np.searchsorted(edges[:-1], np.round(downbeats * frame_rate) - 0.5)
        inside = first_unit < n_units
        group_starts, pick = np.unique(np.concatenate([[0], first_unit[inside]]), return_index=True)
        group_time_s = np.concatenate([[0.0], downbeats[inside]])[pick]
        first_bar = 0 if first_unit[0] == 0 else 1  # group 0 is the first bar, or what comes before it
        bar_s = float(np.median(np.diff(downbeats)))
        min_len_s = (min_section_bars - 0.5) * bar_s  # half a bar of slack: a part of exactly that many bars stays
        context_units = context_bars * bar_s / float(np.median(unit_s))
    else:
        group_starts = np.arange(n_units)
        group_time_s = edges[:-1] / frame_rate
        first_bar = 0
        min_len_s = min_section_s
        context_units = context_s / float(np.median(unit_s))
    group_edges = np.append(group_starts, n_units)
    n_groups = len(group_starts)
    group_s = np.add.reduceat(unit_s, group_starts)
    if n_groups < 2 or n_units < 8 or duration_s < 2 * min_len_s:
        return _one_section()

    # Unit features. Spectra are the unit's mean power in dB (a unit is heard as a whole; cheaper than per frame).
    mean_power = _unit_means(mel, edges)
    unit_db = _db(mean_power)
    level_db = 10.0 * np.log10(np.maximum(mean_power.mean(axis=1), 1e-10))
    heard = level_db >= np.median(level_db) - quiet_db
    if np.count_nonzero(heard) < 8:
        return _one_section()

    def standardise(x: np.ndarray) -> np.ndarray:
        mean, spread = x[heard].mean(axis=0), x[heard].std(axis=0)
        # clipped at 3 standard deviations: one odd unit (a crash, the last silent bit) must not stretch the scale
        return np.clip((x - mean) / np.maximum(spread, 1e-6), -3.0, 3.0) / np.sqrt(x.shape[1])

    mfcc = _mfcc(unit_db, 20)
    unit_chroma = _unit_means(chroma.T, edges)
    chroma_dir = unit_chroma / np.maximum(np.linalg.norm(unit_chroma, axis=1, keepdims=True), 1e-9)
    feats = np.hstack([standardise(mfcc), standardise(_unit_means(_band_flux(mel, 8), edges)), chroma_dir])
    n_timbre_rhythm = feats.shape[1] - 12
    width = max(int(round(context_units)), 1)
    context = scipy.ndimage.uniform_filter1d(feats, width, axis=0, mode="nearest") if width > 1 else feats

    # recurrence (path-enhanced) + sequence graph -> Laplacian embedding
    rec = _path_enhance(_affinity(context, width=3), 7)
    step = np.sum(np.diff(mfcc, axis=0) ** 2, axis=1)
    sigma = float(np.median(step))
    step_sim = np.exp(-step / sigma) if sigma > 0 else np.ones_like(step)
    path = np.diag(step_sim, 1) + np.diag(step_sim, -1)
    n_labels_max = int(min(max_labels, max(n_groups // 2, 2), max(int(duration_s // min_len_s), 2)))
    if n_labels_max < 2:
        return _one_section()
    vectors = _spectral_embedding(rec, path, n_vectors=n_labels_max, smooth=9)

    # candidate partitions, k = 2 .. n_labels_max labels, scored by how well "same label" matches the bars'
    # similarity (correlation)
    group_feats = np.add.reduceat(context * unit_s[:, None], group_starts, axis=0) / group_s[:, None]
    sq = np.sum(group_feats ** 2, axis=1)
    group_dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * group_feats @ group_feats.T, 0.0))
    scale = float(np.median(group_dist[~np.eye(n_groups, dtype=bool)]))
    similarity = np.exp(-group_dist / scale) if scale > 0 else np.ones_like(group_dist)
    # the context average blurs boundaries over about one context: move each to the downbeat where the unaveraged
    # features switch from one label to the other (twice: the second time with the label means of the first; and
    # again after too-short runs are absorbed, which moves boundaries)
    def refine(labels: np.ndarray) -> np.ndarray:
        return _refine_boundaries(labels, group_edges, feats, heard, radius=int(np.ceil(context_units / 2)) + 1,
                                  primary=n_timbre_rhythm, phrase_groups=phrase_bars if use_bars else 1,
                                  first_bar=first_bar)

    # labels that do not explain enough of how the music changes merge (at a ~2 s scale, where single beats and
    # chords are averaged away)
    short = max(int(round(2.0 / float(np.median(unit_s)))), 1)
    envelope = scipy.ndimage.uniform_filter1d(_mfcc(unit_db, ENVELOPE_MFCC), short, axis=0, mode="nearest")
    harmony = scipy.ndimage.uniform_filter1d(unit_chroma, short, axis=0, mode="nearest")

    def finish(labels: np.ndarray) -> np.ndarray:
        labels = _absorb_short(refine(refine(labels)), group_s, group_feats, min_len_s)
        labels = _absorb_short(refine(labels), group_s, group_feats, min_len_s)
        return _merge_similar(labels, group_edges=group_edges, heard=heard, block=short,
                              views=((envelope, min_explained_timbre), (harmony, min_explained_chroma)))

    # Candidate forms for k = 2 .. n_labels_max labels, each finished (boundaries refined, unsupported labels
    # merged) and scored by how well "same label" matches the bars' similarity (correlation). The finest form
    # within FIT_TOLERANCE of the best is kept: what the music does not support is already merged away, and a
    # coarser form would lump together parts that a finer one tells apart.
    candidates = []
    for k in range(2, n_labels_max + 1):
        x = vectors[:, :k] / np.maximum(np.linalg.norm(vectors[:, :k], axis=1, keepdims=True), 1e-12)
        candidate = _vote(_kmeans(x, k, seed=seed, restarts=4), group_edges, k)
        candidate = finish(_absorb_short(candidate, group_s, group_feats, min_len_s))
        candidates.append((_partition_fit(candidate, similarity), len(_runs(candidate)[0]),
                           len(np.unique(candidate)), candidate))
    best_fit = max(c[0] for c in candidates)
    if not best_fit > 0:
        return _one_section()
    # most sections, then most labels, then the best fit
    labels = max((c for c in candidates if c[0] >= (1.0 - FIT_TOLERANCE) * best_fit),
                 key=lambda c: (c[1], c[2], c[0]))[-1]

    starts, run_labels = _runs(labels)
    if len(starts) <= 1:
        return _one_section()
    order: dict[int, int] = {}
    for lab in run_labels:  # names in order of first appearance
        order.setdefault(int(lab), len(order))
    names = _label_names(len(order))
    starts_s = group_time_s[starts].astype(np.float64)
    starts_s[0] = 0.0
    return Sections(starts_s, [names[order[int(lab)]] for lab in run_labels])


def _explained(x: np.ndarray, labels: np.ndarray) -> float:
    """Share of the variance of the rows of ``x`` that the labels explain (R^2 of the label means; 0 for one
    label or constant rows)."""
    total = float(np.sum((x - x.mean(axis=0)) ** 2))
    if total <= 1e-12 * max(x.size, 1):
        return 0.0
    within = sum(float(np.sum((x[labels == q] - x[labels == q].mean(axis=0)) ** 2)) for q in np.unique(labels))
    return 1.0 - within / total


def _discriminant(feats: np.ndarray, in_left: np.ndarray, in_right: np.ndarray) -> tuple[np.ndarray, float]:
    """Scores (> 0: like the left label) of all rows on the diagonal-LDA discriminant of two sets of rows, and its
    separation d' (difference of the sets' mean scores over their pooled standard deviation)."""
    mean_l, mean_r = feats[in_left].mean(axis=0), feats[in_right].mean(axis=0)
    within = np.concatenate([feats[in_left] - mean_l, feats[in_right] - mean_r]).var(axis=0)
    direction = (mean_l - mean_r) / np.maximum(within, 1e-3 * max(float(within.mean()), 1e-12))
    score = (feats - 0.5 * (mean_l + mean_r)) @ direction
    spread = np.sqrt(0.5 * (score[in_left].var() + score[in_right].var()))
    return score, float((score[in_left].mean() - score[in_right].mean()) / max(spread, 1e-12))


def _refine_boundaries(labels: np.ndarray, group_edges: np.ndarray, unit_feats: np.ndarray, heard: np.ndarray, *,
                       radius: int, primary: int, phrase_groups: int = 1, first_bar: int = 0,
                       min_separation: float = 1.0) -> np.ndarray:
    """Move each boundary between two runs to the group start where the units best split into "like the left
    label" and "like the right one", within ``radius`` groups (never past a neighbouring boundary).

    "Like" is a unit's score on the two labels' discriminant (diagonal LDA: the difference of the label means over
    the within-label variance, per feature), so features that vary inside a part count less than those that tell
    the parts apart. The first ``primary`` feature columns (timbre and rhythm) are used when they separate the two
    labels by ``min_separation`` (d'), else all: harmony changes with every chord inside a part, and a last chord
    that belongs to the next part's progression would pull the boundary a bar early. With ``phrase_groups`` > 1,
    splits off the phrase grid (counted from the previous boundary, or from group ``first_bar`` for the first one)
    pay ``PHRASE_PRIOR`` typical groups' evidence.
    """
    labels = labels.copy()
    unit_labels = np.repeat(labels, np.diff(group_edges))
    starts, run_labels = _runs(labels)
    bounds = list(starts) + [len(labels)]
    for r in range(1, len(starts)):
        left, right = int(run_labels[r - 1]), int(run_labels[r])
        lo = max(bounds[r] - radius, bounds[r - 1] + 1)
        hi = min(bounds[r] + radius, bounds[r + 1] - 1)
        in_left, in_right = (unit_labels == left) & heard, (unit_labels == right) & heard
        if hi <= lo or in_left.sum() < 2 or in_right.sum() < 2:
            continue
        score, separation = _discriminant(unit_feats[:, :primary], in_left, in_right)
        if separation < min_separation:
            score, _ = _discriminant(unit_feats, in_left, in_right)
        u0, u1 = group_edges[lo - 1], group_edges[hi + 1]  # the units that can change side, and a group each side
        score = np.where(heard[u0:u1], score[u0:u1], 0.0)  # a near-silent unit belongs to neither
        saved = np.concatenate([[0.0], np.cumsum(score)])  # saved[i]: the first i units on the left
        cands = np.arange(lo, hi + 1)
        gain = saved[group_edges[cands] - u0]  # a split at group c: [u0, edge[c]) on the left
        if phrase_groups > 1:
            # Parts are whole phrases (4 bars) more often than not: a split off the phrase grid (counted from the
            # previous boundary, or from the first bar) must win by a typical bar's evidence. Fills, crash cymbals
            # and release tails blur the bar on each side of a change; the phrase grid does not move.
            origin = bounds[r - 1] if r > 1 else first_bar
            typical = float(np.median(np.abs(np.diff(saved[group_edges[lo - 1:hi + 2] - u0]))))
            gain = gain - PHRASE_PRIOR * typical * ((cands - origin) % phrase_groups != 0)
        c = int(cands[np.argmax(gain)])
        labels[bounds[r - 1]:c] = left
        labels[c:bounds[r + 1]] = right
        bounds[r] = c
    return labels


def _merge_similar(labels: np.ndarray, *, group_edges: np.ndarray, heard: np.ndarray,
                   views: tuple[tuple[np.ndarray, float], ...], block: int) -> np.ndarray:
    """Merge labels that no view tells apart (complete-linkage agglomeration).

    A view (``[n_units, d]`` features, minimum share) tells two labels apart when the two explain at least that
    share of the view's variance over the (heard) units of the pair (R^2 adjusted for the number of independent
    blocks of ``block`` units the pair spans: the views are averaged over that many units). Groups of labels merge while every pair of
    labels across them is told apart by no view, the least separable first; complete linkage keeps a merged group
    from absorbing labels that resemble only one of its members (a mixture explains little of anything).
    """
    unit_label = np.repeat(labels, np.diff(group_edges))
    present = np.unique(unit_label[heard])
    if len(present) <= 1:
        return np.full_like(labels, present[0] if len(present) else labels[0])
    n = len(present)
    apart = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            pair = heard & ((unit_label == present[i]) | (unit_label == present[j]))
            # adjusted R^2 over the pair's independent blocks: by chance alone two labels "explain" about
            # 1 / blocks of anything, which matters for short songs and small parts
            blocks = np.count_nonzero(pair) / block
            shrink = (blocks - 1.0) / (blocks - 2.0) if blocks > 3.0 else np.inf
            apart[i, j] = apart[j, i] = max(
                (1.0 - (1.0 - _explained(x[pair], unit_label[pair])) * shrink) / share for x, share in views)
    cluster = list(range(n))  # cluster id of each present label
    while True:
        ids = sorted(set(cluster))
        if len(ids) <= 1:
            break
        best, pair = np.inf, None
        for x, ci in enumerate(ids):
            for cj in ids[x + 1:]:
                members_i = [m for m in range(n) if cluster[m] == ci]
                members_j = [m for m in range(n) if cluster[m] == cj]
                link = max(apart[m_i, m_j] for m_i in members_i for m_j in members_j)
                if link < best:
                    best, pair = link, (ci, cj)
        if best >= 1.0:
            break
        cluster = [pair[0] if c == pair[1] else c for c in cluster]
    merged = labels.copy()
    for m, lab in enumerate(present):
        merged[labels == lab] = present[cluster[m]]
    # a label found only on near-silent units is left as it is
    return merged
