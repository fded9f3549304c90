"""How close generated images are to the training images, with nothing downloaded: :func:`measure_quality`.

Three measures, the best one available is the headline (:attr:`QualityReport.name` says which):

``"fid"``
    Fréchet Inception Distance (Heusel et al. 2017): the Fréchet distance between Gaussians fitted to 2048-d
    Inception-v3 pool features of each set. Only when ``torchvision`` is importable *and* its ImageNet weights
    (``inception_v3_google-*.pth``) are already in ``torch.hub.get_dir()/checkpoints``; nothing is ever fetched.
    torchvision's port of the weights is close to, not identical with, the TensorFlow graph papers used, so the
    values are comparable between our runs, not with published figures. Like every FID, it is biased upwards for
    small sets: compare runs at the same number of images.
``"kid-d-features"``
    Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs") computed on features the caller
    supplies, in training our own discriminator's penultimate layer: the unbiased estimate of the squared MMD with
    the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets. Unbiased for
    independent sets, so a fresh sample of the same distribution scores about 0 at any size (and can go slightly
    below). The discriminator changes as it trains, so values are comparable within a snapshot, and as a trend.
``"colour-distance"``
    Always computed: the Hellinger distance between the two sets' 3-D colour histograms (8 x 8 x 8 RGB bins, 0..1)
    plus the distance between their per-channel CIE Lab means and standard deviations in units of 100 (the range
    of L). Blind to shapes, but it cannot be fooled by a discriminator that has learnt nothing.

Images are ``[N, C, H, W]`` tensors or arrays, uint8 in 0..255 or float in -1..1 (the generator's range); one
channel counts as grey.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

#: Colour histogram bins per RGB channel.
HIST_BINS = 8
#: Pixels sampled from each set for the colour statistics (enough for three significant digits).
COLOUR_PIXELS = 1 << 18
#: KID: random subsets, and the largest subset (NVlabs' metric uses 100 and 1000).
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
#: Images per Inception forward pass.
INCEPTION_BATCH = 32

FeatureFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class QualityReport:
    """One quality measurement; lower is better for every name.

    Attributes
    ----------
    name : {"fid", "kid-d-features", "colour-distance"}
        Which measure :attr:`value` is.
    value : float
    details : dict
        Every measure computed (``fid``, ``kid``, ``kid_std``, ``colour_distance``, ``colour_hist``,
        ``colour_moments``) and the set sizes (``n_real``, ``n_fake``).
    """

    name: str
    value: float
    details: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.name} {self.value:.4g}"


def measure_quality(real_images, fake_images, *, features: FeatureFn | None = None, use_inception: bool = True,
                    seed: int = 0) -> QualityReport:
    """Measure how far generated images are from real ones, with the best measure available offline.

    FID when Inception weights are on this machine (never downloaded), else KID on ``features``, else the colour
    distance; the colour distance is in :attr:`QualityReport.details` in every case.

    Parameters
    ----------
    real_images, fake_images : torch.Tensor or numpy.ndarray
        ``[N, C, H, W]``, uint8 0..255 or float -1..1; at least 2 images each. The sets may differ in size.
    features : callable, optional
        ``features(images) -> [N, F]`` for the KID: called once per set with all of it, float on the CPU with the
        images' own channels (uint8 mapped to -1..1, float passed as given); the training loop passes its
        discriminator's penultimate layer.
    use_inception : bool
        Compute the FID when the weights are available (False: never, for speed).
    seed : int
        Seeds the KID subsets and the colour pixel sample: the same inputs give the same report.

    Returns
    -------
    QualityReport

    Examples
    --------
    >>> report = measure_quality(reals, fakes, features=D.features)      # doctest: +SKIP
    >>> print(report)                                                      # doctest: +SKIP
    kid-d-features 0.0123
    """
    real, fake = _as_float_images(real_images, "real_images"), _as_float_images(fake_images, "fake_images")
    details: dict[str, float] = {"n_real": float(len(real)), "n_fake": float(len(fake))}
    hist, moments = colour_distance(real, fake, seed=seed)
    details.update(colour_distance=hist + moments, colour_hist=hist, colour_moments=moments)
    name, value = "colour-distance", hist + moments
    if features is not None:
        kid, kid_std = kernel_distance(_features(features, real_images), _features(features, fake_images), seed=seed)
        details.update(kid=kid, kid_std=kid_std)
        name, value = "kid-d-features", kid
    inception = find_inception_weights() if use_inception else None
    if inception is not None:
        net = _inception_network(inception)
        real_f, fake_f = _inception_features(net, real), _inception_features(net, fake)
        details["fid"] = frechet_distance(real_f, fake_f)
        details["kid_inception"], _ = kernel_distance(real_f, fake_f, seed=seed)
        name, value = "fid", details["fid"]
    return QualityReport(name=name, value=float(value), details=details)


# ---------------------------------------------------------------- the measures


def kernel_distance(real: np.ndarray, fake: np.ndarray, *, subsets: int = KID_SUBSETS,
                    subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> tuple[float, float]:
    """KID: the unbiased squared MMD between two feature sets with the cubic polynomial kernel, over subsets.

    ``k(x, y) = (x . y / d + 1) ** 3`` with ``d`` the feature dimension. For subsets ``X`` and ``Y`` of ``m``
    rows each, the estimate is ``sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
    - 2 sum_{i, j} k(x_i, y_j) / m^2``; it is averaged over ``subsets`` random subsets (drawn without
    replacement within each) of ``m = min(len(real), len(fake), subset_size)``; when that is all of both sets
    (equal sizes up to ``subset_size``, as in training's snapshots) one pass gives the same number.

    Parameters
    ----------
    real, fake : array_like
        ``[N, d]`` features.
    subsets, subset_size : int
    seed : int

    Returns
    -------
    tuple of float
        The mean over subsets, and its standard deviation across them.

    Notes
    -----
    The estimator assumes the two sets are independent. The very same rows in both (m = N) give
    ``-2 (mean k(x_i, x_i) - mean k(x_i, x_j)) / (m - 1)``: slightly negative, shrinking as 1/m.
    """
    x_all, y_all = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if x_all.ndim != 2 or y_all.ndim != 2 or x_all.shape[1] != y_all.shape[1]:
        raise ValueError(f"features must be [N, d] with the same d, got {x_all.shape} and {y_all.shape}")
    m = min(len(x_all), len(y_all), subset_size)
    if m < 2:
        raise ValueError("KID needs at least 2 feature rows in each set")
    d = x_all.shape[1]
    if m == len(x_all) == len(y_all):
        subsets = 1  # every subset is the whole of both sets: the sums do not depend on the order

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        k = a @ b.T / d + 1
        return k * k * k  # much faster than ** 3

    # the whole kernel matrices once when they are small, then each subset is a gather (no products, no powers)
    whole = len(x_all) * len(y_all) <= 4096 * 4096
    if whole:
        kxx_all, kyy_all, kxy_all = kernel(x_all, x_all), kernel(y_all, y_all), kernel(x_all, y_all)
    rng = np.random.default_rng(seed)
    estimates = np.empty(subsets)
    for s in range(subsets):
        ix = rng.choice(len(x_all), m, replace=False)
        iy = rng.choice(len(y_all), m, replace=False)
        if whole:
            kxx, kyy, kxy = kxx_all[np.ix_(ix, ix)], kyy_all[np.ix_(iy, iy)], kxy_all[np.ix_(ix, iy)]
        else:
            x, y = x_all[ix], y_all[iy]
            kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        estimates[s] = within - 2 * kxy.mean()
    return float(estimates.mean()), float(estimates.std())


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets (the FID's formula).

    ``|mu_r - mu_f|^2 + tr(S_r) + tr(S_f) - 2 tr((S_r S_f)^(1/2))``. The last trace is the sum of the square roots
    of the eigenvalues of ``S_r S_f`` (a product of two covariances: its eigenvalues are real and non-negative, up to
    rounding, which is clipped), which stays finite for the singular covariances of small sets where a matrix
    square root may not.

    Parameters
    ----------
    real, fake : array_like
        ``[N, d]`` features, N >= 2.

    Returns
    -------
    float
    """
    x, y = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    s_x, s_y = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    root_trace = np.sqrt(np.clip(np.linalg.eigvals(s_x @ s_y).real, 0, None)).sum()
    return float(np.sum((mu_x - mu_y) ** 2) + np.trace(s_x) + np.trace(s_y) - 2 * root_trace)


def colour_distance(real: torch.Tensor, fake: torch.Tensor, *, seed: int = 0) -> tuple[float, float]:
    """How far apart two image sets' colours are, ignoring where in the images they are.

    Parameters
    ----------
    real, fake : torch.Tensor
        ``[N, 3, H, W]`` float images in 0..1 (see :func:`measure_quality` for what it accepts).
    seed : int
        Seeds the pixel sample (at most :data:`COLOUR_PIXELS` per set).

    Returns
    -------
    tuple of float
        The Hellinger distance between the 3-D RGB histograms (0 = same, 1 = no colour in common), and the
        Euclidean distance between the per-channel Lab means and standard deviations divided by 100. Both are 0 for
        identical sets and symmetric in the two sets.
    """
    rng = np.random.default_rng(seed)
    pixels = [_sample_pixels(images, rng) for images in (real, fake)]
    hists = []
    for p in pixels:
        bins = np.minimum((p * HIST_BINS).astype(np.int64), HIST_BINS - 1)
        flat = (bins[:, 0] * HIST_BINS + bins[:, 1]) * HIST_BINS + bins[:, 2]
        hists.append(np.bincount(flat, minlength=HIST_BINS ** 3) / len(flat))
    overlap = float(np.sum(np.sqrt(hists[0] * hists[1])))
    hellinger = float(np.sqrt(max(0.0, 1.0 - overlap)))
    labs = [srgb_to_lab(p) for p in pixels]
    stats = [np.concatenate([lab.mean(axis=0), lab.std(axis=0)]) for lab in labs]
    return hellinger, float(np.linalg.norm(stats[0] - stats[1]) / 100.0)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in 0..1 (``[..., 3]``) to CIE L*a*b* (D65 white), L in 0..100: OpenCV's conversion, the one
    :mod:`musicvideo.select` measures colours with."""
    import cv2

    rgb = np.ascontiguousarray(rgb, np.float32)
    return cv2.cvtColor(rgb.reshape(1, -1, 3), cv2.COLOR_RGB2LAB).reshape(rgb.shape).astype(np.float64)


# ---------------------------------------------------------------- inputs


def _as_float_images(images, what: str) -> torch.Tensor:
    """``[N, 3, H, W]`` float32 in 0..1 on the CPU, from uint8 0..255 or float -1..1, grey repeated to RGB."""
    t = torch.as_tensor(images).detach().cpu()
    if t.ndim != 4 or t.shape[1] not in (1, 3) or len(t) < 2:
        raise ValueError(f"{what} must be [N, 1 or 3, H, W] with N >= 2, got {tuple(t.shape)}")
    t = t.float() / 255.0 if t.dtype == torch.uint8 else (t.float().clamp(-1, 1) + 1) / 2
    return t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t


def _sample_pixels(images: torch.Tensor, rng: np.random.Generator) -> np.ndarray:
    flat = images.permute(0, 2, 3, 1).reshape(-1, 3)
    if len(flat) > COLOUR_PIXELS:
        flat = flat[torch.from_numpy(np.sort(rng.choice(len(flat), COLOUR_PIXELS, replace=False)))]
    return flat.numpy().astype(np.float64)


def _features(fn: FeatureFn, images) -> np.ndarray:
    """``fn`` on the images as the network saw them in training: float -1..1, their own channels, not clamped."""
    t = torch.as_tensor(images).detach().cpu()
    t = t.float() / 127.5 - 1 if t.dtype == torch.uint8 else t.float()
    with torch.no_grad():
        out = torch.as_tensor(fn(t))
    return out.detach().float().cpu().reshape(len(t), -1).numpy()


# ---------------------------------------------------------------- Inception (only when it is on this machine)


def find_inception_weights() -> str | None:
    """The path of torchvision's Inception-v3 ImageNet weights if they are already downloaded and torchvision is
    importable, else None. Never downloads."""
    try:
        import torchvision  # noqa: F401  (optional: not a dependency)
    except ImportError:
        return None
    found = sorted(glob.glob(os.path.join(torch.hub.get_dir(), "checkpoints", "inception_v3_google-*.pth")))
    return found[-1] if found else None


def _inception_network(weights_path: str) -> torch.nn.Module:
    import torchvision

    # transform_input=False: we feed -1..1 ourselves, which is what transform_input makes of ImageNet-normalised
    # input for these (Google's) weights
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=False)
    net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    net.fc = torch.nn.Identity()  # the 2048-d pool features
    return net.eval()


def _inception_features(net: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(images), INCEPTION_BATCH):
            x = images[i:i + INCEPTION_BATCH] * 2 - 1
            x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            out.append(net(x).double())
    return torch.cat(out).numpy()
