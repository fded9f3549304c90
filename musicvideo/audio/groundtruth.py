"""Synthesized songs whose beats, bars, meter and sections are known: the ground truth of the beat tracker, the
meter/downbeat finder and the section finder (issue 14).

Each case is a short multi-instrument arrangement (drums, bass on the chord roots, chords or pads, a lead or a
piano, a reverb send, a stereo mix) rendered from a *played* beat grid. The truth is that grid: the beat times are
the times the drums play (after any tempo ramp, drift or humanisation), beat 1 of every bar is a downbeat, and a
section is a run of bars with the same musical material (a repeated part keeps its label). Free-time intros and
beatless pieces have no beats in their truth. The renderer and the arrangement description are
:mod:`.arrangement`; this module is the catalogue of cases and its API.

::

    from musicvideo.audio.groundtruth import truth_set, make_case
    for song in truth_set("tuning"):
        analysis = analyze_song(song.clip())
        ...  # compare analysis.beat_times_s with song.beat_times_s

:data:`TUNING_CASES` are for tuning the analysis; :data:`HELD_OUT_CASES` are the same kinds of hard cases with
other tempi, keys, kits, timbres, seeds and sample rates, plus extra beatless pieces and another form: keep them out
of tuning and report them separately.

Everything is deterministic (seeded numpy) and pure numpy; a case renders in a fraction of a second (about 0.4
CPU-s). Conventions: a beat time is the sample where the drum hit on that beat starts (no onset-detector latency
in it); a bar is ``beats_per_bar`` beats from a downbeat; the first section starts at 0.0 even when the first beat
comes a little later; every other section starts on a downbeat. Songs end with a bar's worth of reverb tail.

Tuning cases (S = 22050 Hz):

================  =========================================================================  =========  =====
case              what                                                                       BPM        s
================  =========================================================================  =========  =====
groove            rock/pop 4/4: kick 1 & 3, snare 2 & 4, ghost notes, 8th hats, bass, piano  120        42
syncopated_lead   a bright saw lead a 16th before every beat, louder than the kick (on the   140        43
                  beat, soft click); bass 1 & 3; librosa's beats land ~80 ms early
half_time         kick on 1 (and 3+), snare on 3 only, 8th hats, pad; truth = quarter notes  130        39
swing             triplet-swung 8ths in hats and bass, piano on 2 & 4, jazz kit              100        41
waltz             3/4: kick and bass on 1, piano on 2 and 3, a new chord every bar           150        36
tempo_ramp        accelerando beat by beat                                                   96 -> 132  53
free_intro        12 s rubato piano over pads (no beat truth), then a groove                 110        53
beatless_pad      slow overlapping pad chords with 2-4 s swells, wind; no beat               -          42
verse_chorus      A B A B, 8 bars each: A piano/closed hats/kick 1 & 3; B other chords,      120        66
                  four-on-the-floor, clap, open hats, saw pad and lead, 8th bass
drift             live drummer: tempo wandering +-4 %, 8 ms random timing per beat           ~121       50
dj_change         house track (EDM kit, off-beat open hats and bass), hard cut on a          118 / 128  57
                  downbeat to a rock track in another key
offbeat           ska: a loud bright chord stab on every off-beat 8th, softer kick/snare on  132        45
                  the beats; librosa takes the off-beats
breakdown         A B A: groove 8 bars, 4 bars without drums (pads, bass on 1, piano on the   124        40
                  beats; the beat truth goes on), groove 8 bars
stab_syncopation  (44.1 kHz) a bright chord stab a 16th before every beat, louder than the   136        44
                  kick; club kit (deep kick, little click, clap), kick on every beat
fast_half_time    half-time feel at a fast tempo: kick on 1 (and 3+), snare on 3 only, 8th   158        39
                  hats, tight kit; truth = quarter notes (not the half-tempo snare pulse)
================  =========================================================================  =========  =====

Held-out cases (44100 Hz unless noted): ``ho_groove`` 104 BPM, tight kit, quieter master (peak 0.6);
``ho_syncopated_lead`` 128 BPM, a chord stab a 16th before the beats (and an extra on 3+), EDM kit;
``ho_half_time`` 150 BPM; ``ho_swing`` 88 BPM, swing ratio 0.7, lo-fi kit; ``ho_waltz`` 112 BPM, jazz kit;
``ho_tempo_ramp`` ritardando 138 -> 104; ``ho_free_intro`` 10 s, then 92 BPM; ``ho_beatless_pad``;
``ho_drone`` (22050 Hz: root, fifth and octaves held, slowly beating); ``ho_rubato_piano`` (solo piano, no pulse);
``ho_form`` 132 BPM intro-verse-chorus-verse-chorus (A B C B C); ``ho_drift`` (22050 Hz) 96 BPM +-4 %, 10 ms;
``ho_dj_change`` 126 -> 112 BPM; ``ho_offbeat`` 104 BPM; ``ho_breakdown`` 98 BPM, a sparser breakdown (piano on
1, 3 and 4). Other keys and seeds throughout.

A second held-out set, :data:`HELD_OUT_2_CASES` (``h2_*``), was made after all tuning had finished, because the
first one had been looked at by then (two weakness classes it showed became the tuning cases ``stab_syncopation``
and ``fast_half_time``): ``h2_groove`` 92 BPM lo-fi; ``h2_syncopated_lead`` 146; ``h2_stab`` 122, a chord stab a
16th early; ``h2_half_time`` 140; ``h2_swing`` 116, ratio 0.62; ``h2_waltz`` 132; ``h2_tempo_ramp`` 110 -> 140;
``h2_free_intro`` 14 s, then 126; ``h2_form`` A B A B at 100; ``h2_drift`` 108, +-3 %, 12 ms;
``h2_dj_change`` 100 -> 124; ``h2_offbeat`` 150; ``h2_breakdown`` 112; ``h2_beatless_pad``; ``h2_rubato_piano``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import synth
from .arrangement import (EIGHTHS_4, Kit, Part, Renderer, Song, drift_grid, mix, ramp_grid, render_free,
                          render_song, song_truth, steady_grid)
from .decode import AudioClip


@dataclass
class TruthSong:
    """A synthesized song and its known musical time and form.

    Attributes
    ----------
    name : str
        Case name (see :data:`TUNING_CASES`, :data:`HELD_OUT_CASES`).
    samples : numpy.ndarray
        float32 ``[2, n]`` stereo in ``[-1, 1]``.
    sample_rate : int
        Samples per second (22050 or 44100).
    beat_times_s : numpy.ndarray
        float64 times of the played beats, increasing; empty for a beatless song and absent where there is no
        beat (a free-time intro).
    downbeat_times_s : numpy.ndarray
        float64 beat 1 of every bar (a subset of ``beat_times_s``).
    beats_per_bar : int
        Meter (0 when beatless).
    section_starts_s : numpy.ndarray
        float64 section starts; the first is 0.0, the others are downbeats.
    section_labels : list of str
        "A", "B", ... in order of first appearance; a repeated part gets the label of its first appearance.
    has_beat : bool
        Whether the song has a beat at all.
    """

    name: str
    samples: np.ndarray
    sample_rate: int
    beat_times_s: np.ndarray
    downbeat_times_s: np.ndarray
    beats_per_bar: int
    section_starts_s: np.ndarray
    section_labels: list[str]
    has_beat: bool

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.shape[1] / self.sample_rate

    @property
    def tempo_bpm(self) -> float:
        """Median tempo of the truth beats (0 when beatless)."""
        if len(self.beat_times_s) < 2:
            return 0.0
        return float(60.0 / np.median(np.diff(self.beat_times_s)))

    def clip(self) -> AudioClip:
        """The song as an :class:`AudioClip` (for :func:`musicvideo.audio.analyze_song`); its path is a
        placeholder naming the case (no file exists)."""
        return AudioClip(samples=self.samples, sample_rate=self.sample_rate, path=Path(f"<truth:{self.name}>"))


# ---------------------------------------------------------------- the cases

# chord progressions (MIDI notes, root first)
_AM_F_C_G = ((57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62))
_C_G_AM_F = ((48, 52, 55), (55, 59, 62), (57, 60, 64), (53, 57, 60))
_DM_BB_F_C = ((50, 53, 57), (46, 50, 53), (53, 57, 60), (48, 52, 55))
_EM_C_G_D = ((52, 55, 59), (48, 52, 55), (55, 59, 62), (50, 54, 57))
_BLUES_G = ((43, 47, 50, 53), (43, 47, 50, 53), (48, 52, 55, 58), (43, 47, 50, 53))
_WALTZ = ((50, 54, 57), (55, 59, 62), (57, 61, 64), (50, 54, 57), (47, 50, 54), (52, 55, 59), (57, 61, 64),
          (50, 54, 57))
_AMBIENT = ((45, 52, 57, 64), (41, 48, 57, 60), (43, 50, 55, 62), (40, 47, 55, 59))

_ROCK_KIT = Kit()
_TIGHT_KIT = Kit(kick_hz=(180.0, 55.0), kick_decay_s=0.18, kick_click=0.4, snare_hz=220.0, snare_decay_s=0.05,
                 hat_decay_s=0.012, hat_metal=0.6, kick_gain=0.85, snare_gain=0.45, hat_gain=0.22)
_EDM_KIT = Kit(kick_hz=(200.0, 45.0), kick_decay_s=0.3, kick_click=0.15, snare_hz=200.0, snare_decay_s=0.09,
               clap=True, hat_decay_s=0.02, kick_gain=1.0, snare_gain=0.4, hat_gain=0.2)
_JAZZ_KIT = Kit(kick_hz=(110.0, 60.0), kick_decay_s=0.15, kick_click=0.1, snare_hz=240.0, snare_decay_s=0.05,
                hat_decay_s=0.035, hat_metal=0.8, kick_gain=0.6, snare_gain=0.3, hat_gain=0.3)
_LOFI_KIT = Kit(kick_hz=(120.0, 52.0), kick_decay_s=0.22, kick_click=0.05, snare_hz=170.0, snare_decay_s=0.11,
                hat_decay_s=0.025, hat_metal=0.2, kick_gain=0.8, snare_gain=0.55, hat_gain=0.18)
# a club kit: long, deep kick with little beater click, clap on the snare, short bright hats
_CLUB_KIT = Kit(kick_hz=(170.0, 42.0), kick_decay_s=0.34, kick_click=0.08, snare_hz=210.0, snare_decay_s=0.08,
                clap=True, hat_decay_s=0.015, hat_metal=0.5, kick_gain=0.95, snare_gain=0.42, hat_gain=0.21)


def _beats_for(parts: tuple[Part, ...], bpb: int) -> int:
    return sum(p.bars for p in parts) * bpb


def _groove(name, *, bpm, sr, seed, chords, kit, transpose=0, level=0.85, bars=20, comp=(0, 1.5, 2.5),
            pad=0.0, start_s=0.05) -> Song:
    part = Part("A", bars, chords, kit=kit, comp=comp, pad_gain=pad, bass=(0, 1, 1.5, 2, 3),
                ghost_notes=(1.75, 3.25))
    return Song(name, sr, seed, 4, (part,), steady_grid(bpm, _beats_for((part,), 4), start_s), level=level,
                transpose=transpose)


def _syncopated(name, *, bpm, sr, seed, chords, kit, lead_gain, transpose=0, level=0.9, bars=24,
                lead=(0.75, 1.75, 2.75, 3.75), stab=False, kick_click=0.1) -> Song:
    # the lead (a bright saw) anticipates every beat by a sixteenth and is the loudest thing in the mix: it rules
    # the full-band onset envelope; kick and bass are on the beat, the kick's beater click soft, the snare on 2
    # and 4 soft, the hats on the off-beat eighths
    quiet = replace(kit, snare_gain=kit.snare_gain * 0.6, hat_gain=kit.hat_gain * 0.7, kick_click=kick_click)
    part = Part("A", bars, chords, kit=quiet, kick=(0, 1, 2, 3), bass=(0, 2), lead=lead, lead_len=0.45,
                lead_gain=lead_gain, pad_gain=0.05, hats=(0.5, 1.5, 2.5, 3.5), lead_square=False,
                lead_harmonics=24, lead_stab=stab)
    return Song(name, sr, seed, 4, (part,), steady_grid(bpm, _beats_for((part,), 4), 0.1), level=level,
                transpose=transpose, reverb_s=0.9)


def _offbeat(name, *, bpm, sr, seed, chords, kit, stab_gain, transpose=0, bars=24) -> Song:
    # ska / reggae-pop: a bright, short chord stab ("skank") on every off-beat eighth is the loudest onset; the
    # beat is carried by a softer kick on 1 and 3, the snare on 2 and 4, hats and a walking bass on the beats
    part = Part("A", bars, chords, kit=replace(kit, hat_gain=kit.hat_gain * 0.8), kick=(0, 2), snare=(1, 3),
                hats=(0, 1, 2, 3), bass=(0, 1, 2, 3), lead=(0.5, 1.5, 2.5, 3.5), lead_len=0.22,
                lead_gain=stab_gain, lead_stab=True, lead_square=False, lead_harmonics=16, pad_gain=0.03)
    return Song(name, sr, seed, 4, (part,), steady_grid(bpm, _beats_for((part,), 4), 0.07), transpose=transpose,
                level=0.85, reverb_s=0.8)


def _breakdown_song(name, *, bpm, sr, seed, chords, kit, comp, transpose=0, bars=(8, 4, 8)) -> Song:
    # a groove, a breakdown without drums (pads, bass on the downbeats, piano chords: the beat goes on, so does
    # the truth), the groove again: sections A B A
    groove = Part("groove", bars[0], chords, kit=kit, comp=(0, 1.5, 2.5), bass=(0, 1, 1.5, 2, 3),
                  ghost_notes=(1.75,))
    breakdown = Part("breakdown", bars[1], chords[::-1], kit=kit, kick=(), snare=(), hats=(), bass=(0,),
                     comp=comp, comp_gain=0.14, pad_gain=0.1, pad_bright=0.7, crash=False)
    again = replace(groove, bars=bars[2])
    parts = (groove, breakdown, again)
    return Song(name, sr, seed, 4, parts, steady_grid(bpm, _beats_for(parts, 4), 0.06), transpose=transpose,
                level=0.85)


def _half_time(name, *, bpm, sr, seed, chords, kit, transpose=0, bars=20) -> Song:
    part = Part("A", bars, chords, kit=kit, kick=(0, 2.5), snare=(2,), bass=(0, 2.5), pad_gain=0.09,
                hats=EIGHTHS_4)
    return Song(name, sr, seed, 4, (part,), steady_grid(bpm, _beats_for((part,), 4), 0.08), transpose=transpose,
                level=0.8)


def _swing_song(name, *, bpm, sr, seed, chords, kit, ratio, transpose=0, bars=16) -> Song:
    part = Part("A", bars, chords, kit=kit, kick=(0, 2), snare=(1, 3), hats=(0, 1, 1.5, 2, 3, 3.5),
                bass=(0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5), comp=(1, 3), comp_gain=0.14, swing=ratio, bass_gain=0.35)
    return Song(name, sr, seed, 4, (part,), steady_grid(bpm, _beats_for((part,), 4), 0.12), transpose=transpose,
                level=0.75, offbeat_jitter_s=0.004)


def _waltz(name, *, bpm, sr, seed, chords, kit, transpose=0, bars=28) -> Song:
    # oom-pah-pah: kick and bass on 1, chords (piano) on 2 and 3, hats on every beat, a light snare on 3
    part = Part("A", bars, chords, kit=replace(kit, snare_gain=kit.snare_gain * 0.5), kick=(0,), snare=(2,),
                hats=(0, 1, 2), bass=(0,), comp=(1, 2), comp_gain=0.2, pad_gain=0.05)
    return Song(name, sr, seed, 3, (part,), steady_grid(bpm, _beats_for((part,), 3), 0.06), transpose=transpose,
                level=0.8)


def _tempo_ramp(name, *, bpm0, bpm1, sr, seed, chords, kit, transpose=0, bars=24) -> Song:
    part = Part("A", bars, chords, kit=kit, comp=(0, 2), bass=(0, 1, 2, 3), pad_gain=0.05)
    return Song(name, sr, seed, 4, (part,), ramp_grid(bpm0, bpm1, _beats_for((part,), 4), 0.05),
                transpose=transpose, level=0.85)


def _free_intro(name, *, intro_s, bpm, sr, seed, chords, kit, transpose=0, bars=18) -> tuple[Song, dict]:
    part = Part("B", bars, chords, kit=kit, comp=(0, 1.5, 3), pad_gain=0.05)
    song = Song(name, sr, seed, 4, (part,), steady_grid(bpm, _beats_for((part,), 4), intro_s), intro_s=intro_s,
                transpose=transpose, level=0.85)
    free = dict(chords=tuple(tuple(n + transpose for n in c) for c in chords), piano_gain=0.35, pad_gain=0.06,
                seed=seed + 1000)
    return song, free


def _drift_song(name, *, bpm, depth, jitter_s, sr, seed, chords, kit, transpose=0, bars=24) -> Song:
    part = Part("A", bars, chords, kit=kit, comp=(0, 2.5), bass=(0, 1, 2, 3), open_hats=(3.5,),
                hats=(0, .5, 1, 1.5, 2, 2.5, 3))
    grid = drift_grid(bpm, _beats_for((part,), 4), depth=depth, jitter_s=jitter_s, seed=seed)
    return Song(name, sr, seed, 4, (part,), grid, offbeat_jitter_s=jitter_s * 0.6, transpose=transpose, level=0.8)


def _dj_change(name, *, bpm0, bpm1, sr, seed, chords0, chords1, kit0, kit1, bars=(16, 16)) -> Song:
    # track 1, then a hard cut to track 2 on what would have been track 1's next downbeat (another key, kit, tempo)
    a = Part("A", bars[0], chords0, kit=kit0, kick=(0, 1, 2, 3), open_hats=(0.5, 1.5, 2.5, 3.5),
             hats=(0, 1, 2, 3), bass=(0.5, 1.5, 2.5, 3.5), pad_gain=0.06)
    b = Part("B", bars[1], chords1, kit=kit1, comp=(0, 1.5, 3), bass=(0, 1, 1.5, 2, 3), pad_gain=0.0)
    first = steady_grid(bpm0, bars[0] * 4, 0.04)
    second = steady_grid(bpm1, bars[1] * 4, first[-1])
    return Song(name, sr, seed, 4, (a, b), np.concatenate([first[:-1], second]), level=0.85)


def _verse_chorus(name, *, bpm, sr, seed, form, verse_chords, chorus_chords, kit, intro_chords=None,
                  transpose=0, bars=8) -> Song:
    """Verse: piano, closed hats, kick 1 and 3, soft snare, quarter-note bass. Chorus: another progression, a
    bright saw pad and a lead, four-on-the-floor kick, clap-snare, open hats off the beat, eighth-note bass."""
    verse = Part("verse", bars, verse_chords, kit=kit, comp=(0, 1.5, 2.5), comp_gain=0.2, bass=(0, 1, 2, 3),
                 snare=(1, 3), kick=(0, 2, 2.5), hats=EIGHTHS_4)
    chorus = Part("chorus", bars, chorus_chords, kit=replace(kit, clap=True, kick_gain=kit.kick_gain * 1.1,
                                                             snare_gain=kit.snare_gain * 1.2),
                  kick=(0, 1, 2, 3), snare=(1, 3), hats=(0, 1, 2, 3), open_hats=(0.5, 1.5, 2.5, 3.5),
                  bass=EIGHTHS_4, pad_gain=0.1, pad_bright=2.5, lead=(0, 1.5, 2, 3), lead_len=0.9,
                  lead_gain=0.12, lead_square=False, bass_gain=0.5)
    intro = Part("intro", 4, intro_chords or verse_chords, kit=replace(kit, kick_gain=0.45, snare_gain=0.0),
                 kick=(0,), snare=(),
                 hats=(0, 1, 2, 3), bass=(0,), pad_gain=0.1, pad_bright=0.6)
    parts = tuple({"I": intro, "A": verse, "B": chorus}[c] for c in form)
    return Song(name, sr, seed, 4, parts, steady_grid(bpm, _beats_for(parts, 4), 0.05), transpose=transpose,
                level=0.9)


def _beatless_pad(name, *, sr, seed, duration_s, chords, transpose=0) -> TruthSong:
    """Ambient pads: long overlapping chords with slow swells (2-4 s attacks), a little filtered wind."""
    r = Renderer(Song(name, sr, seed, 0, (), np.zeros(0), intro_s=duration_s - 1.5, reverb_s=3.0, level=0.6))
    rng = np.random.default_rng(seed)
    t = 0.0
    j = 0
    while t < duration_s - 4:
        length = round(float(rng.uniform(7.0, 11.0)), 1)
        for note in chords[j % len(chords)]:
            snd = r.sound(("pad", note + transpose, length), lambda note=note: synth.pad_note(
                synth.midi_hz(note + transpose), length, sr, attack_s=float(rng.uniform(2.0, 4.0)),
                release_s=3.0, brightness=0.5, detune_cents=9.0, tremolo_hz=0.11))
            r.place("harm", snd, t + float(rng.uniform(0.0, 0.8)), 0.25)
        t += float(rng.uniform(4.5, 7.5))
        j += 1
    n = r.n
    wind = np.convolve(rng.standard_normal(n), np.ones(64) / 64, mode="same")
    wind *= 0.5 + 0.5 * np.sin(2 * np.pi * np.arange(n) / sr / 13.0)
    r.stems["harm"] += 0.4 * wind
    return _render_song_free(r, name)


def _drone(name, *, sr, seed, duration_s, root) -> TruthSong:
    """A drone: root, fifth and octave held for the whole piece, slowly beating and swelling, brightness
    drifting (no onsets after the first few seconds)."""
    r = Renderer(Song(name, sr, seed, 0, (), np.zeros(0), intro_s=duration_s - 1.5, reverb_s=2.5, level=0.5))
    n = r.n
    t = np.arange(n) / sr
    swell = np.clip(t / 4.0, 0, 1) * (0.75 + 0.25 * np.sin(2 * np.pi * t / 17.0))
    for note, detune, g in ((root, 0.13, 1.0), (root + 7, -0.21, 0.6), (root + 12, 0.08, 0.4), (root - 12, 0.0, 0.7)):
        f = synth.midi_hz(note)
        for h in range(1, 7):
            if f * h > 0.45 * sr:
                break
            bright = 0.5 + 0.5 * np.sin(2 * np.pi * t / (23.0 + 3 * h) + h)
            r.stems["harm"] += g * swell * bright * np.sin(2 * np.pi * (f * h + detune * h) * t) / h ** 1.5
    return _render_song_free(r, name)


def _rubato_piano(name, *, sr, seed, duration_s, chords, transpose=0) -> TruthSong:
    """Solo piano in free time: irregular note onsets, no pulse."""
    r = Renderer(Song(name, sr, seed, 0, (), np.zeros(0), intro_s=duration_s - 1.5, reverb_s=2.0, level=0.7))
    render_free(r, 0.0, duration_s - 2.0, chords=tuple(tuple(n + transpose for n in c) for c in chords),
                piano_gain=0.5, pad_gain=0.0, seed=seed, mean_gap_s=0.45)
    return _render_song_free(r, name)


def _render(song: Song, free: dict | None = None) -> TruthSong:
    """Render an arrangement (and its free-time intro) as a :class:`TruthSong` with the truth it plays."""
    samples = render_song(song, free)
    return TruthSong(name=song.name, samples=samples, sample_rate=song.sample_rate, **song_truth(song))


def _render_song_free(r: Renderer, name: str) -> TruthSong:
    samples = mix(r, r.song.level, r.song.reverb_s)
    return TruthSong(name=name, samples=samples, sample_rate=r.sr, **song_truth(r.song))


def _arrangement(name: str) -> tuple[Song, dict | None] | None:
    """The arrangement of each metered case (tempo, key, kit, seed, sample rate) and its free-time intro, if any;
    None for a beatless case or an unknown name."""
    S, L = 22050, 44100
    arrangements = {
        "groove": lambda: _groove(name, bpm=120, sr=S, seed=1, chords=_AM_F_C_G, kit=_ROCK_KIT),
        "syncopated_lead": lambda: _syncopated(name, bpm=140, sr=S, seed=2, chords=_DM_BB_F_C, kit=_ROCK_KIT,
                                               lead_gain=0.9),
        "half_time": lambda: _half_time(name, bpm=130, sr=S, seed=3, chords=_EM_C_G_D, kit=_ROCK_KIT),
        "swing": lambda: _swing_song(name, bpm=100, sr=S, seed=4, chords=_BLUES_G, kit=_JAZZ_KIT, ratio=2 / 3),
        "waltz": lambda: _waltz(name, bpm=150, sr=S, seed=5, chords=_WALTZ, kit=_ROCK_KIT),
        "tempo_ramp": lambda: _tempo_ramp(name, bpm0=96, bpm1=132, sr=S, seed=6, chords=_C_G_AM_F, kit=_TIGHT_KIT),
        "free_intro": lambda: _free_intro(name, intro_s=12.0, bpm=110, sr=S, seed=7, chords=_AM_F_C_G,
                                          kit=_ROCK_KIT),
        "verse_chorus": lambda: _verse_chorus(name, bpm=120, sr=S, seed=9, form="ABAB", verse_chords=_AM_F_C_G,
                                              chorus_chords=_C_G_AM_F, kit=_ROCK_KIT),
        "drift": lambda: _drift_song(name, bpm=120, depth=0.04, jitter_s=0.008, sr=S, seed=10, chords=_AM_F_C_G,
                                     kit=_ROCK_KIT),
        "dj_change": lambda: _dj_change(name, bpm0=118, bpm1=128, sr=S, seed=11, chords0=_DM_BB_F_C,
                                        chords1=_EM_C_G_D, kit0=_EDM_KIT, kit1=_ROCK_KIT, bars=(14, 14)),
        "offbeat": lambda: _offbeat(name, bpm=132, sr=S, seed=12, chords=_C_G_AM_F, kit=_ROCK_KIT, stab_gain=0.8),
        "breakdown": lambda: _breakdown_song(name, bpm=124, sr=S, seed=13, chords=_AM_F_C_G, kit=_ROCK_KIT,
                                             comp=(0, 1, 2, 3)),
        "stab_syncopation": lambda: _syncopated(name, bpm=136, sr=L, seed=14, chords=_C_G_AM_F, kit=_CLUB_KIT,
                                                lead_gain=1.0, transpose=-2, stab=True, kick_click=0.08),
        "fast_half_time": lambda: _half_time(name, bpm=158, sr=S, seed=15, chords=_AM_F_C_G, kit=_TIGHT_KIT,
                                             transpose=-3, bars=24),
        # held out: the same kinds of hard cases with other tempi, keys, kits, timbres, seeds and sample rates
        "ho_groove": lambda: _groove(name, bpm=104, sr=L, seed=101, chords=_EM_C_G_D, kit=_TIGHT_KIT, transpose=-2,
                                     level=0.6, comp=(0, 0.5, 1.5, 2, 3), pad=0.06),
        "ho_syncopated_lead": lambda: _syncopated(name, bpm=128, sr=L, seed=102, chords=_AM_F_C_G, kit=_EDM_KIT,
                                                  lead_gain=1.1, transpose=3, lead=(0.75, 1.75, 2.75, 3.5, 3.75),
                                                  stab=True, kick_click=0.05),
        "ho_half_time": lambda: _half_time(name, bpm=150, sr=L, seed=103, chords=_DM_BB_F_C, kit=_EDM_KIT,
                                           transpose=2),
        "ho_swing": lambda: _swing_song(name, bpm=88, sr=L, seed=104, chords=_BLUES_G, kit=_LOFI_KIT, ratio=0.7,
                                        transpose=-3),
        "ho_waltz": lambda: _waltz(name, bpm=112, sr=L, seed=105, chords=_WALTZ, kit=_JAZZ_KIT, transpose=-5,
                                   bars=22),
        "ho_tempo_ramp": lambda: _tempo_ramp(name, bpm0=138, bpm1=104, sr=L, seed=106, chords=_EM_C_G_D,
                                             kit=_ROCK_KIT, transpose=1),
        "ho_free_intro": lambda: _free_intro(name, intro_s=10.0, bpm=92, sr=L, seed=107, chords=_DM_BB_F_C,
                                             kit=_LOFI_KIT, transpose=-1, bars=14),
        "ho_form": lambda: _verse_chorus(name, bpm=132, sr=L, seed=111, form="IABAB", verse_chords=_EM_C_G_D,
                                         chorus_chords=_DM_BB_F_C, kit=_TIGHT_KIT, transpose=-2),
        "ho_drift": lambda: _drift_song(name, bpm=96, depth=0.04, jitter_s=0.01, sr=S, seed=112, chords=_DM_BB_F_C,
                                        kit=_LOFI_KIT, bars=20),
        "ho_offbeat": lambda: _offbeat(name, bpm=104, sr=L, seed=114, chords=_EM_C_G_D, kit=_LOFI_KIT,
                                       stab_gain=0.9, transpose=2, bars=20),
        "ho_breakdown": lambda: _breakdown_song(name, bpm=98, sr=L, seed=115, chords=_DM_BB_F_C, kit=_TIGHT_KIT,
                                                comp=(0, 2, 3), transpose=-3, bars=(8, 4, 6)),
        "ho_dj_change": lambda: _dj_change(name, bpm0=126, bpm1=112, sr=L, seed=113, chords0=_C_G_AM_F,
                                           chords1=_AM_F_C_G, kit0=_TIGHT_KIT, kit1=_EDM_KIT, bars=(16, 12)),
        # held out, second set: made after all tuning had finished (issue 14's first held-out set had been looked
        # at by then); other tempi, keys, kits, seeds and sample rates again
        "h2_groove": lambda: _groove(name, bpm=92, sr=L, seed=201, chords=_DM_BB_F_C, kit=_LOFI_KIT, transpose=4,
                                     level=0.7, comp=(0, 1, 2, 3)),
        "h2_syncopated_lead": lambda: _syncopated(name, bpm=146, sr=S, seed=202, chords=_EM_C_G_D, kit=_TIGHT_KIT,
                                                  lead_gain=1.0, transpose=-4),
        "h2_stab": lambda: _syncopated(name, bpm=122, sr=L, seed=203, chords=_C_G_AM_F, kit=_ROCK_KIT,
                                       lead_gain=1.0, transpose=1, stab=True, kick_click=0.1),
        "h2_half_time": lambda: _half_time(name, bpm=140, sr=L, seed=204, chords=_AM_F_C_G, kit=_LOFI_KIT,
                                           transpose=5),
        "h2_swing": lambda: _swing_song(name, bpm=116, sr=S, seed=205, chords=_BLUES_G, kit=_ROCK_KIT, ratio=0.62,
                                        transpose=2),
        "h2_waltz": lambda: _waltz(name, bpm=132, sr=L, seed=206, chords=_WALTZ, kit=_TIGHT_KIT, transpose=2,
                                   bars=26),
        "h2_tempo_ramp": lambda: _tempo_ramp(name, bpm0=110, bpm1=140, sr=S, seed=207, chords=_DM_BB_F_C,
                                             kit=_EDM_KIT, transpose=-2),
        "h2_free_intro": lambda: _free_intro(name, intro_s=14.0, bpm=126, sr=L, seed=208, chords=_C_G_AM_F,
                                             kit=_EDM_KIT, transpose=3, bars=16),
        "h2_form": lambda: _verse_chorus(name, bpm=100, sr=S, seed=209, form="ABAB", verse_chords=_DM_BB_F_C,
                                         chorus_chords=_AM_F_C_G, kit=_LOFI_KIT, transpose=1),
        "h2_drift": lambda: _drift_song(name, bpm=108, depth=0.03, jitter_s=0.012, sr=L, seed=210,
                                        chords=_EM_C_G_D, kit=_TIGHT_KIT, bars=22),
        "h2_dj_change": lambda: _dj_change(name, bpm0=100, bpm1=124, sr=S, seed=211, chords0=_AM_F_C_G,
                                           chords1=_DM_BB_F_C, kit0=_ROCK_KIT, kit1=_EDM_KIT, bars=(12, 14)),
        "h2_offbeat": lambda: _offbeat(name, bpm=150, sr=L, seed=212, chords=_AM_F_C_G, kit=_TIGHT_KIT,
                                       stab_gain=0.85, transpose=-2, bars=24),
        "h2_breakdown": lambda: _breakdown_song(name, bpm=112, sr=S, seed=213, chords=_EM_C_G_D, kit=_LOFI_KIT,
                                                comp=(0, 1, 3), transpose=2, bars=(8, 6, 8)),
    }
    if name not in arrangements:
        return None
    made = arrangements[name]()
    return made if isinstance(made, tuple) else (made, None)


_BEATLESS = ("beatless_pad", "ho_beatless_pad", "ho_drone", "ho_rubato_piano", "h2_beatless_pad",
             "h2_rubato_piano")


def _case_truth(name: str) -> dict:
    """The truth fields of a case without synthesizing it (for fast checks of the truth itself)."""
    if name in _BEATLESS:
        return song_truth(Song(name, 22050, 0, 0, (), np.zeros(0)))
    arrangement = _arrangement(name)
    if arrangement is None:
        raise KeyError(f"unknown ground-truth case {name!r}")
    return song_truth(arrangement[0])


def _build(name: str) -> TruthSong:
    """Synthesize one case (no cache)."""
    S, L = 22050, 44100
    beatless = {
        "beatless_pad": lambda: _beatless_pad(name, sr=S, seed=8, duration_s=40.0, chords=_AMBIENT),
        "ho_beatless_pad": lambda: _beatless_pad(name, sr=L, seed=108, duration_s=45.0, chords=_AMBIENT,
                                                 transpose=3),
        "ho_drone": lambda: _drone(name, sr=S, seed=109, duration_s=40.0, root=38),
        "ho_rubato_piano": lambda: _rubato_piano(name, sr=L, seed=110, duration_s=40.0, chords=_C_G_AM_F,
                                                 transpose=2),
        "h2_beatless_pad": lambda: _beatless_pad(name, sr=S, seed=214, duration_s=50.0, chords=_AMBIENT,
                                                 transpose=-2),
        "h2_rubato_piano": lambda: _rubato_piano(name, sr=S, seed=215, duration_s=36.0, chords=_AM_F_C_G,
                                                 transpose=-1),
    }
    if name in beatless:
        return beatless[name]()
    arrangement = _arrangement(name)
    if arrangement is None:
        raise KeyError(f"unknown ground-truth case {name!r}; known: {', '.join(TUNING_CASES + HELD_OUT_CASES + HELD_OUT_2_CASES)}")
    return _render(*arrangement)


TUNING_CASES: tuple[str, ...] = ("groove", "syncopated_lead", "half_time", "swing", "waltz", "tempo_ramp",
                                 "free_intro", "beatless_pad", "verse_chorus", "drift", "dj_change", "offbeat",
                                 "breakdown", "stab_syncopation", "fast_half_time")
HELD_OUT_CASES: tuple[str, ...] = ("ho_groove", "ho_syncopated_lead", "ho_half_time", "ho_swing", "ho_waltz",
                                   "ho_tempo_ramp", "ho_free_intro", "ho_beatless_pad", "ho_drone",
                                   "ho_rubato_piano", "ho_form", "ho_drift", "ho_dj_change", "ho_offbeat",
                                   "ho_breakdown")
#: A second held-out set, made after all tuning had finished: the first one had been looked at by then.
HELD_OUT_2_CASES: tuple[str, ...] = ("h2_groove", "h2_syncopated_lead", "h2_stab", "h2_half_time", "h2_swing",
                                     "h2_waltz", "h2_tempo_ramp", "h2_free_intro", "h2_beatless_pad",
                                     "h2_rubato_piano", "h2_form", "h2_drift", "h2_dj_change", "h2_offbeat",
                                     "h2_breakdown")


@functools.lru_cache(maxsize=None)
def make_case(name: str) -> TruthSong:
    """One ground-truth song by name (cached in this process: treat the arrays as read-only).

    Parameters
    ----------
    name : str
        One of :data:`TUNING_CASES` or :data:`HELD_OUT_CASES`.

    Returns
    -------
    TruthSong

    Raises
    ------
    KeyError
        For an unknown name.

    Examples
    --------
    >>> song = make_case("groove")
    >>> song.beats_per_bar, round(song.tempo_bpm)
    (4, 120)
    """
    song = _build(name)
    for a in (song.samples, song.beat_times_s, song.downbeat_times_s, song.section_starts_s):
        a.flags.writeable = False  # shared by every caller of the cache
    return song


def truth_set(part: str = "tuning") -> list[TruthSong]:
    """All the songs of one part of the ground truth.

    Parameters
    ----------
    part : str
        ``"tuning"`` (:data:`TUNING_CASES`), ``"held_out"`` (:data:`HELD_OUT_CASES`) or ``"held_out_2"``
        (:data:`HELD_OUT_2_CASES`); keep the held-out parts out of tuning.

    Returns
    -------
    list of TruthSong
    """
    parts = {"tuning": TUNING_CASES, "held_out": HELD_OUT_CASES, "held_out_2": HELD_OUT_2_CASES}
    if part not in parts:
        raise ValueError(f"part must be one of {', '.join(parts)}, not {part!r}")
    names = parts[part]
    return [make_case(name) for name in names]


def write_case(song: TruthSong, directory: str | Path) -> Path:
    """Write a song as ``<name>.wav`` with its truth beside it, to listen to it or to score other trackers.

    ``<name>.beats`` has the format of ``../shared/audio``: one line per beat, time in seconds and beat in bar
    (1 = downbeat), tab-separated (empty for a beatless song); ``<name>.sections`` has one line per section,
    start time and label.

    Parameters
    ----------
    song : TruthSong
        The song.
    directory : str or Path
        Where to write (created if missing).

    Returns
    -------
    Path
        The wav file.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    wav = synth.write_wav(out / f"{song.name}.wav", song.samples, song.sample_rate)
    bar_start = np.searchsorted(song.beat_times_s, song.downbeat_times_s)
    in_bar = np.arange(len(song.beat_times_s)) - bar_start[np.maximum(
        np.searchsorted(bar_start, np.arange(len(song.beat_times_s)), side="right") - 1, 0)] + 1
    (out / f"{song.name}.beats").write_text("".join(f"{t:.6f}\t{k}\n" for t, k in zip(song.beat_times_s, in_bar)))
    (out / f"{song.name}.sections").write_text(
        "".join(f"{t:.6f}\t{label}\n" for t, label in zip(song.section_starts_s, song.section_labels)))
    return wav


if __name__ == "__main__":  # python -m musicvideo.audio.groundtruth DIR [tuning|held_out|held_out_2]: write them
    import sys

    if len(sys.argv) < 2:
        sys.exit("usage: python -m musicvideo.audio.groundtruth DIR [tuning|held_out|held_out_2]")
    for case in truth_set(sys.argv[2] if len(sys.argv) > 2 else "tuning"):
        print(write_case(case, sys.argv[1]))
