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
