"""The training quality signal: KID on supplied features, the colour distance, the FID formula, which is chosen."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import musicvideo.train.quality as quality
from musicvideo.train.quality import (QualityReport, colour_distance, find_inception_weights, frechet_distance,
                                      kernel_distance, measure_quality)


def _shapes(n, *, seed, size=16):
    """Images of random discs and bars on random backgrounds, float -1..1, [n, 3, size, size]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    out = np.empty((n, 3, size, size))
    for i in range(n):
        out[i] = rng.uniform(-1, 0, (3, 1, 1))
        cy, cx, r = rng.uniform(3, size - 3, 2).tolist() + [rng.uniform(2, size / 3)]
        disc = (y - cy) ** 2 + (x - cx) ** 2 < r * r
        out[i][:, disc] = rng.uniform(0, 1, (3, 1))
        row = rng.integers(0, size - 2)
        out[i][:, row:row + 2, :] = rng.uniform(-1, 1, (3, 1, 1))
    return torch.from_numpy(out).float()


def _shifted(images, amount):
    """Brighter by ``amount`` (of the -1..1 range) and a little tinted."""
    tint = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    return (images + amount * (1 + tint)).clamp(-1, 1)


_PROJECTION = torch.from_numpy(np.random.default_rng(5).normal(size=(3 * 4 * 4, 32))).float()
_calls = []


def _features(images):
    """A fixed 'network': 4x4 average pooling, a random projection, tanh (the loop passes D's features)."""
    _calls.append((tuple(images.shape), float(images.min()), float(images.max())))
    pooled = torch.nn.functional.adaptive_avg_pool2d(images, 4).flatten(1)
    return torch.tanh(pooled @ _PROJECTION / 4)


def test_kid_matches_the_formula_and_is_zero_for_samples_of_one_distribution():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 0.5
    kid, std = kernel_distance(x, y, subsets=1)  # one subset of all rows: the order does not matter
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    m = 6
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m ** 2
    assert kid == pytest.approx(xx + yy - 2 * xy, rel=1e-12) and std == 0
    # the very same rows in both sets: -2 (mean diagonal - mean) / (m - 1)
    kxx = (x @ x.T / 3 + 1) ** 3
    itself, _ = kernel_distance(x, x, subsets=3)
    assert itself == pytest.approx(-2 * (np.trace(kxx) / m - kxx.mean()) / (m - 1), rel=1e-12)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    same, _ = kernel_distance(a, b)
    apart, _ = kernel_distance(a, b + 0.5)
    assert abs(same) < 0.02 * apart


def test_kid_on_features_zero_against_itself_grows_with_the_shift_symmetric_deterministic():
    real, other = _shapes(96, seed=1), _shapes(96, seed=2)
    itself = measure_quality(real, real, features=_features)
    same_kind = measure_quality(real, other, features=_features)
    assert itself.name == "kid-d-features"
    values = [measure_quality(real, _shifted(real, s), features=_features).value for s in (0.05, 0.1, 0.2, 0.4)]
    assert all(a < b for a, b in zip(values, values[1:])), values
    # the very same images: slightly negative (the estimator assumes independent sets), shrinking as 1/m
    assert itself.value <= 0 and abs(itself.value) < 0.2 * values[1]
    assert abs(same_kind.value) < 0.1 * values[1]  # a fresh sample of the same kind of image: about 0
    back = measure_quality(_shifted(real, 0.1), real, features=_features)
    assert back.value == pytest.approx(values[1], rel=1e-9)  # same sizes: exactly symmetric
    again = measure_quality(real, _shifted(real, 0.1), features=_features)
    assert again == measure_quality(real, _shifted(real, 0.1), features=_features)
    assert again.details["kid_std"] >= 0 and again.details["n_real"] == 96


def test_features_are_called_once_per_set_with_all_of_it_in_minus_one_to_one():
    _calls.clear()
    real = (_shapes(10, seed=3) * 127.5 + 127.5).round().to(torch.uint8)  # uint8 in: converted
    measure_quality(real, _shapes(7, seed=4), features=_features)
    assert [c[0] for c in _calls] == [(10, 3, 16, 16), (7, 3, 16, 16)]
    assert all(-1 <= lo and hi <= 1 for _, lo, hi in _calls)
    _calls.clear()
    fake = _shapes(7, seed=4) * 1.5  # a generator's output may overshoot: D saw it unclamped in training
    measure_quality(real, fake, features=_features)
    assert _calls[1][1] < -1 and _calls[1][2] > 1


def test_colour_distance_zero_against_itself_monotonic_symmetric():
    real = (_shapes(32, seed=6) + 1) / 2
    hist, moments = colour_distance(real, real)
    assert hist == 0 and moments == 0
    report = measure_quality(real * 2 - 1, real * 2 - 1)
    assert report.name == "colour-distance" and report.value == 0
    values = [measure_quality(real * 2 - 1, _shifted(real * 2 - 1, s)).value for s in (0.05, 0.1, 0.2, 0.4, 0.8)]
    assert all(a < b for a, b in zip(values, values[1:])), values
    swapped = measure_quality(_shifted(real * 2 - 1, 0.2), real * 2 - 1)
    assert swapped.value == pytest.approx(values[2], rel=1e-12)
    # another sample of the same kind of image is much closer than a shifted one
    assert measure_quality(real * 2 - 1, _shapes(32, seed=7)).value < values[2]


def test_uint8_and_float_inputs_agree_and_grey_counts_as_rgb():
    real = (_shapes(8, seed=8) * 127.5 + 127.5).round()
    fake = (_shapes(8, seed=9) * 127.5 + 127.5).round()
    a = measure_quality(real.to(torch.uint8), fake.to(torch.uint8))
    b = measure_quality(real / 127.5 - 1, fake / 127.5 - 1)
    assert a.value == pytest.approx(b.value, abs=1e-6)
    grey = measure_quality(real[:, :1].to(torch.uint8), real[:, :1].repeat(1, 3, 1, 1).to(torch.uint8))
    assert grey.value == 0
    with pytest.raises(ValueError):
        measure_quality(real[:1], fake)


def test_frechet_distance_formula():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4))
    assert abs(frechet_distance(x, x)) < 1e-6
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert frechet_distance(x, x + shift) == pytest.approx(np.sum(shift ** 2), rel=1e-6)
    assert frechet_distance(x, 2 * x) > frechet_distance(x, 1.5 * x) > 0
    assert frechet_distance(x[:3], x[3:6]) >= 0  # singular covariances still give a number


def test_inception_weights_are_only_found_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("download attempted"))
    assert find_inception_weights() is None  # no weights here (and torchvision may not even be installed)
    real = _shapes(8, seed=1)
    assert measure_quality(real, real, features=_features).name == "kid-d-features"


def test_fid_is_the_headline_when_inception_is_available(monkeypatch):
    # stand-in network: the plumbing (features of both sets, FID first, KID and colour kept in details)
    monkeypatch.setattr(quality, "find_inception_weights", lambda: "/weights.pth")
    monkeypatch.setattr(quality, "_inception_network", lambda path: torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten()))
    real = _shapes(40, seed=1)
    itself = measure_quality(real, real, features=_features)
    shifted = measure_quality(real, _shifted(real, 0.3), features=_features)
    assert isinstance(shifted, QualityReport) and shifted.name == "fid" and str(shifted).startswith("fid ")
    assert abs(itself.value) < 1e-6 < shifted.value
    assert {"fid", "kid", "kid_inception", "colour_distance"} <= set(shifted.details)
    assert measure_quality(real, real, use_inception=False).name == "colour-distance"
