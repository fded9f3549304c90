"""The StyleGAN3 camera (issue 17, part 3): valid NVlabs input transforms, pushes that peak on the beat, no pushes
and a slow drift on a beatless pad, a turn that arrives on a section's first frame, batch-independent transforms,
StyleGAN2 untouched, and a rendered video whose frames really move and turn.

The walk gets the *truth* of synthesized songs (beats, bars, sections) in place of the analysis' (as in
``test_motion_choreography``); the generators are tiny random StyleGAN3 networks built here.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from musicvideo.audio import reactive_curves
from musicvideo.config import RenderConfig, load_config
from musicvideo.errors import ConfigError, MusicVideoWarning
from musicvideo.generator.stylegan3 import StyleGAN3Config, StyleGAN3Generator, make_transform
from musicvideo.motion import LatentWalk, WalkConfig
from musicvideo.motion.camera import accepts_transform, input_transforms, limit_radius, plan_camera
from musicvideo.render import _generate, render
from musicvideo.video.probe import read_frames

from _render_helpers import lossless, tiny_generator
from _truth_helpers import analyze_with_truth, truth_case, truth_features, write_truth_wav

FPS = 15


def stylegan3(res: int = 32, seed: int = 0, *, radial: bool = False) -> StyleGAN3Generator:
    """A tiny random StyleGAN3-T (or -R) (milliseconds per frame), with non-zero biases like a trained network."""
    torch.manual_seed(seed)
    kind = dict(conv_kernel=1, use_radial_filters=True, channel_base=256, channel_max=16) if radial else \
        dict(channel_base=128, channel_max=8)
    G = StyleGAN3Generator(StyleGAN3Config(z_dim=8, w_dim=8, img_resolution=res, num_layers=4, num_critical=2,
                                           margin_size=2, **kind))
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("bias") and "input.affine" not in name:
                p.add_(0.1 * torch.randn_like(p))
    return G


@pytest.fixture(scope="module")
def G3():
    return stylegan3()


@pytest.fixture(scope="module")
def curves():
    """Reactive curves of a steady groove, a beatless pad and an A-B-A-B song, with their truth."""
    out = {}
    for key, name, seconds in (("groove", "groove", 8.0), ("pad", "beatless_pad", 8.0),
                               ("abab", "verse_chorus", 34.0)):
        song = truth_case(name, seconds)
        features = truth_features(song, fps=FPS)
        out[key] = (song, features, reactive_curves(features))
    return out


def camera_of(c, **kw):
    cfg = WalkConfig(**kw)
    return plan_camera(c, drift=cfg.camera_drift, radius=cfg.camera_radius, push=cfg.camera_push,
                       turn_deg=cfg.camera_turn_deg, turn_bars=cfg.camera_turn_bars, roll_deg=cfg.camera_roll_deg,
                       min_beat_confidence=cfg.min_beat_confidence, seed=3)


def assert_rigid(m: np.ndarray) -> None:
    """Rotation + translation: orthonormal 2x2 with determinant 1, last row 0 0 1."""
    m = np.asarray(m, np.float64)
    a = m[:, :2, :2]
    assert np.abs(a @ a.transpose(0, 2, 1) - np.eye(2)).max() < 1e-6
    assert np.abs(np.linalg.det(a) - 1).max() < 1e-6
    assert np.array_equal(m[:, 2], np.tile([0.0, 0.0, 1.0], (len(m), 1)))


# ---------------------------------------------------------------- the matrices


def test_input_transforms_are_nvlabs_inverse_make_transform():
    rng = np.random.default_rng(0)
    translate, angle = rng.uniform(-0.3, 0.3, (20, 2)), rng.uniform(-180, 180, 20)
    m = input_transforms(translate, angle)
    assert m.shape == (20, 3, 3) and m.dtype == np.float32
    assert_rigid(m)
    for i in range(20):
        ref = torch.linalg.inv(make_transform(tuple(translate[i]), float(angle[i]))).numpy()
        assert np.abs(m[i] - ref).max() < 1e-6


def test_limit_radius_keeps_the_centre_and_never_reaches_the_radius():
    r = np.linspace(0, 0.4, 401)
    offsets = np.stack([r * 0.6, r * 0.8], axis=1)  # unit direction
    out = np.linalg.norm(limit_radius(offsets, 0.15), axis=1)
    assert np.allclose(out[r <= 0.09], r[r <= 0.09])  # identity inside 0.6 * radius
    assert out.max() < 0.15 and np.all(np.diff(out) > 0)  # far out it still moves, ever less
    assert np.linalg.norm(limit_radius(np.array([[1e3, 0.0]]), 0.15)) <= 0.15


def test_walk_transforms_are_rigid_bounded_on_the_device_and_stylegan3_only(G3, curves):
    c = curves["abab"][2]
    walk = LatentWalk(G3, c, WalkConfig(camera_radius=0.12), seed=1, device="cpu")
    batch = walk.batch(100, 140)
    t = batch.transforms
    assert t.shape == (40, 3, 3) and t.dtype == torch.float32 and t.device == walk.device
    assert_rigid(t.numpy())
    assert np.linalg.norm(walk.camera.position, axis=1).max() < 0.12
    # the picture turns about its centre: the centre of every frame shows the camera's position
    assert np.abs(walk.camera.matrices[:, :2, 2] - walk.camera.position).max() < 1e-6
    assert accepts_transform(G3) and not accepts_transform(tiny_generator())
    assert LatentWalk(G3, c, WalkConfig(camera="off"), seed=1).batch(0, 5).transforms is None


def test_curves_without_musical_time_drift_without_pushes(G3):
    from _render_helpers import curves as stand_in

    n = 90
    c = stand_in(np.full(n, 0.3), loudness=np.linspace(0, 1, n), pulse=np.tile([1.0, 0.5, 0.2], n // 3))
    walk = LatentWalk(G3, c, WalkConfig(), seed=1)
    assert walk.camera.push.max() == 0 and np.all(walk.camera.turn_deg == 0)  # no trusted beat, no sections
    assert np.linalg.norm(np.diff(walk.camera.position, axis=0), axis=1).min() > 0  # still drifts
    assert_rigid(walk.batch(0, n).transforms.numpy())
    assert plan_camera(stand_in(np.zeros(0)), drift=0.04, radius=0.15, push=0.03, turn_deg=10).matrices.shape == \
        (0, 3, 3)


def test_transforms_do_not_depend_on_the_batching(G3, curves):
    walk = LatentWalk(G3, curves["groove"][2], WalkConfig(), seed=1, device="cpu")
    by7 = torch.cat([b.transforms for b in walk.batches(7)])
    by13 = torch.cat([b.transforms for b in walk.batches(13)])
    assert by7.shape == (walk.n_frames, 3, 3) and torch.equal(by7, by13)
    assert torch.equal(walk.batch(30, 47).transforms, by7[30:47])


# ---------------------------------------------------------------- what the music does


def test_pushes_peak_on_the_beats_of_a_steady_groove(curves):
    song, features, c = curves["groove"]
    pushed, still = camera_of(c), camera_of(c, camera_push=0.0)
    surge = np.linalg.norm(pushed.position - still.position, axis=1)
    beats = np.flatnonzero(features.beat > 0.5)
    assert len(beats) >= 14
    for b in beats[1:-1]:
        window = surge[b - 3:b + 4]
        assert abs(int(np.argmax(window)) - 3) <= 1, (b, window.round(4))
        assert window.max() > 0.004  # a visible surge (0.004 image widths = 1 px at 256 px)
    assert np.array_equal(pushed.angle_deg, still.angle_deg)


def test_a_beatless_pad_has_no_pushes_and_drifts_slowly(curves):
    pad = camera_of(curves["pad"][2])
    assert pad.push.max() == 0
    assert np.array_equal(pad.position, camera_of(curves["pad"][2], camera_push=0.0).position)
    step = np.linalg.norm(np.diff(pad.position, axis=0), axis=1)  # image widths per frame
    assert step.max() * FPS < 0.02  # under 1/50 of the picture per second
    assert np.abs(np.diff(pad.position, 2, axis=0)).max() * FPS * FPS < 0.01  # no jerks
    assert np.abs(np.diff(pad.angle_deg)).max() * FPS < 0.5  # degrees per second
    groove = camera_of(curves["groove"][2])
    groove_step = np.linalg.norm(np.diff(groove.position, axis=0), axis=1)
    assert groove_step.mean() > 3 * step.mean()


def test_a_section_change_turns_the_camera_to_arrive_on_the_section_start(curves):
    song, features, c = curves["abab"]
    cam = camera_of(c, camera_turn_deg=12.0, camera_roll_deg=0.0)
    bar = FPS * 60 / song.tempo_bpm * song.beats_per_bar  # frames per bar
    targets = {"A": 0.0, "B": 12.0}
    for start, label in zip(song.section_starts_s[1:], song.section_labels[1:]):
        f = int(np.flatnonzero(features.times_s >= start - 1e-9)[0])
        before = targets["B" if label == "A" else "A"]
        # it arrives where it stops turning: the last frame that moves by a tenth of the turn's fastest step
        step = np.abs(np.diff(cam.turn_deg[f - 2 * int(bar):f + int(bar)]))
        arrived = f - 2 * int(bar) + 1 + int(np.flatnonzero(step > 0.1 * step.max())[-1])
        assert abs(arrived - f) <= 1, (f, arrived)
        assert cam.turn_deg[f] == pytest.approx(targets[label], abs=1e-9)
        assert np.all(cam.turn_deg[f:f + int(bar)] == cam.turn_deg[f])  # and holds
        still = np.flatnonzero(np.abs(cam.turn_deg[:f] - before) <= 1e-9)[-1]  # the turn starts a bar before
        assert abs((f - still) - bar) <= 1.5, (f, still, bar)
    assert np.array_equal(cam.angle_deg, cam.turn_deg)  # no roll asked for


def test_stylegan2_auto_has_no_camera_and_renders_as_before(curves):
    G2 = tiny_generator()
    c = curves["groove"][2]
    walk = LatentWalk(G2, c, WalkConfig(), seed=1)
    assert walk.camera is None and walk.batch(0, 9).transforms is None
    off = LatentWalk(G2, c, WalkConfig(camera="off"), seed=1)
    frames = _generate(G2, walk, 0, 9, "const")
    with torch.inference_mode():  # what the render loop did before the camera
        batch = off.batch(0, 9)
        before = G2.synthesis(batch.ws, noise_mode="const", noise_scale=batch.noise_scale)
    assert torch.equal(frames, ((before.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        on = LatentWalk(G2, c, WalkConfig(camera="on"), seed=1)
    notes = [w for w in caught if issubclass(w.category, MusicVideoWarning)]
    assert len(notes) == 1 and "StyleGAN3" in str(notes[0].message) and "\n" not in str(notes[0].message)
    assert on.batch(0, 3).transforms is None


# ---------------------------------------------------------------- knobs


def test_camera_knobs_load_from_toml_and_bad_values_are_one_line_errors(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[walk]\ncamera = "on"\ncamera_drift = 0.1\ncamera_radius = 0.2\ncamera_push = 0.05\n'
                    'camera_turn_deg = 20\ncamera_turn_bars = 2\ncamera_roll_deg = 0\n')
    walk = load_config(path).walk
    assert (walk.camera, walk.camera_radius, walk.camera_turn_deg, walk.camera_turn_bars) == ("on", 0.2, 20, 2)
    for bad in ('camera = "yes"', "camera_radius = 0", "camera_radius = 0.8", "camera_push = -1",
                "camera_turn_deg = 400", "camera_roll_deg = 90"):
        path.write_text(f"[walk]\n{bad}\n")
        with pytest.raises(ConfigError) as err:
            load_config(path)
        assert "walk.camera" in str(err.value) and "\n" not in str(err.value)
    for style in ("calm", "default", "energetic", "cut"):
        cfg = load_config(None, style=style).walk
        assert cfg.camera == "auto" and 0 < cfg.camera_radius <= 0.25
    calm, energetic = load_config(None, style="calm").walk, load_config(None, style="energetic").walk
    assert calm.camera_push < energetic.camera_push and calm.camera_drift < energetic.camera_drift


# ---------------------------------------------------------------- end to end: decoded frames move and turn


@pytest.fixture
def truth_songs(tmp_path, monkeypatch, curves):
    """WAVs of the groove and the A-B-A-B song; ``render`` analyses them with their truth."""
    monkeypatch.setenv("MUSICVIDEO_CACHE_DIR", str(tmp_path / "cache"))
    paths = {key: write_truth_wav(curves[key][0], tmp_path / f"{key}.wav") for key in ("groove", "abab")}
    analyze_with_truth(monkeypatch, {p.resolve(): curves[key][0] for key, p in paths.items()})
    return paths


# one still image (one keyframe, no hits, no sections, constant truncation): only the camera moves the picture
STILL = dict(n_keyframes=1, sections=False, pulse_strength=0.0, truncation_loudness=0.0, camera_roll_deg=0.0)


def measured_shifts(frames: np.ndarray) -> np.ndarray:
    """``[n - 1, 2]`` (x, y) pixel shift from each frame to the next, by phase correlation under a squared Hann
    window (applied here: OpenCV's own window argument overwrites the input arrays); good to ~0.2 px here."""
    h, w = frames.shape[1:3]
    window = cv2.createHanningWindow((w, h), cv2.CV_32F) ** 2
    grey = frames.astype(np.float32).mean(axis=3)
    return np.array([cv2.phaseCorrelate(grey[i] * window, grey[i + 1] * window)[0] for i in range(len(grey) - 1)])


def assert_pans_as_planned(frames: np.ndarray, camera) -> None:
    """The decoded frames move as the camera's ``translate`` says (pixels at the frames' width)."""
    moved = np.diff(camera.translate, axis=0) * frames.shape[2]
    measured = measured_shifts(frames)
    motion = np.linalg.norm(moved, axis=1).mean()
    assert motion > 0.5  # the camera does move (pixels per frame)
    error = np.linalg.norm(measured - moved, axis=1)
    assert np.median(error) < 0.35 * motion and np.corrcoef(measured.ravel(), moved.ravel())[0, 1] > 0.95, \
        np.c_[measured, moved, error].round(2).tolist()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny 64 px StyleGAN3-T saved in the native format (what ``musicvideo convert`` writes)."""
    from musicvideo.generator import save_native

    return save_native(stylegan3(64), tmp_path_factory.mktemp("sg3") / "sg3.safetensors")


def test_a_rendered_stylegan3_video_pans_with_the_camera(truth_songs, checkpoint, tmp_path):
    walk = WalkConfig(**STILL, camera_drift=0.3, camera_radius=0.3, camera_push=0.0, camera_turn_deg=0.0)
    config = lossless(RenderConfig(fps=FPS, duration_s=4.0, seed=2, device="cpu", walk=walk))
    result = render(truth_songs["groove"], checkpoint=checkpoint, output=tmp_path / "pan.mp4", config=config,
                    progress=False)
    frames = read_frames(result.path)
    assert frames.shape == (60, 64, 64, 3)
    c = reactive_curves(truth_features(truth_case("groove", 8.0), fps=FPS, duration_s=4.0))
    assert_pans_as_planned(frames, plan_camera(c, drift=0.3, radius=0.3, push=0.0, turn_deg=0.0, seed=2))
    # the still image itself (camera off) does not move
    off = dataclasses.replace(config, walk=dataclasses.replace(walk, camera="off"))
    still = read_frames(render(truth_songs["groove"], checkpoint=checkpoint, output=tmp_path / "still.mp4",
                               config=off, progress=False).path)
    assert np.array_equal(still[0], still[-1])


def rotation_between(a: np.ndarray, b: np.ndarray) -> float:
    """The angle (degrees, 0.5-degree steps) by which ``a`` turned about the centre best matches ``b``."""
    h, w = a.shape
    mask = np.hypot(*np.meshgrid(np.arange(w) - (w - 1) / 2, np.arange(h) - (h - 1) / 2)) < 0.4 * w
    angles = np.arange(-45, 45.5, 0.5)
    errors = [np.abs(cv2.warpAffine(a, cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), float(x), 1.0),
                                    (w, h)) - b)[mask].mean() for x in angles]
    return float(angles[int(np.argmin(errors))])


def test_a_rendered_stylegan3_video_turns_at_the_section_change(truth_songs, curves, tmp_path):
    song, features, _ = curves["abab"]
    G = stylegan3(64, radial=True)  # -R: made to turn (a tiny -T turns 18.5 of these 20 degrees)
    f = int(np.flatnonzero(features.times_s >= song.section_starts_s[1] - 1e-9)[0])  # B starts
    bar = int(round(FPS * 60 / song.tempo_bpm * song.beats_per_bar))
    walk = WalkConfig(**STILL, camera_drift=0.0, camera_push=0.0, camera_turn_deg=20.0)
    config = lossless(RenderConfig(fps=FPS, size=64, device="cpu", seed=2, walk=walk))
    a = f - bar - 2
    result = render(truth_songs["abab"], output=tmp_path / "turn.mp4", config=config, generator=G,
                    frame_range=(a, f + 3), progress=False)
    frames = read_frames(result.path).astype(np.float32).mean(axis=3)
    turned = [rotation_between(frames[0], frames[i]) for i in range(len(frames))]
    assert turned[:2] == [0.0, 0.0]  # still before the turn's bar
    assert abs(turned[f - a] - 20.0) <= 1.0 and turned[-1] == turned[f - a], str(turned)  # arrived on its frame
    assert abs(turned[f - a - bar // 2] - 10.0) <= 2.0  # half way half a bar before
