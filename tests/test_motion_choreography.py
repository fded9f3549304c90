"""Choreography (issue 15): calm songs drift and grooves move, hits build and peak on the beat, keyframes arrive on
downbeats, a returning section returns to its looks, bass moves the coarse layers and hats the fine ones, and every
song starts on its own image.

Most tests give the walk the *truth* of synthesized songs (beats, downbeats, sections from
:mod:`musicvideo.audio.groundtruth`) in place of the analysis' (:mod:`_truth_helpers`), so they test this stage
whatever the state of the analysis; the ones marked end-to-end use the analysis itself.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from musicvideo.audio import CurveConfig, reactive_curves
from musicvideo.audio.curves import hit_envelope
from musicvideo.config import RenderConfig, load_config
from musicvideo.errors import ConfigError
from musicvideo.motion import LatentWalk, WalkConfig, layer_groups, plan_walk
from musicvideo.render import render
from musicvideo.video.probe import read_frames

from _render_helpers import lossless, tiny_generator
from _truth_helpers import analyze_with_truth, truth_case, truth_features, write_truth_wav

FPS = 15
BASE = lossless(RenderConfig(fps=FPS, size=32, device="cpu"))


@pytest.fixture(scope="module")
def G():
    return tiny_generator()


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Synthesized songs with known truth, written as WAVs (the renders read files); the analysis cache in a temp
    dir."""
    root = tmp_path_factory.mktemp("choreography")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSICVIDEO_CACHE_DIR", str(root / "cache"))
        cases = {"groove": truth_case("groove", 12.0), "pad": truth_case("beatless_pad", 12.0),
                 "abab": truth_case("verse_chorus")}
        yield {key: (song, write_truth_wav(song, root / f"{key}.wav")) for key, song in cases.items()}


@pytest.fixture
def truth_analysis(songs, monkeypatch):
    """``render`` analyses with the songs' truth in place of the analysis' beats, bars and sections."""
    analyze_with_truth(monkeypatch, {Path(path).resolve(): song for song, path in songs.values()})


def frame_change(frames: np.ndarray) -> np.ndarray:
    """Mean absolute change of each frame from the one before, uint8 levels."""
    f = frames.astype(np.float32)
    return np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))


def walk_of(G, features, **walk):
    return LatentWalk(G, reactive_curves(features), WalkConfig(**walk), seed=3, device="cpu")


# ---------------------------------------------------------------- song character (decoded video)


@pytest.fixture(params=["truth", "analysis"])
def beats_from(request, songs, monkeypatch):
    """The beats, bars and sections a render uses: the songs' truth (this stage alone), or the analysis' own
    (end to end)."""
    if request.param == "truth":
        request.getfixturevalue("truth_analysis")
    return request.param


def test_a_beatless_pad_moves_less_than_half_as_much_as_a_loud_groove(songs, G, tmp_path, beats_from):
    change = {}
    for key in ("groove", "pad"):
        config = dataclasses.replace(BASE, duration_s=10.0, seed=5)
        result = render(songs[key][1], output=tmp_path / f"{key}.mp4", config=config, generator=G, progress=False)
        change[key] = float(frame_change(read_frames(result.path)).mean())
    assert change["pad"] < 0.5 * change["groove"], change


def test_song_character_is_absolute(songs):
    groove = reactive_curves(truth_features(songs["groove"][0], fps=FPS)).character
    pad = reactive_curves(truth_features(songs["pad"][0], fps=FPS)).character
    assert groove.energy > 0.7 and pad.energy < 0.35
    assert groove.onsets_per_s > 4 * pad.onsets_per_s
    assert groove.scale > 2 * pad.scale


# ---------------------------------------------------------------- hits


def test_hit_envelope_rises_before_the_beat_and_peaks_on_it():
    t = np.arange(60) / 30.0
    env = hit_envelope(t, np.array([20, 40]), np.array([1.0, 0.5]), attack_s=0.07, release_s=0.2)
    assert np.argmax(env[:35]) == 20 and env[20] == 1.0
    assert 0.3 < env[19] < 1.0 and env[17] == 0  # the attack starts ~2 frames before the beat, no earlier
    assert env[21] == pytest.approx(np.exp(-1 / 6), rel=1e-4)  # then decays with the release
    assert env[40] == pytest.approx(0.5, abs=1e-6) and env.max() <= 1.0


def test_hits_land_on_the_beat_scale_with_confidence_and_downbeats_hit_harder(songs):
    features = truth_features(songs["groove"][0], fps=30, duration_s=8.0)
    curves = reactive_curves(features)
    beats = np.flatnonzero(features.beat > 0.5)
    downbeats = np.flatnonzero(features.downbeat > 0.5)
    for p in beats[1:-1]:
        assert np.argmax(curves.pulse[p - 3:p + 4]) == 3, p  # peak on the beat frame
        assert curves.pulse[p - 1] > 0.1 * curves.pulse[p]  # built up over the frame before it
    others = np.setdiff1d(beats, downbeats)
    assert curves.pulse[downbeats].mean() > 1.3 * curves.pulse[others].mean()
    doubtful = dataclasses.replace(features, beat_confidence=0.2,
                                   local_beat_confidence=np.full(features.n_frames, 0.2, np.float32))
    assert reactive_curves(doubtful).pulse.max() == 0  # no hits on beats the analysis does not trust
    flat = reactive_curves(features, CurveConfig(downbeat_gain=1.0))
    assert flat.pulse[downbeats].mean() < 1.15 * flat.pulse[others].mean()


def test_a_hit_spreads_over_two_or_more_frames_in_the_video(songs, G, tmp_path, truth_analysis):
    """A beat's change is spread over the frames around it, not a one-frame strobe jump."""
    config = dataclasses.replace(BASE, fps=30, duration_s=6.0, seed=2,
                                 walk=dataclasses.replace(BASE.walk, bars_per_keyframe=8, pulse_strength=0.8))
    song, path = songs["groove"]
    frames = read_frames(render(path, output=tmp_path / "hits.mp4", config=config, generator=G,
                                progress=False).path)
    change = frame_change(frames)  # change[i]: frame i -> i + 1
    beats = np.round(song.beat_times_s[(song.beat_times_s > 0.5) & (song.beat_times_s < 5.5)] * 30).astype(int)
    spread = []
    for p in beats:
        around = change[p - 3:p + 3]
        spread.append(int(np.count_nonzero(around >= 0.5 * around.max())))
    assert np.median(spread) >= 2, spread


# ---------------------------------------------------------------- bars and sections


def test_keyframe_arrivals_fall_on_downbeats(songs, G):
    fps = 30
    song = songs["groove"][0]
    features = truth_features(song, fps=fps)
    walk = walk_of(G, features, bars_per_keyframe=2)
    plan = walk.plan
    assert plan.mode == "bars" and plan.bars_per_keyframe == 2
    pos = plan.positions
    arrivals = np.flatnonzero(np.floor(pos[1:] + 1e-9) > np.floor(pos[:-1] + 1e-9)) + 1  # first frame past a key
    downbeat_frames = np.round(song.downbeat_times_s * fps).astype(int)
    every_other = downbeat_frames[::2]  # one keyframe per two bars, counted from the section start (0 s)
    assert len(arrivals) >= 3
    for a in arrivals:
        assert np.min(np.abs(every_other - a)) <= 1, (a, every_other)
    for d in every_other[every_other < len(pos) - 2]:
        assert np.min(np.abs(arrivals - d)) <= 1, (d, arrivals)


def test_without_a_trusted_beat_the_walk_is_timed_in_seconds(songs, G):
    walk = walk_of(G, truth_features(songs["pad"][0], fps=FPS))
    assert walk.plan.mode == "seconds" and walk.plan.bars_per_keyframe == 0
    assert np.all(np.diff(walk.plan.positions) >= 0)


def test_second_a_looks_like_the_first_a_not_like_either_b(songs, G, tmp_path, beats_from):
    song, path = songs["abab"]
    fps = 6
    config = dataclasses.replace(BASE, fps=fps, seed=11)
    frames = read_frames(render(path, output=tmp_path / "abab.mp4", config=config, generator=G,
                                progress=False).path).astype(np.float32)
    starts = [int(round(s * fps)) for s in song.section_starts_s]
    assert song.section_labels == ["A", "B", "A", "B"]
    length = min(b - a for a, b in zip(starts, starts[1:] + [len(frames)]))
    part = [frames[s:s + length] for s in starts]  # frame i of every section, aligned on the section start

    def distance(x, y):
        return float(np.abs(x - y).mean())

    a2 = part[2]
    to_a1, to_b1, to_b2 = distance(a2, part[0]), distance(a2, part[1]), distance(a2, part[3])
    assert to_a1 < 0.5 * min(to_b1, to_b2), (to_a1, to_b1, to_b2)
    # it starts where the first A did (from frame 1: the song's very first frame is still fading in from silence)
    assert distance(part[2][1:fps], part[0][1:fps]) < 0.3 * min(to_b1, to_b2)


def test_section_change_is_a_quick_morph_or_a_hard_cut(songs, G):
    song = songs["abab"][0]
    features = truth_features(song, fps=FPS, start_s=12.0, duration_s=8.0)  # the A -> B change at ~16 s
    change = int(np.flatnonzero(np.diff(features.section_index))[0]) + 1

    def steps(section_change):
        ws = walk_of(G, features, section_change=section_change, pulse_strength=0.0).batch(0, features.n_frames).ws
        return (ws[1:] - ws[:-1]).norm(dim=(1, 2)).numpy()  # steps[i]: frame i -> i + 1

    cut, morph = steps("cut"), steps("morph")
    assert np.argmax(cut) == change - 1 and cut[change - 1] > 5 * np.median(cut)  # one jump onto the downbeat
    window = morph[change - 8:change]
    assert morph[change - 1] < 0.6 * cut[change - 1]  # spread over several frames before it ...
    assert np.count_nonzero(window > 0.2 * window.max()) >= 3
    assert morph[change:change + 3].max() < 0.5 * cut[change - 1]  # ... and complete on the downbeat


def test_plan_counts_bars_like_the_whole_song_in_a_clip(songs):
    song = songs["abab"][0]
    whole = plan_walk(reactive_curves(truth_features(song, fps=FPS)), n_keyframes=8)
    clip = plan_walk(reactive_curves(truth_features(song, fps=FPS, start_s=20.0, duration_s=10.0)), n_keyframes=8)
    offset = 20 * FPS
    assert whole.labels == clip.labels == ["A", "B"]
    np.testing.assert_array_equal(whole.label[offset:offset + 150], clip.label)
    # the same bars and keyframes; only the loudness shaping inside a segment differs a little (a clip normalises
    # its own loudness and does not hear the part of a segment outside it)
    np.testing.assert_allclose(whole.positions[offset:offset + 150], clip.positions, atol=0.03)


def test_a_clip_inside_a_section_of_a_tempo_ramp_counts_the_songs_bars():
    # in an accelerando the bars between a section's start and a clip's start are longer than the clip's own: the
    # section's first bar comes from the analysis of the whole song, not from the clip's bar length
    song = truth_case("tempo_ramp")
    downbeats = song.downbeat_times_s
    song = dataclasses.replace(song, section_starts_s=np.array([0.0, downbeats[2], downbeats[9]]),
                               section_labels=["A", "B", "A"])
    start = round((float(downbeats[6]) + 0.3) * FPS) / FPS  # well inside B, on one of the whole song's frames
    # without the loudness shaping inside segments (a clip hears only its part of them): bars alone
    whole = plan_walk(reactive_curves(truth_features(song, fps=FPS)), n_keyframes=8, bar_shaping=0.0)
    clip = plan_walk(reactive_curves(truth_features(song, fps=FPS, start_s=start, duration_s=6.0)), n_keyframes=8,
                     bar_shaping=0.0)
    offset = int(round(start * FPS))
    seen = slice(offset, offset + clip.positions.shape[0])
    np.testing.assert_array_equal(whole.label[seen], clip.label)
    np.testing.assert_allclose(whole.positions[seen], clip.positions, atol=1e-6)


# ---------------------------------------------------------------- layers


def _drum_track(kind: str, seconds: float = 8.0, bpm: float = 120.0, sr: int = 22050):
    """Kick on every beat, or a hi-hat on every eighth note; truth beats and downbeats of a 4/4 grid."""
    from musicvideo.audio import synth
    from musicvideo.audio.groundtruth import TruthSong

    out = np.zeros(int(seconds * sr), np.float32)
    step = 60.0 / bpm / (1 if kind == "kick" else 2)
    sound = synth.kick_drum(sr) * 0.9 if kind == "kick" else synth.hihat(sr) * 0.6
    for t in np.arange(0.0, seconds - 0.3, step):
        i = int(round(t * sr))
        out[i:i + len(sound)] += sound[:len(out) - i]
    beats = np.arange(0.0, seconds - 0.3, 60.0 / bpm)
    return TruthSong(name=f"{kind}_only", samples=np.stack([out, out]), sample_rate=sr, beat_times_s=beats,
                     downbeat_times_s=beats[::4], beats_per_bar=4, section_starts_s=np.zeros(1),
                     section_labels=["A"], has_beat=True)


def test_kicks_move_the_coarse_layers_hats_the_fine_ones(G, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICVIDEO_CACHE_DIR", str(tmp_path))
    groups = layer_groups(G.num_ws).astype(bool)
    motion = {}
    for kind in ("kick", "hat"):
        walk = walk_of(G, truth_features(_drum_track(kind), fps=FPS), bars_per_keyframe=8)  # slow travel: see the drums
        ws = walk.batch(0, walk.n_frames).ws
        step = (ws[1:] - ws[:-1]).norm(dim=2).mean(dim=0).numpy()  # per layer
        motion[kind] = (step[groups[0]].mean(), step[groups[2]].mean())
    (kick_coarse, kick_fine), (hat_coarse, hat_fine) = motion["kick"], motion["hat"]
    assert kick_coarse > 1.3 * kick_fine, motion
    assert hat_fine > 1.3 * hat_coarse, motion


def test_layer_groups_split_coarse_middle_fine():
    mask = layer_groups(14)  # 256 px
    assert mask.sum(axis=0).tolist() == [1] * 14
    assert np.flatnonzero(mask[0]).tolist() == [0, 1, 2, 3] and np.flatnonzero(mask[1]).tolist() == [4, 5, 6, 7]
    for n in (4, 8, 10, 12, 16, 18):
        assert layer_groups(n).sum(axis=1).min() >= 1, n


def test_chroma_mode_pulls_the_middle_layers_only(songs, G):
    features = truth_features(songs["groove"][0], fps=FPS, duration_s=4.0)
    plain = walk_of(G, features).batch(0, 60).ws
    chroma = walk_of(G, features, chroma=True, chroma_strength=0.8).batch(0, 60).ws
    groups = layer_groups(G.num_ws).astype(bool)
    diff = (chroma - plain).abs().mean(dim=(0, 2)).numpy()
    assert diff[groups[1]].min() > 0 and diff[~groups[1]].max() == 0


# ---------------------------------------------------------------- determinism, frame ranges, seeds


def test_any_frame_range_gives_the_full_walks_latents_across_section_morphs(songs, G):
    features = truth_features(songs["abab"][0], fps=FPS, start_s=14.0, duration_s=6.0)
    for space in ("w", "z"):
        walk = walk_of(G, features, space=space)
        assert walk._morphing
        full = walk.batch(0, walk.n_frames).ws
        for size in (1, 7):
            assert torch.equal(torch.cat([b.ws for b in walk.batches(size)]), full), (space, size)
        again = walk_of(G, features, space=space)
        assert torch.equal(again.batch(20, 40).ws, full[20:40])


def test_two_songs_with_the_default_seed_start_on_different_images(songs, G, tmp_path, truth_analysis):
    config = dataclasses.replace(BASE, duration_s=0.2)
    assert config.seed is None
    first = {}
    for key in ("groove", "pad"):
        first[key] = read_frames(render(songs[key][1], output=tmp_path / f"{key}.mp4", config=config, generator=G,
                                        progress=False).path)[0].astype(np.float32)
    again = read_frames(render(songs["groove"][1], output=tmp_path / "again.mp4", config=config, generator=G,
                               progress=False).path)[0].astype(np.float32)
    assert np.abs(first["groove"] - first["pad"]).mean() > 10  # different songs, different images
    assert np.array_equal(again, first["groove"])  # the same song, the same image
    chosen = dataclasses.replace(config, seed=4)
    a = read_frames(render(songs["groove"][1], output=tmp_path / "a.mp4", config=chosen, generator=G,
                           progress=False).path)[0]
    b = read_frames(render(songs["pad"][1], output=tmp_path / "b.mp4", config=chosen, generator=G,
                           progress=False).path)[0]
    assert np.abs(a.astype(np.float32) - b).mean() < np.abs(first["groove"] - first["pad"]).mean()


# ---------------------------------------------------------------- knobs and styles


@pytest.mark.parametrize("name", ["calm", "default", "energetic", "cut"])
def test_named_styles_load_and_lie_under_the_config_file(name, tmp_path):
    config = load_config(style=name)
    assert isinstance(config.walk, WalkConfig)
    mine = tmp_path / "mine.toml"
    mine.write_text("[walk]\npulse_strength = 0.11\n")
    layered = load_config(mine, style=name)
    assert layered.walk.pulse_strength == 0.11
    assert layered.walk.section_change == config.walk.section_change  # the style's other knobs stay


def test_styles_differ_and_a_copied_style_file_works(tmp_path):
    calm, energetic, cut = (load_config(style=s) for s in ("calm", "energetic", "cut"))
    assert calm.walk.pulse_strength < energetic.walk.pulse_strength
    assert calm.walk.bars_per_keyframe > energetic.walk.bars_per_keyframe
    assert cut.walk.section_change == "cut"
    from importlib import resources

    copy = tmp_path / "my-style.toml"
    copy.write_text(resources.files("musicvideo").joinpath("styles", "calm.toml").read_text())
    assert load_config(style=str(copy)) == calm
    with pytest.raises(ConfigError, match="unknown style"):
        load_config(style="loud")


@pytest.mark.parametrize("bad", [dict(timing="beats"), dict(section_change="fade"), dict(bars_per_keyframe=-1),
                                 dict(bar_shaping=2.0), dict(chroma_strength=-0.1), dict(coarse_gain=-1.0)])
def test_bad_choreography_settings_are_config_errors(bad):
    with pytest.raises(ConfigError, match="walk."):
        WalkConfig(**bad)


@pytest.mark.parametrize("bad", [dict(downbeat_gain=0.5), dict(confidence_low=0.7, confidence_high=0.6),
                                 dict(character_min=2.0, character_max=1.0), dict(beat_attack_s=-0.1)])
def test_bad_curve_settings_are_config_errors(bad):
    with pytest.raises(ConfigError, match="curves"):
        CurveConfig(**bad)


def test_cli_render_takes_a_style_and_refuses_an_unknown_one(songs, tmp_path, capsys):
    from musicvideo.cli import main

    out = tmp_path / "calm.mp4"
    song = str(songs["groove"][1])
    assert main(["render", song, "-o", str(out), "--style", "calm", "--fps", "10", "--duration", "0.3",
                 "--device", "cpu", "--quiet"]) == 0
    assert out.is_file()
    assert main(["render", song, "-o", str(tmp_path / "x.mp4"), "--style", "loud", "--quiet"]) == 2
    assert "unknown style 'loud'" in capsys.readouterr().err
