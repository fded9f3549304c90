"""Deterministic synthesized signals for tests and the demo: click tracks, enveloped tones, a demo song.

Every function is pure (same arguments, same samples; randomness comes from ``numpy.random.default_rng(seed)``),
returns float32 samples in ``[-1, 1]`` (mono ``[n]`` or ``[channels, n]``) and takes ``sample_rate`` in Hz.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np


def beat_times(bpm: float, duration_s: float, *, offset_s: float = 0.0) -> np.ndarray:
    """Times of the beats of a steady tempo: ``offset_s + k * 60 / bpm`` below ``duration_s``."""
    period = 60.0 / bpm
    return offset_s + np.arange(int(np.ceil((duration_s - offset_s) / period))) * period


def _place(out: np.ndarray, sound: np.ndarray, at_s: float, sample_rate: int, gain: float = 1.0) -> None:
    i = int(round(at_s * sample_rate))
    if i >= len(out) or i < 0:
        return
    n = min(len(sound), len(out) - i)
    out[i:i + n] += gain * sound[:n]


def click_track(bpm: float, duration_s: float, *, sample_rate: int = 44100, offset_s: float = 0.0,
                click_s: float = 0.02, freq_hz: float = 1000.0, amplitude: float = 0.8) -> np.ndarray:
    """A metronome: a short decaying tone burst on every beat.

    Parameters
    ----------
    bpm : float
        Tempo.
    duration_s : float
        Length in seconds.
    sample_rate : int
        Samples per second.
    offset_s : float
        Time of the first click.
    click_s : float
        Click length in seconds.
    freq_hz : float
        Click pitch.
    amplitude : float
        Peak amplitude.

    Returns
    -------
    numpy.ndarray
        float32 mono ``[round(duration_s * sample_rate)]``; the clicks start at :func:`beat_times`.
    """
    n = int(round(duration_s * sample_rate))
    t = np.arange(int(click_s * sample_rate)) / sample_rate
    click = np.sin(2 * np.pi * freq_hz * t) * np.exp(-t / (click_s / 4))
    out = np.zeros(n, np.float64)
    for beat in beat_times(bpm, duration_s, offset_s=offset_s):
        _place(out, click, beat, sample_rate)
    return (amplitude * out).astype(np.float32)


def tone_with_envelope(envelope: Callable[[np.ndarray], np.ndarray], duration_s: float, *,
                       sample_rate: int = 44100, freq_hz: float = 440.0) -> np.ndarray:
    """A sine whose amplitude follows ``envelope(t)``.

    Parameters
    ----------
    envelope : callable
        Maps times in seconds (array) to amplitudes in 0..1.
    duration_s : float
        Length in seconds.
    sample_rate : int
        Samples per second.
    freq_hz : float
        Pitch.

    Returns
    -------
    numpy.ndarray
        float32 mono samples.
    """
    t = np.arange(int(round(duration_s * sample_rate))) / sample_rate
    return (np.asarray(envelope(t)) * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


# ---------------------------------------------------------------- instruments of the demo songs


def _kick(sample_rate: int) -> np.ndarray:
    t = np.arange(int(0.35 * sample_rate)) / sample_rate
    freq = 45.0 + 110.0 * np.exp(-t / 0.04)
    return np.sin(2 * np.pi * np.cumsum(freq) / sample_rate) * np.exp(-t / 0.12)


def _snare(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.2 * sample_rate)) / sample_rate
    noise = np.diff(rng.standard_normal(len(t) + 1))  # differenced noise: brighter
    return (0.35 * noise * np.exp(-t / 0.05) + 0.5 * np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.04))


def _hat(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.06 * sample_rate)) / sample_rate
    noise = np.diff(rng.standard_normal(len(t) + 2), n=2)
    return 0.15 * noise * np.exp(-t / 0.015)


def _note(freq_hz: float, length_s: float, sample_rate: int, *, harmonics: int = 4, attack_s: float = 0.01,
          decay_s: float = 0.3) -> np.ndarray:
    t = np.arange(int(length_s * sample_rate)) / sample_rate
    wave = sum(np.sin(2 * np.pi * freq_hz * h * t) / h for h in range(1, harmonics + 1))
    env = np.minimum(t / attack_s, 1.0) * np.exp(-t / decay_s)
    tail = np.minimum((length_s - t) / 0.02, 1.0)  # no click at the end
    return wave * env * tail


def _midi(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def loud_quiet_song(duration_s: float = 8.0, *, sample_rate: int = 22050, section_s: float = 2.0,
                    bpm: float = 120.0, loud_amplitude: float = 0.8, quiet_amplitude: float = 0.03,
                    seed: int = 0) -> np.ndarray:
    """Alternating quiet and loud sections (quiet first), each with a kick on every beat and a bass tone.

    Parameters
    ----------
    duration_s : float
        Length in seconds.
    sample_rate : int
        Samples per second.
    section_s : float
        Length of each section; section ``k`` is loud when ``k`` is odd.
    bpm : float
        Tempo of the kicks.
    loud_amplitude, quiet_amplitude : float
        Peak levels of the two kinds of section (default 30 dB apart).
    seed : int
        Seed of the (tiny) noise in the hats.

    Returns
    -------
    numpy.ndarray
        float32 mono samples.
    """
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    out = 0.4 * np.sin(2 * np.pi * 110.0 * t)
    kick = _kick(sample_rate)
    hat = _hat(sample_rate, rng)
    for beat in beat_times(bpm, duration_s):
        _place(out, kick, beat, sample_rate, 0.8)
        _place(out, hat, beat + 30.0 / bpm, sample_rate)
    gain = np.where((t // section_s) % 2 == 1, loud_amplitude, quiet_amplitude)
    # 10 ms ramps between sections
    ramp = max(int(0.01 * sample_rate), 1)
    gain = np.convolve(np.pad(gain, (ramp // 2, ramp - 1 - ramp // 2), mode="edge"), np.ones(ramp) / ramp, "valid")
    out = out / max(np.max(np.abs(out)), 1e-9) * gain
    return np.clip(out, -1, 1).astype(np.float32)


def demo_song(duration_s: float = 30.0, sample_rate: int = 44100, seed: int = 0) -> np.ndarray:
    """A ~30 s synthesized track for the README demo: quiet intro, build, loud drop, breakdown, loud ending.

    Drums (kick, snare, hats), a bass line and chords (Am F C G) at 120 BPM. The quiet parts make the video drift
    slowly; the drop makes it jolt on every beat.

    Parameters
    ----------
    duration_s : float
        Length in seconds (the arrangement is laid out for 30 s and scales with it).
    sample_rate : int
        Samples per second.
    seed : int
        Seed of the drum noise.

    Returns
    -------
    numpy.ndarray
        float32 stereo ``[2, n]`` in ``[-1, 1]``.
    """
    rng = np.random.default_rng(seed)
    bpm = 120.0
    beat_s = 60.0 / bpm
    n = int(round(duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    x = t / duration_s  # 0..1 through the arrangement
    intro, drop, breakdown, ending = 0.2, 0.4, 0.733, 0.867  # section starts as fractions of the song

    kick, snare, hat = _kick(sample_rate), _snare(sample_rate, rng), _hat(sample_rate, rng)
    drums = np.zeros(n)
    hats = np.zeros(n)
    chords = [(57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62)]  # Am F C G
    pads = np.zeros(n)
    bass = np.zeros(n)
    for k, beat in enumerate(beat_times(bpm, duration_s)):
        pos = beat / duration_s
        bar, in_bar = divmod(k, 4)
        loud_part = drop <= pos < breakdown or pos >= ending
        if pos >= intro and not breakdown <= pos < ending:
            _place(drums, kick, beat, sample_rate, 0.9 if loud_part else 0.5)
        if loud_part and in_bar in (1, 3):
            _place(drums, snare, beat, sample_rate, 0.6)
        if intro <= pos < drop and pos > drop - 0.07:  # snare roll into the drop
            for sub in range(4):
                _place(drums, snare, beat + sub * beat_s / 4, sample_rate, 0.2 + 0.4 * (pos - intro) / (drop - intro))
        for sub in (0.0, 0.5):
            _place(hats, hat, beat + sub * beat_s, sample_rate, 1.0 if loud_part else 0.35)
        root, third, fifth = chords[bar % 4]
        if in_bar == 0:
            for note in (root, third, fifth):
                _place(pads, _note(_midi(note + 12), 4 * beat_s, sample_rate, harmonics=3, attack_s=0.3,
                                   decay_s=3.0), beat, sample_rate, 0.12)
        if pos >= intro and not breakdown <= pos < ending:
            for sub, step in ((0.0, 0), (0.5, 12)):
                _place(bass, _note(_midi(root - 12 + step), 0.45 * beat_s, sample_rate, harmonics=6, decay_s=0.2),
                       beat + sub * beat_s, sample_rate, 0.35 if loud_part else 0.15)

    # Section levels: quiet intro, rising build, loud drop, quiet breakdown, loud ending with a short fade.
    level = np.select([x < intro, x < drop, x < breakdown, x < ending], [0.25, 0.25 + 0.5 * (x - intro) / (drop - intro),
                      1.0, 0.3], 1.0)
    level *= np.clip((duration_s - t) / 0.5, 0.0, 1.0)
    riser = np.diff(rng.standard_normal(n + 1)) * 0.05 * np.where((x >= intro) & (x < drop),
                                                                   ((x - intro) / (drop - intro)) ** 2, 0.0)
    mid = (drums + bass + riser) * level
    left = mid + (0.8 * pads + 0.6 * hats) * level
    right = mid + (0.6 * pads + 0.8 * hats) * level
    stereo = np.stack([left, right])
    stereo *= 0.9 / max(np.max(np.abs(stereo)), 1e-9)
    return stereo.astype(np.float32)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int, *, subtype: str = "PCM_16") -> Path:
    """Write samples (mono ``[n]`` or ``[channels, n]``, float in ``[-1, 1]``) as a wav file.

    Parameters
    ----------
    path : str or Path
        Output path (written directly; wrap in ``atomic_output`` for user-facing outputs).
    samples : numpy.ndarray
        Samples.
    sample_rate : int
        Samples per second.
    subtype : str
        soundfile subtype: ``PCM_U8``, ``PCM_16``, ``PCM_24``, ``PCM_32``, ``FLOAT``, ``DOUBLE``.

    Returns
    -------
    Path
        ``path``.
    """
    import soundfile

    data = np.asarray(samples, dtype=np.float32)
    data = data.T if data.ndim == 2 else data
    soundfile.write(str(path), np.clip(data, -1.0, 1.0), int(sample_rate), subtype=subtype, format="WAV")
    return Path(path)


# ---------------------------------------------------------------- instruments of the ground-truth songs
# (musicvideo.audio.groundtruth). Each returns float64 mono samples that start sounding at sample 0, so a hit
# placed at time t has its onset at t; the parameters give the kits and timbres their variety.


def kick_drum(sample_rate: int, *, start_hz: float = 150.0, end_hz: float = 48.0, sweep_s: float = 0.035,
              decay_s: float = 0.25, click: float = 0.25, seed: int = 0) -> np.ndarray:
    """A synthesized kick: a sine swept down in pitch, with a short beater click.

    Parameters
    ----------
    sample_rate : int
        Samples per second.
    start_hz, end_hz : float
        Pitch at the hit and where it settles.
    sweep_s : float
        Time constant of the pitch drop.
    decay_s : float
        Time constant of the body's decay.
    click : float
        Level of the 3 ms noise click at the attack (the beater).
    seed : int
        Seed of the click noise.

    Returns
    -------
    numpy.ndarray
        float64 mono, peak about 1, onset at sample 0.
    """
    t = np.arange(int(max(6 * decay_s, 0.2) * sample_rate)) / sample_rate
    freq = end_hz + (start_hz - end_hz) * np.exp(-t / sweep_s)
    body = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate) * np.exp(-t / decay_s)
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return body + click * noise * np.exp(-t / 0.003)


def snare_drum(sample_rate: int, *, tone_hz: float = 190.0, tone_decay_s: float = 0.05,
               noise_decay_s: float = 0.07, noise_level: float = 0.6, seed: int = 0) -> np.ndarray:
    """A snare: a pitched shell tone plus bright noise (the wires).

    Parameters
    ----------
    sample_rate : int
        Samples per second.
    tone_hz : float
        Shell pitch.
    tone_decay_s, noise_decay_s : float
        Decay time constants of the tone and of the noise.
    noise_level : float
        Level of the noise against the tone.
    seed : int
        Seed of the noise.

    Returns
    -------
    numpy.ndarray
        float64 mono, onset at sample 0.
    """
    t = np.arange(int(max(6 * noise_decay_s, 0.15) * sample_rate)) / sample_rate
    noise = np.diff(np.random.default_rng(seed).standard_normal(len(t) + 1))  # differenced: brighter
    tone = np.sin(2 * np.pi * tone_hz * t) + 0.5 * np.sin(2 * np.pi * 1.6 * tone_hz * t)
    return 0.6 * tone * np.exp(-t / tone_decay_s) + noise_level * 0.7 * noise * np.exp(-t / noise_decay_s)


def clap(sample_rate: int, *, decay_s: float = 0.06, seed: int = 0) -> np.ndarray:
    """A hand clap: three quick noise bursts (10 ms apart) and a decaying tail, band-limited to the mids.

    Parameters
    ----------
    sample_rate : int
        Samples per second.
    decay_s : float
        Decay of the tail.
    seed : int
        Seed of the noise.

    Returns
    -------
    numpy.ndarray
        float64 mono, onset at sample 0.
    """
    t = np.arange(int(max(6 * decay_s, 0.1) * sample_rate)) / sample_rate
    noise = np.diff(np.random.default_rng(seed).standard_normal(len(t) + 1))
    env = np.exp(-t / decay_s)
    for burst in (0.0, 0.010, 0.020):
        env = env + np.where(t >= burst, np.exp(-np.maximum(t - burst, 0) / 0.004), 0.0)
    return 0.5 * noise * env


def hihat(sample_rate: int, *, decay_s: float = 0.02, metal: float = 0.4, seed: int = 0) -> np.ndarray:
    """A hi-hat (closed with a short decay, open with a long one): high-passed noise plus metallic square partials.

    Parameters
    ----------
    sample_rate : int
        Samples per second.
    decay_s : float
        Decay time constant (about 0.015-0.03 closed, 0.15-0.3 open).
    metal : float
        Level of the inharmonic square-wave partials against the noise.
    seed : int
        Seed of the noise.

    Returns
    -------
    numpy.ndarray
        float64 mono, onset at sample 0.
    """
    t = np.arange(int(max(6 * decay_s, 0.05) * sample_rate)) / sample_rate
    noise = np.diff(np.random.default_rng(seed).standard_normal(len(t) + 2), n=2) / 2
    nyquist = sample_rate / 2
    partials = [f for f in (3140.0, 4370.0, 5830.0, 7190.0, 8650.0) if f < 0.9 * nyquist]
    ring = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in partials) / max(len(partials), 1)
    return 0.3 * (noise + metal * np.diff(ring, prepend=0.0)) * np.exp(-t / decay_s)


def _additive(freq_hz: float, t: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray | float]], *,
              sample_rate: int) -> np.ndarray:
    """Sum of groups of harmonics, each group with its own amplitude envelope.

    ``groups`` is ``[(amplitudes, envelope), ...]``: ``amplitudes[h - 1]`` is the level of harmonic ``h`` in the
    group, ``envelope`` an array over ``t`` (or a constant). Each group is one period in a table read at the note's
    phase (linear interpolation), so the cost does not grow with the number of harmonics; partials above 0.45 x the
    sample rate are left out (no aliasing)."""
    size = 4096
    phase = np.arange(size + 1) / size
    x = np.mod(freq_hz * t, 1.0) * size
    i = x.astype(np.int64)
    frac = x - i
    out = np.zeros(len(t))
    for amplitudes, envelope in groups:
        table = np.zeros(size + 1)
        for h, amp in enumerate(amplitudes, start=1):
            if freq_hz * h >= 0.45 * sample_rate:
                break
            if amp:
                table += amp * np.sin(2 * np.pi * h * phase)
        out += (table[i] * (1.0 - frac) + table[i + 1] * frac) * envelope
    return out


def _saw_amplitudes(harmonics: int, lo: int = 1, hi: int | None = None, power: float = 1.0) -> np.ndarray:
    """``h ** -power`` for harmonics ``lo..hi`` (inclusive), 0 for the others, up to ``harmonics``."""
    h = np.arange(1, harmonics + 1)
    return np.where((h >= lo) & (h <= (hi or harmonics)), h ** -power, 0.0)


def _release(t: np.ndarray, length_s: float, release_s: float) -> np.ndarray:
    """1 until ``length_s - release_s``, then a linear fade to 0 at ``length_s`` (no click at the end)."""
    return np.clip((length_s - t) / max(release_s, 1e-4), 0.0, 1.0)


def bass_note(freq_hz: float, length_s: float, sample_rate: int, *, harmonics: int = 10, pluck_s: float = 0.12,
              attack_s: float = 0.004, decay_s: float = 0.6) -> np.ndarray:
    """An electric/synth bass note: a saw whose upper harmonics die away first (a closing filter).

    Parameters
    ----------
    freq_hz : float
        Pitch.
    length_s : float
        Length including a 20 ms release.
    sample_rate : int
        Samples per second.
    harmonics : int
        Number of harmonics of the saw.
    pluck_s : float
        How fast the brightness decays (the filter envelope).
    attack_s, decay_s : float
        Amplitude attack and decay.

    Returns
    -------
    numpy.ndarray
        float64 mono.
    """
    t = np.arange(int(length_s * sample_rate)) / sample_rate
    # the fundamental stays, harmonics 2-3 fade with pluck_s, the upper ones three times faster (a closing filter)
    groups = [(_saw_amplitudes(harmonics, 1, 1), 1.0),
              (_saw_amplitudes(harmonics, 2, 3), np.exp(-t / pluck_s)),
              (_saw_amplitudes(harmonics, 4), np.exp(-t / (pluck_s / 3)))]
    env = np.minimum(t / attack_s, 1.0) * np.exp(-t / decay_s) * _release(t, length_s, 0.02)
    return _additive(freq_hz, t, groups, sample_rate=sample_rate) * env


def pad_note(freq_hz: float, length_s: float, sample_rate: int, *, harmonics: int = 6, attack_s: float = 0.4,
             release_s: float = 0.5, detune_cents: float = 7.0, brightness: float = 1.0,
             tremolo_hz: float = 0.0) -> np.ndarray:
    """A sustained pad/string note: two detuned saws (chorus), slow attack, long release.

    Parameters
    ----------
    freq_hz : float
        Pitch.
    length_s : float
        Length including the release.
    sample_rate : int
        Samples per second.
    harmonics : int
        Harmonics of each saw.
    attack_s, release_s : float
        Fade-in and fade-out times.
    detune_cents : float
        Detuning between the two saws (their slow beating gives the pad its motion).
    brightness : float
        Roll-off of the harmonics: amplitude ``h ** -(1 + 1 / brightness)``.
    tremolo_hz : float
        Rate of a slow 20 % amplitude swell (0: none).

    Returns
    -------
    numpy.ndarray
        float64 mono.
    """
    t = np.arange(int(length_s * sample_rate)) / sample_rate
    groups = [(_saw_amplitudes(harmonics, power=1.0 + 1.0 / brightness), 0.5)]
    ratio = 2 ** (detune_cents / 1200)
    wave = (_additive(freq_hz, t, groups, sample_rate=sample_rate)
            + _additive(freq_hz * ratio, t + 0.37 / freq_hz, groups, sample_rate=sample_rate))
    env = np.clip(t / attack_s, 0.0, 1.0) * _release(t, length_s, release_s)
    if tremolo_hz:
        env = env * (1.0 - 0.2 * (0.5 - 0.5 * np.cos(2 * np.pi * tremolo_hz * t)))
    return wave * env


def lead_note(freq_hz: float, length_s: float, sample_rate: int, *, square: bool = True, harmonics: int = 12,
              attack_s: float = 0.002, decay_s: float = 0.4, vibrato_hz: float = 5.5) -> np.ndarray:
    """A bright lead-synth note (square or saw) with a sharp attack and a little delayed vibrato.

    Parameters
    ----------
    freq_hz : float
        Pitch.
    length_s : float
        Length including a 15 ms release.
    sample_rate : int
        Samples per second.
    square : bool
        Odd harmonics only (square) or all of them (saw).
    harmonics : int
        Highest harmonic.
    attack_s, decay_s : float
        Amplitude attack and decay time constants.
    vibrato_hz : float
        Vibrato rate (depth 0.3 %, fading in over 0.2 s).

    Returns
    -------
    numpy.ndarray
        float64 mono.
    """
    t = np.arange(int(length_s * sample_rate)) / sample_rate
    amps = _saw_amplitudes(harmonics)
    if square:
        amps[1::2] = 0.0  # odd harmonics only
    # vibrato as a time warp (phase modulation) so every harmonic follows it
    warp = t + 0.003 * np.minimum(t / 0.2, 1.0) * np.sin(2 * np.pi * vibrato_hz * t) / (2 * np.pi * vibrato_hz)
    wave = _additive(freq_hz, warp, [(amps, 1.0)], sample_rate=sample_rate)
    env = np.minimum(t / attack_s, 1.0) * (0.6 + 0.4 * np.exp(-t / decay_s)) * _release(t, length_s, 0.015)
    return wave * env


def piano_note(freq_hz: float, length_s: float, sample_rate: int, *, velocity: float = 1.0,
               decay_s: float = 1.5, seed: int = 0) -> np.ndarray:
    """A piano-like note: partials whose upper ones decay faster, and a hammer thump.

    Parameters
    ----------
    freq_hz : float
        Pitch.
    length_s : float
        Length including a 60 ms damper release.
    sample_rate : int
        Samples per second.
    velocity : float
        0..1: louder and brighter when harder.
    decay_s : float
        Decay of the fundamental (upper partials decay faster).
    seed : int
        Seed of the hammer noise.

    Returns
    -------
    numpy.ndarray
        float64 mono.
    """
    t = np.arange(int(length_s * sample_rate)) / sample_rate
    h = np.arange(1, 11)
    amps = velocity ** (0.3 * h) / h ** 1.2  # softer notes are duller
    # partials in three groups by decay: the fundamental, 2-3 (2.5x faster), 4-10 (6x faster)
    groups = [(np.where(h == 1, amps, 0.0), np.exp(-t / decay_s)),
              (np.where((h >= 2) & (h <= 3), amps, 0.0), np.exp(-t * 2.5 / decay_s)),
              (np.where(h >= 4, amps, 0.0), np.exp(-t * 6.0 / decay_s))]
    wave = _additive(freq_hz, t, groups, sample_rate=sample_rate)
    hammer = np.random.default_rng(seed).standard_normal(len(t)) * np.exp(-t / 0.004) * 0.15 * velocity
    return (velocity * wave + hammer) * np.minimum(t / 0.002, 1.0) * _release(t, length_s, 0.06)


def midi_hz(note: float) -> float:
    """Frequency of a MIDI note number (69 = A4 = 440 Hz)."""
    return 440.0 * 2 ** ((note - 69) / 12)


def _fast_fft_size(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n`` (pocketfft is fast on such sizes; a power of two can be 2x larger)."""
    best = 1 << int(np.ceil(np.log2(max(n, 1))))
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            size = p35 << max(0, int(np.ceil(np.log2(n / p35))))
            best = min(best, size)
            p35 *= 3
        p5 *= 5
    return best


def reverb(samples: np.ndarray, sample_rate: int, *, decay_s: float = 1.2, predelay_s: float = 0.02,
           damping: float = 0.6, seed: int = 0, stereo: bool = False) -> np.ndarray:
    """A room-ish reverb tail: FFT convolution with exponentially decaying, low-passed noise (wet signal only).

    Parameters
    ----------
    samples : numpy.ndarray
        Mono ``[n]`` or ``[channels, n]``; each channel gets its own impulse response (a wide stereo image).
    sample_rate : int
        Samples per second.
    decay_s : float
        RT60-like length: the impulse response falls 60 dB over ``decay_s``.
    predelay_s : float
        Gap before the tail starts.
    damping : float
        0..1: how dull the tail is (a one-pole smoothing of the noise).
    seed : int
        Seed of the impulse responses.
    stereo : bool
        For a mono input: return ``[2, n]``, the input through two different impulse responses (a wide tail
        from a mono send, at the cost of one input transform).

    Returns
    -------
    numpy.ndarray
        float64 wet signal of the shape of ``samples`` (``[2, n]`` with ``stereo``), unit-energy impulse responses.
    """
    x = np.atleast_2d(np.asarray(samples, np.float64))
    n = x.shape[1]
    channels = 2 if stereo and x.shape[0] == 1 else x.shape[0]
    # the tail is dull, so it is computed at about 11 kHz (block means) and brought back up: 2-4x cheaper
    factor = max(1, int(sample_rate) // 11025)
    rate = sample_rate / factor
    n_low = -(-n // factor)
    low = np.pad(x, ((0, 0), (0, n_low * factor - n))).reshape(x.shape[0], n_low, factor).mean(axis=2)
    rng = np.random.default_rng(seed)
    n_ir = int((predelay_s + decay_s) * rate)
    t = np.arange(n_ir) / rate
    irs = rng.standard_normal((channels, n_ir)) * np.exp(-6.9 * np.maximum(t - predelay_s, 0) / decay_s)
    irs[:, t < predelay_s] = 0.0
    if damping > 0:  # a short moving average per channel: dulls the tail (air and walls absorb the highs)
        width = max(1, int(round(damping * 4 * rate / 11025)))
        kernel = np.ones(width) / width
        irs = np.stack([np.convolve(ir, kernel, mode="same") for ir in irs])
    irs /= np.sqrt(np.sum(irs ** 2, axis=1, keepdims=True))
    size = _fast_fft_size(n_low + n_ir)
    wet = np.fft.irfft(np.fft.rfft(low, size) * np.fft.rfft(irs, size), size)[:, :n_low]
    if factor > 1:  # back to the full rate: sample-and-hold, then a moving average of one block (linear-ish)
        held = np.repeat(wet, factor, axis=1)
        csum = np.cumsum(np.pad(held, ((0, 0), (factor, 0))), axis=1)
        wet = ((csum[:, factor:] - csum[:, :-factor]) / factor)[:, :n]
    return wet if np.ndim(samples) == 2 or channels == 2 else wet[0]
