"""The camera of StyleGAN3 generators: translation and rotation of the Fourier input, moved by the music.

StyleGAN3's first layer samples Fourier features on a grid that a 3x3 transform can move and turn, so the whole
image pans and rolls smoothly (NVlabs' ``gen_video.py`` does it by hand). Here the song moves it, in three layers:

- **Drift** with the harmonic content: the camera travels along a smooth path (a Lissajous figure that starts at
  the centre, turned by a seeded angle) at a speed that follows the slow loudness and the chord changes, never the
  drums; the song's character scales it, so a quiet pad barely moves.
- **Push** on hits: the choreography's hit envelope (``curves.pulse``: attack before the beat, peak on it, release
  after, scaled by beat confidence, downbeats harder) surges the camera forward along its path. Songs without a
  trusted beat get none.
- **Turn** at section changes: every section label has its own roll angle (a returning chorus returns to its
  angle), eased over about a bar so that it arrives on the section's first downbeat; plus a slow roll with the
  drift.

Translation stays inside ``radius`` (image widths): a soft limiter, the identity near the centre, bends the path
back before the picture shows what lies beyond the trained field of view.

Everything is per-frame numpy, computed once per clip (O(N) floats; 36 bytes a frame of matrices), so the
transforms of frames ``[a, b)`` are the same whatever batches they are asked for in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# The drift path's frequencies (radians per path unit, [axis, sine]): incommensurate, so it does not repeat soon.
_PATH_FREQS = np.array([[1.0, 2.17], [1.31, 0.53]])
_PATH_WEIGHTS = np.array([0.6, 0.4])  # per axis: the two sines sum to at most 1
_ROLL_FREQ = 0.31                      # the slow roll's frequency on the same path parameter
_DRIFT_SHARE = 0.7                     # path amplitude per axis / radius (corners reach 0.99: the limiter bends them)
_LIMIT_KNEE = 0.6                      # the limiter is the identity up to this fraction of the radius
_DRIFT_SMOOTH_S = 1.0                  # the drift speed is smoothed over this long (no sudden accelerations)
_CHORD_CHANGE_FULL = 0.3               # chroma change (half L1, see _chord_change) that counts as full activity
_SECONDS_BAR_S = 2.0                   # a "bar" for the turn's easing when the song has no trusted beat
_TURN_PATTERN = (0.0, 1.0, -1.0, 0.5, -0.5)  # roll of label j, in units of turn_deg (cycled)


@dataclass
class CameraPath:
    """The camera of every frame of a clip.

    Attributes
    ----------
    position : numpy.ndarray
        float64 ``[N, 2]`` the point of the input plane shown at the image centre (x, y), image widths, inside
        ``radius``; the picture turns about it.
    angle_deg : numpy.ndarray
        float64 ``[N]`` image rotation, degrees (NVlabs' sign: positive turns the picture counter-clockwise).
    translate : numpy.ndarray
        float64 ``[N, 2]`` the same camera as NVlabs' ``make_transform(translate, angle)`` takes it: the image
        shift after the rotation, ``-R(angle) @ position`` (so ``|translate| = |position|``).
    drift_speed : numpy.ndarray
        float64 ``[N]`` speed along the drift path, image widths per second.
    push : numpy.ndarray
        float64 ``[N]`` 0..1 push envelope (0 everywhere without a trusted beat).
    turn_deg : numpy.ndarray
        float64 ``[N]`` the section turns' part of ``angle_deg``.
    matrices : numpy.ndarray
        float32 ``[N, 3, 3]``: what ``synthesis(transform=...)`` takes, the inverse of NVlabs'
        ``make_transform(translate, angle)`` (:func:`input_transforms`).
    """

    position: np.ndarray
    angle_deg: np.ndarray
    translate: np.ndarray
    drift_speed: np.ndarray
    push: np.ndarray
    turn_deg: np.ndarray
    matrices: np.ndarray

    @property
    def n_frames(self) -> int:
        """Frames in the clip."""
        return len(self.angle_deg)


def accepts_transform(generator: Any) -> bool:
    """Whether ``generator`` has StyleGAN3's input transform (a 3x3 ``synthesis.input.transform``, the test
    NVlabs' ``gen_video.py`` makes); StyleGAN2 has no such input, whatever its ``synthesis`` accepts."""
    matrix = getattr(getattr(getattr(generator, "synthesis", None), "input", None), "transform", None)
    return tuple(getattr(matrix, "shape", ())) == (3, 3)


def input_transforms(translate: np.ndarray, angle_deg: np.ndarray) -> np.ndarray:
    """The matrices StyleGAN3's input takes for images shifted by ``translate`` and turned by ``angle_deg``.

    NVlabs' ``make_transform`` builds ``[[c, s, tx], [-s, c, ty], [0, 0, 1]]`` and the input holds its inverse
    (image to input coordinates), ``[[c, -s, -(c tx - s ty)], [s, c, -(s tx + c ty)], [0, 0, 1]]``, written out
    here so that no matrix inversion rounds differently from frame to frame.

    Parameters
    ----------
    translate : numpy.ndarray
        ``[N, 2]`` shifts in image widths.
    angle_deg : numpy.ndarray
        ``[N]`` angles in degrees.

    Returns
    -------
    numpy.ndarray
        float32 ``[N, 3, 3]``.
    """
    translate = np.asarray(translate, np.float64).reshape(-1, 2)
    a = np.radians(np.asarray(angle_deg, np.float64).reshape(-1))
    c, s = np.cos(a), np.sin(a)
    tx, ty = translate[:, 0], translate[:, 1]
    m = np.zeros((len(a), 3, 3), np.float64)
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = c, -s, -(c * tx - s * ty)
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = s, c, -(s * tx + c * ty)
    m[:, 2, 2] = 1.0
    return m.astype(np.float32)


def _path(u: np.ndarray, turn: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit drift path and its derivative at path parameters ``u``: a Lissajous figure through the centre at
    ``u = 0`` (a song opens on the centred picture), each axis within -1..1 before it is turned by ``turn``
    radians (so within sqrt(2) of the centre)."""
    arg = u[:, None, None] * _PATH_FREQS[None]  # [N, axis, sine]
    pos = (np.sin(arg) * _PATH_WEIGHTS).sum(axis=2)
    vel = (np.cos(arg) * _PATH_WEIGHTS * _PATH_FREQS[None]).sum(axis=2)
    c, s = math.cos(turn), math.sin(turn)
    rot = np.array([[c, -s], [s, c]])
    return pos @ rot.T, vel @ rot.T


def _path_parameters(distance_step: np.ndarray, start: float) -> np.ndarray:
    """Path parameter ``u`` of every frame when the camera moves ``distance_step[i]`` unit-path lengths from frame
    ``i`` to ``i + 1`` (integrated along the figure's arc length, so the drift speed is what it says wherever the
    figure is; its slowest turns count at a fifth of the mean speed, never as a jump)."""
    u = np.empty(len(distance_step) + 1)
    u[0] = x = start
    f, wgt = _PATH_FREQS, _PATH_WEIGHTS
    for i, ds in enumerate(distance_step.tolist()):
        vx = wgt[0] * f[0, 0] * math.cos(f[0, 0] * x) + wgt[1] * f[0, 1] * math.cos(f[0, 1] * x)
        vy = wgt[0] * f[1, 0] * math.cos(f[1, 0] * x) + wgt[1] * f[1, 1] * math.cos(f[1, 1] * x)
        x += ds / max(math.hypot(vx, vy), 0.2)
        u[i + 1] = x
    return u


def limit_radius(offset: np.ndarray, radius: float) -> np.ndarray:
    """Bend ``[N, 2]`` offsets back inside ``radius``: unchanged up to ``0.6 * radius``, then a smooth (C1) tanh
    knee that approaches ``radius`` and never passes it."""
    offset = np.asarray(offset, np.float64)
    if radius <= 0:
        return np.zeros_like(offset)
    r = np.linalg.norm(offset, axis=1)
    knee = _LIMIT_KNEE * radius
    span = radius - knee
    limited = np.where(r > knee, knee + span * np.tanh((r - knee) / span), r)
    scale = np.divide(limited, r, out=np.ones_like(r), where=r > 0)
    return offset * scale[:, None]


def _chord_change(chroma: Any, n: int, fps: float) -> np.ndarray:
    """0..1 harmonic activity: how far the last fraction of a second's chroma is from the last few seconds'
    (half L1 of the difference of two smoothings), high after a chord change and low on a held chord."""
    from ..audio.curves import one_pole

    if chroma is None or np.shape(chroma) != (n, 12) or n < 2:
        return np.zeros(n)
    c = np.nan_to_num(np.asarray(chroma, np.float64))
    change = 0.5 * np.abs(one_pole(c, fps, 0.3).astype(np.float64) - one_pole(c, fps, 2.0)).sum(axis=1)
    return np.clip(change / _CHORD_CHANGE_FULL, 0.0, 1.0)


def _bar_s(timing: Any) -> float:
    """The song's bar length in seconds (from its downbeats or tempo), or a two-second stand-in without a beat."""
    downbeats = np.asarray(getattr(timing, "downbeat_times_s", np.zeros(0)), np.float64)
    if len(downbeats) >= 2:
        return float(np.median(np.diff(downbeats)))
    tempo, per_bar = float(getattr(timing, "tempo_bpm", 0.0) or 0.0), int(getattr(timing, "beats_per_bar", 0) or 0)
    return 60.0 / tempo * per_bar if tempo > 0 and per_bar > 0 else _SECONDS_BAR_S


def section_turns(times_s: np.ndarray, timing: Any, *, turn_deg: float, turn_bars: float,
                  trusted: bool) -> np.ndarray:
    """Roll angle of each frame from the song's sections: each label has its own angle, reached on the section's
    start (its first downbeat) after an ease (smoothstep) over ``turn_bars`` bars; 0 for the first label.

    Computed from the whole song's section starts, so a clip turns exactly as the same frames of the song do.
    """
    times_s = np.asarray(times_s, np.float64)
    out = np.zeros(len(times_s))
    labels = [str(x) for x in getattr(timing, "section_labels", [])] if timing is not None else []
    starts = np.asarray(getattr(timing, "section_starts_s", np.zeros(0)), np.float64) if timing is not None \
        else np.zeros(0)
    if turn_deg == 0 or len(labels) < 2 or len(starts) != len(labels):
        return out
    order = list(dict.fromkeys(labels))
    target = [turn_deg * _TURN_PATTERN[order.index(x) % len(_TURN_PATTERN)] for x in labels]
    duration = max(turn_bars, 0.0) * (_bar_s(timing) if trusted else _SECONDS_BAR_S)
    out += target[0]
    for k in range(1, len(labels)):
        step = target[k] - target[k - 1]
        if step == 0:
            continue
        if duration <= 0:  # a hard turn, on the section's first frame
            out += step * (times_s >= starts[k] - 1e-9)
            continue
        x = np.clip((times_s - (starts[k] - duration)) / duration, 0.0, 1.0)
        out += step * x * x * (3 - 2 * x)
    return out


def plan_camera(curves: Any, *, drift: float, radius: float, push: float, turn_deg: float, turn_bars: float = 1.0,
                roll_deg: float = 0.0, min_beat_confidence: float = 0.3, seed: int = 0) -> CameraPath:
    """The camera of every frame of a clip, from its reactive curves.

    Parameters
    ----------
    curves : ReactiveCurves
        ``fps``, ``times_s``, ``loudness``/``level``, ``pulse`` and, when present, ``chroma``, ``character`` and
        ``timing`` (beats, bars, sections).
    drift : float
        Drift speed at full harmonic activity on a song of character scale 1, image widths per second.
    radius : float
        The camera stays within this distance of the centre, image widths.
    push : float
        Forward surge of a full hit, image widths.
    turn_deg : float
        Roll between section labels, degrees (the first label at 0, the next ones at +1, -1, +0.5, -0.5 times it).
    turn_bars : float
        The turn eases in over this many bars and arrives on the section's first frame (0: a hard turn on it).
    roll_deg : float
        Amplitude of the slow roll that follows the drift, degrees.
    min_beat_confidence : float
        Below this song beat confidence there are no pushes and the turn is timed in seconds.
    seed : int
        Seeds the drift figure's orientation (every song drifts its own way).

    Returns
    -------
    CameraPath

    Examples
    --------
    >>> cam = plan_camera(curves, drift=0.04, radius=0.15, push=0.03, turn_deg=10)   # doctest: +SKIP
    >>> cam.matrices[a:b]    # [b - a, 3, 3] for G.synthesis(ws, transform=...)       # doctest: +SKIP
    """
    fps = float(curves.fps)
    n = len(curves.speed)
    times = getattr(curves, "times_s", None)
    times = np.arange(n) / fps if times is None else np.asarray(times, np.float64)
    level = getattr(curves, "level", None)
    if level is None or len(level) != n:
        level = curves.loudness
    level = np.clip(np.nan_to_num(np.asarray(level, np.float64)), 0.0, 1.0)
    character = getattr(curves, "character", None)
    scale = float(character.scale) if character is not None else 1.0
    timing = getattr(curves, "timing", None)
    trusted = timing is not None and float(timing.beat_confidence) >= min_beat_confidence \
        and len(np.asarray(timing.beat_times_s)) > 0
    figure_turn = float(np.random.default_rng(np.random.SeedSequence([int(seed), 0xCA3E])).uniform(0, 2 * math.pi))

    # ---- drift: speed from the slow loudness and the chord changes (never the beat), integrated along the path
    from ..audio.curves import one_pole

    activity = 0.35 + 0.35 * level + 0.3 * _chord_change(getattr(curves, "chroma", None), n, fps)
    speed = np.maximum(one_pole(drift * scale * activity, fps, _DRIFT_SMOOTH_S).astype(np.float64), 0.0) \
        if n else np.zeros(0)
    amplitude = _DRIFT_SHARE * radius
    u = np.zeros(n)
    if n and amplitude > 0:
        # a clip starts where the song would be by its first frame, at the clip's mean speed (in path units, the
        # figure's mean speed is about 1)
        lead = max(float(times[0]), 0.0) * float(speed.mean()) / amplitude
        u = _path_parameters(speed[:-1] / fps / amplitude, lead)
    pos, vel = _path(u, figure_turn)

    # ---- push: the choreography's hits, along the path's heading
    hits = np.clip(np.nan_to_num(np.asarray(curves.pulse, np.float64)), 0.0, 1.0) if trusted else np.zeros(n)
    heading = vel / np.maximum(np.linalg.norm(vel, axis=1, keepdims=True), 1e-9)
    position = limit_radius(amplitude * pos + push * hits[:, None] * heading, radius)

    # ---- turn: section labels' angles, eased to arrive on the section start, plus the slow roll
    turns = section_turns(times, timing, turn_deg=turn_deg, turn_bars=turn_bars, trusted=trusted)
    angle = turns + roll_deg * np.sin(_ROLL_FREQ * u)  # level at the start, like the path
    # the picture turns about its centre: NVlabs' matrix turns about the input's origin, then shifts by translate
    a = np.radians(angle)
    c, s = np.cos(a), np.sin(a)
    translate = -np.stack([c * position[:, 0] + s * position[:, 1], -s * position[:, 0] + c * position[:, 1]], axis=1)
    return CameraPath(position=position, angle_deg=angle, translate=translate, drift_speed=speed, push=hits,
                      turn_deg=turns, matrices=input_transforms(translate, angle))
