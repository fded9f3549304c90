"""The latent walk: speed integration, keyframes, pulse, truncation/noise modulation, exact frame ranges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicvideo.errors import ConfigError
from musicvideo.motion import (LatentWalk, WalkConfig, interpolation_weights, keyframe_seeds, make_keyframes,
                               positions_from_speed, z_from_seed)

from _render_helpers import curves, tiny_generator

# walk settings that leave the keyframe path alone (no pulse, no truncation), to see the path itself
PLAIN = dict(pulse_strength=0.0, truncation_psi=1.0, truncation_loudness=0.0)


@pytest.fixture(scope="module")
def G():
    return tiny_generator()


def test_position_is_the_integral_of_speed():
    speed = np.full(90, 2.0)  # 2 keyframe segments per second at 30 fps
    pos = positions_from_speed(speed, 30.0)
    assert pos.dtype == np.float64
    assert pos[0] == 0.0
    np.testing.assert_allclose(pos, np.arange(90) * 2.0 / 30.0, rtol=0, atol=1e-12)
    stopped = positions_from_speed(np.r_[np.ones(10), np.zeros(10), np.ones(10)], 10.0)
    assert np.all(stopped[11:21] == stopped[11])  # no speed, no motion
    np.testing.assert_allclose(positions_from_speed(speed, 30.0, 0.5)[-1], pos[-1] / 2)


@pytest.mark.parametrize("interpolation", ["cubic", "smoothstep", "linear"])
def test_interpolation_weights_pass_through_keyframes(interpolation):
    pos = np.array([0.0, 0.25, 1.0, 2.5, 3.0, 4.0, 7.9])
    index, weight = interpolation_weights(pos, 4, loop=True, interpolation=interpolation)
    np.testing.assert_allclose(weight.sum(axis=1), 1.0, atol=1e-12)
    on_key = np.isclose(pos, np.round(pos))
    np.testing.assert_array_equal(weight[on_key, 1], 1.0)
    np.testing.assert_array_equal(index[on_key, 1], np.round(pos[on_key]).astype(int) % 4)
    assert index.max() < 4 and index.min() >= 0


def test_keyframes_come_from_seeds_nvlabs_style(G):
    z = z_from_seed(123, 16, draws=2)
    np.testing.assert_array_equal(z[0].numpy(), np.random.RandomState(123).randn(16).astype(np.float32))
    assert not torch.equal(z[0], z[1])  # the pulse target is another latent
    seeds = keyframe_seeds(7, 5)
    assert len(set(seeds)) == 5 and seeds == keyframe_seeds(7, 5) and seeds != keyframe_seeds(8, 5)
    assert keyframe_seeds(7, 5, [3, 1, 4]) == [3, 1, 4]
    keys = make_keyframes(G, [3, 1, 4], device="cpu")
    assert keys.w.shape == (3, G.num_ws, G.w_dim) and keys.pulse_w.shape == keys.w.shape
    with pytest.raises(ConfigError):
        keyframe_seeds(0, 3, [-1])


@pytest.mark.parametrize("space", ["w", "z"])
def test_any_frame_range_gives_exactly_the_full_renders_latents(G, space):
    rng = np.random.default_rng(1)
    n = 75
    c = curves(rng.uniform(0, 3, n), rng.uniform(0, 1, n), rng.uniform(0, 1, n))
    walk = LatentWalk(G, c, WalkConfig(space=space, n_keyframes=3), seed=5, device="cpu")
    assert walk.n_frames == n
    full = walk.batch(0, n)
    for size in (1, 4, 16):
        ws = torch.cat([b.ws for b in walk.batches(size)])
        assert torch.equal(ws, full.ws)
    part = list(walk.batches(8, start=31, stop=59))
    assert [(b.start, b.stop) for b in part][0] == (31, 39) and part[-1].stop == 59
    assert torch.equal(torch.cat([b.ws for b in part]), full.ws[31:59])
    assert torch.equal(torch.cat([b.noise_scale for b in part]), full.noise_scale[31:59])
    # a fresh walk (another worker) agrees too
    again = LatentWalk(G, c, WalkConfig(space=space, n_keyframes=3), seed=5, device="cpu")
    assert torch.equal(again.batch(40, 50).ws, full.ws[40:50])


def test_same_seed_same_latents_other_seed_other_latents(G):
    c = curves(np.ones(20))
    a = LatentWalk(G, c, WalkConfig(), seed=1).batch(0, 20).ws
    b = LatentWalk(G, c, WalkConfig(), seed=1).batch(0, 20).ws
    other = LatentWalk(G, c, WalkConfig(), seed=2).batch(0, 20).ws
    assert torch.equal(a, b) and not torch.allclose(a, other)
    chosen = LatentWalk(G, c, WalkConfig(seeds=[10, 11]), seed=99).keyframes.seeds
    assert chosen == [10, 11]


def test_walk_visits_the_keyframes_at_whole_positions(G):
    fps = 10.0
    c = curves(np.full(31, fps / 5), fps=fps)  # one keyframe every 5 frames
    walk = LatentWalk(G, c, WalkConfig(n_keyframes=3, **PLAIN), seed=0)
    ws = walk.batch(0, 31).ws
    for frame, key in ((0, 0), (5, 1), (10, 2), (15, 0), (20, 1)):  # loops back to keyframe 0
        torch.testing.assert_close(ws[frame], walk.keyframes.w[key], rtol=0, atol=1e-6)


def test_without_loop_the_walk_holds_on_the_last_keyframe(G):
    c = curves(np.full(40, 10.0), fps=10.0)  # one segment per frame: runs past the end quickly
    walk = LatentWalk(G, c, WalkConfig(n_keyframes=3, loop=False, **PLAIN), seed=0)
    ws = walk.batch(0, 40).ws
    for frame in (2, 3, 10, 39):
        torch.testing.assert_close(ws[frame], walk.keyframes.w[2], rtol=0, atol=1e-6)


def test_loud_frames_move_further_than_quiet_ones(G):
    n = 120
    loud = (np.arange(n) // 30) % 2 == 0
    loudness = np.where(loud, 1.0, 0.05)
    c = curves(0.2 + 3.0 * loudness, loudness)
    ws = LatentWalk(G, c, WalkConfig(), seed=3).batch(0, n).ws
    step = (ws[1:] - ws[:-1]).abs().mean(dim=(1, 2)).numpy()
    moving_loud = loud[:-1] & loud[1:]
    moving_quiet = ~loud[:-1] & ~loud[1:]
    assert step[moving_loud].mean() > 5 * step[moving_quiet].mean()


def test_cubic_path_has_no_kinks_at_keyframes(G):
    fps = 100.0
    c = curves(np.full(201, 1.0), fps=fps)  # keyframes at frames 0, 100, 200

    def sharpest_turn_near_keyframe(interpolation):
        ws = LatentWalk(G, c, WalkConfig(n_keyframes=4, interpolation=interpolation, **PLAIN), seed=4).batch(0, 201).ws
        steps = (ws[1:] - ws[:-1]).flatten(1)
        cos = torch.nn.functional.cosine_similarity(steps[:-1], steps[1:], dim=1)
        return float(cos[95:105].min())

    assert sharpest_turn_near_keyframe("cubic") > 0.95   # the direction of motion carries through the keyframe
    assert sharpest_turn_near_keyframe("linear") < 0.5   # a straight-line path turns abruptly there


def test_pulse_pushes_toward_the_pulse_target(G):
    pulse = np.zeros(10)
    pulse[4] = 1.0
    c = curves(np.zeros(10), pulse=pulse)
    cfg = dict(n_keyframes=2, truncation_psi=1.0, truncation_loudness=0.0)
    walk = LatentWalk(G, c, WalkConfig(pulse_strength=0.5, **cfg), seed=6)
    ws = walk.batch(0, 10).ws
    key, target = walk.keyframes.w[0], walk.keyframes.pulse_w[0]
    torch.testing.assert_close(ws[3], key, rtol=0, atol=1e-6)  # no pulse: the keyframe itself
    torch.testing.assert_close(ws[4], key + 0.5 * (target - key), rtol=0, atol=1e-5)
    flat = LatentWalk(G, c, WalkConfig(pulse_strength=0.0, **cfg), seed=6).batch(0, 10).ws
    torch.testing.assert_close(flat[4], key, rtol=0, atol=1e-6)


def test_truncation_and_noise_follow_loudness(G):
    loudness = np.array([0.0, 0.5, 1.0])
    c = curves(np.zeros(3), loudness)
    cfg = WalkConfig(n_keyframes=1, pulse_strength=0.0, truncation_psi=0.0, truncation_loudness=1.0,
                     noise_base=0.2, noise_loudness=0.8)
    walk = LatentWalk(G, c, cfg, seed=0)
    batch = walk.batch(0, 3)
    w_avg, key = G.w_avg, walk.keyframes.w[0]
    torch.testing.assert_close(batch.ws[0], w_avg.expand_as(key), rtol=0, atol=1e-6)  # silence: psi 0
    torch.testing.assert_close(batch.ws[1], w_avg + 0.5 * (key - w_avg), rtol=0, atol=1e-5)
    torch.testing.assert_close(batch.ws[2], key, rtol=0, atol=1e-5)  # loud: psi 1
    np.testing.assert_allclose(batch.noise_scale.numpy(), [0.2, 0.6, 1.0], atol=1e-6)
    cut = LatentWalk(G, c, WalkConfig(n_keyframes=1, pulse_strength=0.0, truncation_psi=0.0,
                                      truncation_loudness=0.0, truncation_cutoff=2), seed=0).batch(0, 1).ws[0]
    torch.testing.assert_close(cut[:2], w_avg.expand(2, -1), rtol=0, atol=1e-6)  # coarse layers truncated
    torch.testing.assert_close(cut[2:], key[2:], rtol=0, atol=1e-6)  # fine layers untouched


def test_memory_is_o_n_floats_not_latents(G):
    n = 30 * 60 * 60  # an hour at 30 fps
    walk = LatentWalk(G, curves(np.ones(n, dtype=np.float32)), WalkConfig(), seed=0)
    assert walk.n_frames == n
    assert walk.positions.nbytes == 8 * n
    latents = sum(t.numel() for t in (walk.keyframes.w, walk.keyframes.pulse_w, walk.keyframes.z))
    assert latents < 10 * G.num_ws * G.w_dim * walk.config.n_keyframes  # keyframes only, nothing per frame
    assert walk.batch(n - 3, n).ws.shape[0] == 3


def test_curves_of_different_lengths_are_refused(G):
    c = curves(np.ones(10), np.ones(9))
    with pytest.raises(ValueError, match="lengths"):
        LatentWalk(G, c, WalkConfig(), seed=0)


@pytest.mark.parametrize("bad", [dict(space="x"), dict(interpolation="spline"), dict(noise_mode="loud"),
                                 dict(n_keyframes=0), dict(pulse_strength=1.5), dict(speed_scale=-1.0),
                                 dict(truncation_cutoff=0), dict(truncation_psi=1.5, truncation_loudness=1.0)])
def test_bad_walk_settings_are_config_errors(bad):
    with pytest.raises(ConfigError, match="walk."):
        WalkConfig(**bad)
