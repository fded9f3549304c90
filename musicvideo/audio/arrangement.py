"""A deterministic multi-instrument renderer of song arrangements on a played beat grid, used by the ground truth
(:mod:`.groundtruth`).

An arrangement (:class:`Song`) is a sequence of parts (:class:`Part`: drum patterns with a :class:`Kit`, bass on
the chord roots, piano comping, a pad, a lead) laid over a *played* beat grid: the time of every beat, made by
:func:`steady_grid`, :func:`ramp_grid` (an accelerando or ritardando) or :func:`drift_grid` (a live drummer).
:func:`render_song` renders it, with an optional free-time intro, into a stereo mix; :func:`song_truth` reads the
beats, downbeats and sections it plays straight from the arrangement, without rendering.

::

    from musicvideo.audio.arrangement import Part, Song, render_song, song_truth, steady_grid
    part = Part("A", 8, ((57, 60, 64), (53, 57, 60)), comp=(0, 2))
    song = Song("demo", 22050, 1, 4, (part,), steady_grid(120, 8 * 4, 0.05))
    samples, truth = render_song(song), song_truth(song)  # float32 [2, n]; truth["beat_times_s"], ...

The lower-level pieces also build music that is not bars on a grid (beatless pieces, free-time intros): a
:class:`Renderer` holds a song's stems (sounds are added with :meth:`Renderer.place`), :func:`render_bars` plays a
song's parts into them, :func:`render_free` plays rubato piano over pads, and :func:`mix` makes the stereo master.

Everything is deterministic (seeded numpy; same arrangement, same samples) and pure numpy on :mod:`.synth`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import synth

# ---------------------------------------------------------------- arrangement description

#: Every eighth of a 4/4 bar, in beats (the default hi-hat pattern).
EIGHTHS_4 = (0, .5, 1, 1.5, 2, 2.5, 3, 3.5)


@dataclass(frozen=True)
class Kit:
    """Drum sounds (see :mod:`.synth`) and their levels."""

    kick_hz: tuple[float, float] = (150.0, 48.0)  # pitch sweep: start, end
    kick_decay_s: float = 0.25
    kick_click: float = 0.25
    snare_hz: float = 190.0
    snare_decay_s: float = 0.07
    hat_decay_s: float = 0.018
    open_hat_decay_s: float = 0.2
    hat_metal: float = 0.4
    clap: bool = False  # a clap layered on the snare
    kick_gain: float = 0.9
    snare_gain: float = 0.5
    hat_gain: float = 0.25


@dataclass(frozen=True)
class Part:
    """One section's material: patterns are beat positions within the bar (0 = the downbeat)."""

    label: str
    bars: int
    chords: tuple[tuple[int, ...], ...]  # MIDI notes per bar, cycling; the lowest note is the root
    kick: tuple[float, ...] = (0, 2)
    snare: tuple[float, ...] = (1, 3)
    hats: tuple[float, ...] = EIGHTHS_4
    open_hats: tuple[float, ...] = ()
    bass: tuple[float, ...] = (0, 1, 2, 3)  # root notes (an octave jump on off-beat eighths)
    comp: tuple[float, ...] = ()  # piano chord strikes
    pad_gain: float = 0.0  # a sustained pad chord over each bar
    lead: tuple[float, ...] = ()  # lead-synth notes (pitches: chord tones, fixed per part)
    lead_len: float = 0.4  # lead note length in beats
    lead_gain: float = 0.0
    bass_gain: float = 0.45
    comp_gain: float = 0.18
    kit: Kit = field(default_factory=Kit)
    swing: float = 0.5  # where an off-beat eighth falls within its beat (0.5 straight, 2/3 triplet swing)
    pad_bright: float = 1.0
    lead_square: bool = True
    lead_harmonics: int = 12
    lead_stab: bool = False  # the lead plays the chord (an octave up, the root doubled above) instead of a melody
    fill_every: int = 8  # a snare fill (sixteenths on the last beat) ends every this many bars (0: never)
    crash: bool = True  # a crash cymbal on the part's first downbeat
    ghost_notes: tuple[float, ...] = ()  # soft snare hits between the beats


@dataclass(frozen=True)
class Song:
    """A whole arrangement: the played beat grid, the bars' parts, and the mix."""

    name: str
    sample_rate: int
    seed: int
    beats_per_bar: int
    parts: tuple[Part, ...]
    grid_s: np.ndarray  # played time of every beat of every bar, plus the beat after the last bar
    offbeat_jitter_s: float = 0.0  # extra timing noise of hits between beats (a human player)
    intro_s: float = 0.0  # free-time music before the first bar (no beat truth; the whole song when no bars)
    level: float = 0.9  # peak level of the master
    reverb_s: float = 1.2
    transpose: int = 0


# ---------------------------------------------------------------- beat grids

def steady_grid(bpm: float, n_beats: int, start_s: float = 0.0) -> np.ndarray:
    """Beat times of a steady tempo.

    Parameters
    ----------
    bpm : float
        Tempo in beats per minute.
    n_beats : int
        Number of beats played (the grid has one more time: the beat after the last).
    start_s : float
        Time of the first beat in seconds.

    Returns
    -------
    numpy.ndarray
        float64 ``[n_beats + 1]`` beat times in seconds.
    """
    return start_s + np.arange(n_beats + 1) * 60.0 / bpm


def ramp_grid(bpm_start: float, bpm_end: float, n_beats: int, start_s: float = 0.0) -> np.ndarray:
    """Beat times of a tempo that changes linearly beat by beat (an accelerando or ritardando).

    Parameters
    ----------
    bpm_start, bpm_end : float
        Tempo of the first and of the last beat, in beats per minute.
    n_beats : int
        Number of beats played (the grid has one more time: the beat after the last).
    start_s : float
        Time of the first beat in seconds.

    Returns
    -------
    numpy.ndarray
        float64 ``[n_beats + 1]`` beat times in seconds.
    """
    bpm = np.linspace(bpm_start, bpm_end, n_beats)
    return start_s + np.concatenate([[0.0], np.cumsum(60.0 / bpm)])


def drift_grid(bpm: float, n_beats: int, *, depth: float, jitter_s: float, seed: int) -> np.ndarray:
    """Beat times of a live drummer: tempo wandering slowly within +-depth (two slow sines of random phase), and
    every beat played with random timing error (Gaussian, ``jitter_s`` standard deviation).

    Parameters
    ----------
    bpm : float
        Centre tempo in beats per minute.
    n_beats : int
        Number of beats played (the grid has one more time: the beat after the last).
    depth : float
        Largest relative tempo deviation (0.04: +-4 %).
    jitter_s : float
        Standard deviation of each beat's timing error in seconds.
    seed : int
        Seed of the wander's phases and the timing errors.

    Returns
    -------
    numpy.ndarray
        float64 ``[n_beats + 1]`` beat times in seconds; the first beat is near 0.08 s.
    """
    rng = np.random.default_rng(seed)
    k = np.arange(n_beats)
    phase = rng.uniform(0, 2 * np.pi, 2)
    wander = 0.7 * np.sin(2 * np.pi * k / 61.0 + phase[0]) + 0.3 * np.sin(2 * np.pi * k / 23.0 + phase[1])
    smooth = np.concatenate([[0.0], np.cumsum(60.0 / (bpm * (1.0 + depth * wander)))])
    return 0.08 + smooth + rng.normal(0.0, jitter_s, len(smooth))


# ---------------------------------------------------------------- rendering

class Renderer:
    """Renders an arrangement into stems (kick, snare, hats, bass, harm, lead), with a per-song cache of the
    sounds and notes.

    Parameters
    ----------
    song : Song
        The arrangement; its grid (or, without one, ``intro_s``) and reverb set the length.

    Attributes
    ----------
    song : Song
        The arrangement.
    sr : int
        Sample rate.
    rng : numpy.random.Generator
        The song's random stream (velocities, timing, drum variants), seeded with ``song.seed``.
    n : int
        Length of every stem in samples (the last beat, the reverb and a little more).
    stems : dict of str to numpy.ndarray
        float64 ``[n]`` mono stems by name: ``kick``, ``snare``, ``hats``, ``bass``, ``harm``, ``lead``.
    """

    def __init__(self, song: Song):
        self.song = song
        self.sr = song.sample_rate
        self.rng = np.random.default_rng(song.seed)
        last = song.grid_s[-1] if len(song.grid_s) else song.intro_s
        self.n = int(round((last + song.reverb_s + 0.8) * self.sr))
        self.stems = {name: np.zeros(self.n) for name in ("kick", "snare", "hats", "bass", "harm", "lead")}
        self._cache: dict = {}

    def sound(self, key, make):
        """The sound cached under ``key``, made with ``make()`` the first time it is asked for."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def note(self, kind: str, make, note: int, length_s: float, release_s: float, *, max_s: float = 3.0,
             variant=None) -> np.ndarray:
        """A note of ``length_s`` cut from one long rendering per pitch (``make(freq_hz, length_s)``) with a
        linear release at its end: notes of many lengths (ramps, drift) share one synthesis."""
        long_s = max(max_s, length_s)
        key = (kind, note, variant, long_s if length_s > max_s else None)
        wave = self.sound(key, lambda: make(synth.midi_hz(note), long_s + release_s))
        n = min(int(length_s * self.sr), len(wave))
        fade = np.clip((n - np.arange(n)) / max(release_s * self.sr, 1.0), 0.0, 1.0)  # no click at the end
        return wave[:n] * fade

    def place(self, stem: str, sound: np.ndarray, at_s: float, gain: float) -> None:
        """Add ``gain * sound`` to a stem starting at ``at_s`` seconds (cut at the end; nothing outside)."""
        i = int(round(at_s * self.sr))
        out = self.stems[stem]
        if i < 0 or i >= len(out):
            return
        m = min(len(sound), len(out) - i)
        out[i:i + m] += gain * sound[:m]

    def time_at(self, beat_pos: np.ndarray) -> np.ndarray:
        """Song time of fractional beat positions on the played grid (linear between beats; beyond the
        ends, the nearest beat period continues)."""
        grid = self.song.grid_s
        k = np.arange(len(grid), dtype=float)
        t = np.interp(beat_pos, k, grid)
        lo, hi = beat_pos < 0, beat_pos > k[-1]
        t[lo] = grid[0] + beat_pos[lo] * (grid[1] - grid[0])
        t[hi] = grid[-1] + (beat_pos[hi] - k[-1]) * (grid[-1] - grid[-2])
        return t


def _swing(pos: np.ndarray, ratio: float) -> np.ndarray:
    """Move off-beat eighths (fraction 0.5 of a beat) to ``ratio`` of the beat."""
    pos = np.asarray(pos, float)
    frac = pos - np.floor(pos)
    return np.where(np.abs(frac - 0.5) < 1e-9, np.floor(pos) + ratio, pos)


def _layer(a: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Two sounds started together (the longer sets the length)."""
    if b is None:
        return a
    out = np.zeros(max(len(a), len(b)))
    out[:len(a)] += a
    out[:len(b)] += b
    return out


def render_bars(r: Renderer) -> None:
    """Play the song's parts, bar after bar on its grid, into the renderer's stems.

    Drums (kick, snare, ghost notes, fills, a crash on each part's first downbeat, closed and open hats; hits cycle
    through a few noise variants), bass on the chord roots until the next bass note, a pad chord over each bar,
    strummed piano chords and the lead, with velocity humanisation, swing and the song's off-beat jitter.

    Parameters
    ----------
    r : Renderer
        The renderer of the song (its stems are added to; its random stream advances).
    """
    song, sr = r.song, r.sr
    bpb = song.beats_per_bar
    bar0 = 0
    variants = 6  # drum hits cycle through a few noise variants (no two hits sample-identical, like a real kit)
    for part in song.parts:
        kit = part.kit
        kicks = [r.sound(("kick", kit, v), lambda v=v: synth.kick_drum(
            sr, start_hz=kit.kick_hz[0], end_hz=kit.kick_hz[1], decay_s=kit.kick_decay_s, click=kit.kick_click,
            seed=song.seed * 31 + v)) for v in range(variants)]
        snares = [r.sound(("snare", kit, v), lambda v=v: _layer(
            synth.snare_drum(sr, tone_hz=kit.snare_hz, noise_decay_s=kit.snare_decay_s, seed=song.seed * 37 + v),
            0.8 * synth.clap(sr, seed=song.seed * 41 + v) if kit.clap else None)) for v in range(variants)]
        hats = [r.sound(("hat", kit, v), lambda v=v: synth.hihat(
            sr, decay_s=kit.hat_decay_s, metal=kit.hat_metal, seed=song.seed * 43 + v)) for v in range(variants)]
        crash = r.sound(("crash", kit), lambda: synth.hihat(sr, decay_s=0.7, metal=0.9, seed=song.seed * 53))
        open_hat = r.sound(("ohat", kit), lambda: synth.hihat(sr, decay_s=kit.open_hat_decay_s,
                                                               metal=kit.hat_metal, seed=song.seed * 47))
        # the lead's pitches are fixed per part (chord tones), so a repeated part repeats the same melody
        melody_rng = np.random.default_rng([song.seed, ord(part.label[0]), len(part.lead)])
        lead_steps = melody_rng.integers(0, 3, size=(len(part.chords), max(len(part.lead), 1)))
        lead_oct = melody_rng.integers(0, 2, size=(len(part.chords), max(len(part.lead), 1)))
        for b in range(bar0, bar0 + part.bars):
            chord = tuple(n + song.transpose for n in part.chords[(b - bar0) % len(part.chords)])
            base = b * bpb
            bar_s = float(r.time_at(np.array([base + bpb]))[0] - r.time_at(np.array([float(base)]))[0])

            def hits(pattern, jitter=True):
                pos = base + _swing(np.asarray(pattern, float), part.swing)
                t = r.time_at(pos)
                off = np.abs(pos - np.round(pos)) > 1e-9  # beats sit on the (played) grid; hits between get jitter
                if jitter and song.offbeat_jitter_s and off.any():
                    t = t + off * r.rng.normal(0.0, song.offbeat_jitter_s, len(t))
                return t

            vel = lambda: 1.0 + 0.08 * r.rng.standard_normal()  # noqa: E731  (velocity humanisation)
            for t in hits(part.kick):
                r.place("kick", kicks[r.rng.integers(variants)], t, kit.kick_gain * vel())
            for t in hits(part.snare):
                r.place("snare", snares[r.rng.integers(variants)], t, kit.snare_gain * vel())
            for t in hits(part.ghost_notes):
                r.place("snare", snares[r.rng.integers(variants)], t, 0.18 * kit.snare_gain * vel())
            if part.fill_every and part.snare and kit.snare_gain and (b - bar0 + 1) % part.fill_every == 0:
                # a fill into the next phrase: sixteenths on the last beat, louder towards the downbeat
                fill = bpb - 1 + np.array([0.0, 0.25, 0.5, 0.75])
                for j, t in enumerate(hits(fill)):
                    r.place("snare", snares[r.rng.integers(variants)], t, kit.snare_gain * (0.45 + 0.2 * j) * vel())
            if part.crash and b == bar0 and kit.kick_gain:
                r.place("hats", crash, hits([0.0])[0], 1.6 * kit.hat_gain)
            for j, t in enumerate(hits(part.hats)):
                accent = 1.0 if j % 2 == 0 else 0.7
                r.place("hats", hats[r.rng.integers(variants)], t, kit.hat_gain * accent * vel())
            for t in hits(part.open_hats):
                r.place("hats", open_hat, t, kit.hat_gain * 0.8 * vel())
            # bass: the chord root, an octave down (an octave up on off-beats), until the next bass note
            if part.bass:
                pos = np.asarray(part.bass, float)
                times = hits(part.bass)
                ends = np.append(times[1:], r.time_at(np.array([base + bpb]))[0])
                for p, t, end in zip(pos, times, ends):
                    note = chord[0] - 12 + (12 if abs(p % 1 - 0.5) < 1e-9 else 0)
                    length = max(end - t, 0.08) * 0.92
                    snd = r.note("bass", lambda f, n: synth.bass_note(f, n, sr, harmonics=8), note, length, 0.02,
                                 max_s=1.6)
                    r.place("bass", snd, t, part.bass_gain * vel())
            if part.pad_gain:
                for note in chord:
                    snd = r.note("pad", lambda f, n: synth.pad_note(
                        2 * f, n, sr, attack_s=0.3, release_s=1e-3, brightness=part.pad_bright),
                        note, bar_s + 0.35, 0.4, max_s=4.0, variant=part.pad_bright)
                    r.place("harm", snd, hits([0], jitter=False)[0], part.pad_gain)
            for t in hits(part.comp):
                for j, note in enumerate(chord):
                    snd = r.sound(("piano", note), lambda note=note: synth.piano_note(
                        synth.midi_hz(note + 12), 0.9, sr, velocity=0.8, seed=note))
                    # a strummed chord: notes 0-6 ms apart (the lowest first, on the time)
                    r.place("harm", snd, t + 0.003 * j, part.comp_gain * vel())
            lead_make = lambda f, n: synth.lead_note(f, n, sr, square=part.lead_square,  # noqa: E731
                                                     harmonics=part.lead_harmonics)
            lead_variant = (part.lead_square, part.lead_harmonics)
            for j, t in enumerate(hits(part.lead)):
                row = (b - bar0) % len(part.chords)
                if part.lead_stab:
                    notes = [n + 12 for n in chord] + [chord[0] + 24]
                else:
                    notes = [chord[min(lead_steps[row, j], len(chord) - 1)] + 12 + 12 * lead_oct[row, j]]
                gain = part.lead_gain * vel() / np.sqrt(len(notes))
                for note in notes:
                    snd = r.note("lead", lead_make, note, part.lead_len * bar_s / bpb, 0.015, max_s=1.5,
                                 variant=lead_variant)
                    r.place("lead", snd, t, gain)
        bar0 += part.bars


def render_free(r: Renderer, start_s: float, end_s: float, *, chords: tuple[tuple[int, ...], ...],
                piano_gain: float, pad_gain: float, seed: int, mean_gap_s: float = 0.6) -> None:
    """Rubato piano over pads between ``start_s`` and ``end_s``: note onsets at irregular (log-normal) gaps,
    arpeggios that speed up and slow down, chords held for irregular lengths; no pulse to tap to.

    Parameters
    ----------
    r : Renderer
        The renderer (into its ``harm`` stem).
    start_s, end_s : float
        The stretch of time to fill, in seconds.
    chords : tuple of tuple of int
        The progression (MIDI notes per chord, cycling; not transposed here).
    piano_gain, pad_gain : float
        Levels of the piano and of the pads.
    seed : int
        Seed of this music's own random stream (the renderer's is not used).
    mean_gap_s : float
        Median gap between piano notes, around which it wanders.
    """
    sr = r.sr
    rng = np.random.default_rng(seed)
    t, k = start_s + 0.15, 0
    chord_edges = np.cumsum(rng.uniform(2.5, 5.5, len(chords) * 8)) + start_s
    while t < end_s - 0.3:
        chord = chords[int(np.searchsorted(chord_edges, t)) % len(chords)]
        note = chord[rng.integers(len(chord))] + 12 * int(rng.integers(0, 3))
        velocity = float(rng.uniform(0.35, 0.9))
        snd = r.sound(("free_piano", note, round(velocity, 1)), lambda: synth.piano_note(
            synth.midi_hz(note), 2.5, sr, velocity=round(velocity, 1), decay_s=2.0, seed=note))
        r.place("harm", snd, t, piano_gain)
        # log-normal gaps whose median wanders: rubato, never a steady period
        t += float(rng.lognormal(np.log(mean_gap_s * (1.0 + 0.5 * np.sin(k / 3.7))), 0.55))
        k += 1
    edges = np.concatenate([[start_s], chord_edges[chord_edges < end_s], [end_s]])
    for j, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        length = round(b - a + 1.5, 1)
        for note in chords[j % len(chords)]:
            snd = r.sound(("free_pad", note, length), lambda note=note: synth.pad_note(
                synth.midi_hz(note), length, sr, attack_s=1.2, release_s=1.5, brightness=0.6, tremolo_hz=0.13))
            r.place("harm", snd, a, pad_gain)


def mix(r: Renderer, level: float, reverb_s: float) -> np.ndarray:
    """Stereo master of the stems: drums and bass centred, hats right, chords wide, lead left; a reverb send; peak
    ``level``; a short fade at the very end.

    Parameters
    ----------
    r : Renderer
        The renderer whose stems are mixed (they are not changed).
    level : float
        Peak level of the master.
    reverb_s : float
        Decay time of the reverb (0: none).

    Returns
    -------
    numpy.ndarray
        float32 ``[2, r.n]`` stereo samples.
    """
    s = r.stems
    pan = {"kick": 0.0, "snare": 0.05, "hats": 0.35, "bass": 0.0, "harm": 0.0, "lead": -0.25}
    left = sum(s[k] * np.sqrt(0.5 - 0.5 * pan[k]) for k in s)
    right = sum(s[k] * np.sqrt(0.5 + 0.5 * pan[k]) for k in s)
    # the chords are widened by delaying one side 11 ms (Haas); the send gives snare, chords and lead a room
    d = int(0.011 * r.sr)
    right[d:] += 0.2 * s["harm"][:-d]
    send = 0.35 * s["snare"] + 0.5 * s["harm"] + 0.4 * s["lead"]
    if reverb_s > 0:
        wet = synth.reverb(send, r.sr, decay_s=reverb_s, seed=r.song.seed, stereo=True)
        left, right = left + 0.35 * wet[0], right + 0.35 * wet[1]
    out = np.stack([left, right])
    fade = int(0.5 * r.sr)  # a short fade at the very end (the tails are cut)
    out[:, -fade:] *= np.linspace(1.0, 0.0, fade)
    return (out * level / max(np.max(np.abs(out)), 1e-9)).astype(np.float32)


def song_truth(song: Song) -> dict:
    """The musical time and form an arrangement plays, read from it without rendering: the played beats of every
    bar, beat 1 of each bar, a section wherever the part changes (and one for a free intro).

    Parameters
    ----------
    song : Song
        The arrangement (a song without bars has no beat).

    Returns
    -------
    dict
        ``beat_times_s`` (float64, the grid's beats of every bar), ``downbeat_times_s`` (float64, beat 1 of each
        bar), ``beats_per_bar`` (int, 0 when beatless), ``section_starts_s`` (float64; the first is 0.0, the others
        are downbeats), ``section_labels`` (list of str: "A", "B", ... in order of first appearance; a repeated
        part keeps its label) and ``has_beat`` (bool): the truth fields of
        :class:`~musicvideo.audio.groundtruth.TruthSong`.
    """
    bpb = song.beats_per_bar
    n_bars = sum(p.bars for p in song.parts)
    beats = np.asarray(song.grid_s[:n_bars * bpb], np.float64)
    if not len(beats):
        return dict(beat_times_s=beats, downbeat_times_s=beats.copy(), beats_per_bar=0,
                    section_starts_s=np.array([0.0]), section_labels=["A"], has_beat=False)
    starts, labels = [], []
    if song.intro_s > 0:
        starts, labels = [0.0], ["free intro"]
    bar = 0
    for part in song.parts:
        if not labels or part.label != labels[-1]:  # a section starts where the material changes, on a downbeat
            starts.append(float(beats[bar * bpb]))
            labels.append(part.label)
        bar += part.bars
    starts[0] = 0.0
    return dict(beat_times_s=beats, downbeat_times_s=beats[::bpb].copy(), beats_per_bar=bpb,
                section_starts_s=np.asarray(starts, np.float64), section_labels=_relabel(labels), has_beat=True)


def render_song(song: Song, free: dict | None = None) -> np.ndarray:
    """Render an arrangement: its free-time intro (if any), its bars, and the stereo mix.

    Parameters
    ----------
    song : Song
        The arrangement.
    free : dict, optional
        The free-time intro's music: keyword arguments of :func:`render_free` (``chords``, ``piano_gain``,
        ``pad_gain``, ``seed``, optionally ``mean_gap_s``); it fills ``0`` to ``song.intro_s + 0.3`` s.

    Returns
    -------
    numpy.ndarray
        float32 ``[2, n]`` stereo samples at ``song.sample_rate``, peak ``song.level``; the truth of what they play
        is :func:`song_truth` of the same arrangement.
    """
    r = Renderer(song)
    if free is not None:
        render_free(r, 0.0, song.intro_s + 0.3, **free)
    if song.parts:
        render_bars(r)
    return mix(r, song.level, song.reverb_s)


def _relabel(labels: list[str]) -> list[str]:
    """Labels as letters in order of first appearance ("verse", "chorus", "verse" -> A, B, A)."""
    order: dict[str, str] = {}
    for lab in labels:
        order.setdefault(lab, chr(ord("A") + len(order)))
    return [order[lab] for lab in labels]


