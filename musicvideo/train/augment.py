"""Adaptive discriminator augmentation (ADA, Karras et al. 2020): the 'bgc' pipeline and its p controller.

Every image D sees (real or fake) goes through :class:`AugmentPipe`: each of the 'bgc' operations (pixel blitting,
general geometry, colour) is applied to an image with probability ``p`` (times the operation's multiplier), with
NVlabs' ranges. Because the same distribution of augmentations hits reals and fakes, and each operation is skipped
with probability ``1 - p``, G cannot learn the augmentations (they do not "leak") as long as ``p`` stays below about
0.8. :class:`AdaController` adjusts ``p`` from how sure D is about the reals, ``r_t = E[sign(D(real))]``.

How the operations run, in plain torch:

- The geometric operations compose into one inverse 3x3 matrix per image (output pixel -> source pixel, in pixel
  units around the image centre). Images whose matrix only flips, turns by 90 degrees or shifts by whole pixels
  are moved exactly by an index gather (with reflection at the borders). The others are reflect-padded, up-sampled
  2x with the orthonormal symlet-6 low-pass, resampled with ``grid_sample`` (bilinear) and down-sampled 2x with the
  same filter; without a transform the round trip returns the image up to float rounding (orthonormal filter).
- The colour operations compose into one 4x4 matrix per image acting on (r, g, b, 1) in D's [-1, 1] range.
- Images that drew no operation are passed through untouched, so ``p = 0`` is exactly the identity.

All of it is differentiable w.r.t. the images, so G's gradients flow through, and twice differentiable for R1.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["AugmentPipe", "AdaController"]

# Daubechies' least-asymmetric wavelet with 6 vanishing moments ("sym6"): its low-pass filter is orthonormal to its
# own even shifts, so "up-sample with it, then down-sample with it" is the identity (tabulated in PyWavelets).
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148)


# ---------------------------------------------------------------------------------------------- matrices


def _stack(rows: list[list[Any]], like: torch.Tensor) -> torch.Tensor:
    """[B, n, n] matrices from rows of per-image [B] tensors and Python numbers."""
    flat = [e if isinstance(e, torch.Tensor) else torch.full_like(like, float(e)) for row in rows for e in row]
    return torch.stack(flat, dim=-1).reshape(like.shape[0], len(rows), len(rows[0]))


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    return _stack([[1, 0, tx], [0, 1, ty], [0, 0, 1]], tx)


def _scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    return _stack([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], sx)


def _rotate2d(theta: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    return _stack([[c, -s, 0], [s, c, 0], [0, 0, 1]], theta)


def _luma_axis(device: torch.device) -> torch.Tensor:
    return torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)


def _rotate3d(axis: tuple[float, float, float], theta: torch.Tensor) -> torch.Tensor:
    """Rotation by ``theta`` [B] around the unit ``axis``, homogeneous 4x4 (Rodrigues' formula)."""
    x, y, z = axis
    c, s = torch.cos(theta), torch.sin(theta)
    cc = 1 - c
    return _stack([[x * x * cc + c, x * y * cc - z * s, x * z * cc + y * s, 0],
                   [y * x * cc + z * s, y * y * cc + c, y * z * cc - x * s, 0],
                   [z * x * cc - y * s, z * y * cc + x * s, z * z * cc + c, 0],
                   [0, 0, 0, 1]], theta)


# ---------------------------------------------------------------------------------------------- resampling


def _filter_axis(x: torch.Tensor, taps: torch.Tensor, dim: int, up: bool) -> torch.Tensor:
    """Along height (dim 2) or width (dim 3): up (zero insertion + full convolution with ``taps``, length 2n + L - 2)
    or down (correlation with ``taps`` at stride 2, length (n - L) // 2 + 1)."""
    c = x.shape[1]
    shape = (1, 1, taps.numel(), 1) if dim == 2 else (1, 1, 1, taps.numel())
    w = taps.to(x.dtype).reshape(shape).expand(c, -1, -1, -1)
    stride = (2, 1) if dim == 2 else (1, 2)
    if up:
        return F.conv_transpose2d(x, w, stride=stride, groups=c)
    return F.conv2d(x, w, stride=stride, groups=c)


def _warp(images: torch.Tensor, G_inv: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Resample each image at ``G_inv @ (u, v, 1)`` for every output pixel (u, v) (centred pixel coordinates).

    Reflect-pad enough for the transform and the filters, up-sample 2x, bilinear ``grid_sample``, down-sample 2x.
    Up-sampling puts input sample i at index 2 i + d of the long signal and down-sampling reads output sample j
    around 2 j + d, where d is the filter's centre of mass (its delay): the grid maps between the two with that
    same d, so a flip or a turn is centred even though the symlet is not symmetric.
    """
    b, c, h, w = images.shape
    L = taps.numel()
    delay = float((torch.arange(L, dtype=torch.float64) * taps.double().cpu()).sum() / taps.double().sum())
    cx, cy = (w - 1) / 2, (h - 1) / 2
    corners = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], dtype=G_inv.dtype,
                           device=G_inv.device)
    src = (G_inv @ corners.t())[:, :2, :]                   # [B, xy, corner]
    centre = torch.tensor([cx, cy], device=src.device)
    reach = L / 2  # the two filters' support, in source pixels
    limit = torch.tensor([w - 1, h - 1], device=src.device)
    lo = ((-src).amax(dim=(0, 2)) - centre + reach).clamp(min=0).minimum(limit).ceil().int().tolist()
    hi = (src.amax(dim=(0, 2)) - centre + reach).clamp(min=0).minimum(limit).ceil().int().tolist()
    (mx0, my0), (mx1, my1) = lo, hi
    x = F.pad(images, [mx0, mx1, my0, my1], mode="reflect")
    x = _filter_axis(_filter_axis(x, taps, 2, up=True), taps, 3, up=True)
    n_y, n_x = x.shape[2], x.shape[3]
    m_y, m_x = 2 * h + L - 2, 2 * w + L - 2                 # what the down filter turns into h x w
    dev, dt = G_inv.device, G_inv.dtype
    # output long-signal index -> centred output pixel coordinate
    u = (torch.arange(m_x, device=dev, dtype=dt) - delay) / 2 - cx
    v = (torch.arange(m_y, device=dev, dtype=dt) - delay) / 2 - cy
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    pts = torch.stack([uu.flatten(), vv.flatten(), torch.ones_like(uu.flatten())])   # [3, M]
    src = G_inv @ pts                                       # [B, 3, M]
    # centred source coordinate -> padded long-signal index -> grid_sample's normalised coordinate
    n_in_x = 2 * (src[:, 0] + cx + mx0) + delay
    n_in_y = 2 * (src[:, 1] + cy + my0) + delay
    grid = torch.stack([(2 * n_in_x + 1) / n_x - 1, (2 * n_in_y + 1) / n_y - 1], dim=-1)
    grid = grid.reshape(b, m_y, m_x, 2).to(x.dtype)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return _filter_axis(_filter_axis(x, taps, 2, up=False), taps, 3, up=False)


def _reflect_index(i: torch.Tensor, n: int) -> torch.Tensor:
    """Integer coordinates reflected into [0, n - 1] as 'reflect' padding does (edge not repeated)."""
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = i.remainder(period)
    return torch.where(i > n - 1, period - i, i)


def _blit(images: torch.Tensor, G_inv: torch.Tensor) -> torch.Tensor:
    """Exact moves for matrices made of flips, 90-degree turns and whole-pixel shifts: a gather per image."""
    b, c, h, w = images.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    ys, xs = torch.meshgrid(torch.arange(h, device=images.device, dtype=G_inv.dtype),
                            torch.arange(w, device=images.device, dtype=G_inv.dtype), indexing="ij")
    pts = torch.stack([xs.flatten() - cx, ys.flatten() - cy, torch.ones(h * w, device=images.device,
                                                                        dtype=G_inv.dtype)])
    src = G_inv @ pts                                       # [B, 3, HW]
    sx = _reflect_index(torch.round(src[:, 0] + cx).long(), w)
    sy = _reflect_index(torch.round(src[:, 1] + cy).long(), h)
    idx = (sy * w + sx).unsqueeze(1).expand(b, c, h * w)
    return images.reshape(b, c, h * w).gather(2, idx).reshape(b, c, h, w)


# ---------------------------------------------------------------------------------------------- the pipe


class AugmentPipe(torch.nn.Module):
    """ADA's augmentations; by default NVlabs' 'bgc' set with NVlabs' ranges.

    Each keyword without a suffix is that operation's probability multiplier (0 = off); the effective probability
    per image is ``multiplier * p``. ``p`` is a buffer (saved with the state dict), set by :class:`AdaController`
    or by hand.

    Parameters
    ----------
    p : float
        Initial augmentation probability.
    xflip, rotate90, xint : float
        Pixel blitting: mirror (x-flip half the time), turn by k * 90 degrees, shift by whole pixels (up to
        ``xint_max`` of the size).
    scale, rotate, aniso, xfrac : float
        General geometry: isotropic scale (log2 std ``scale_std``), rotation before and after the anisotropic scale
        (uniform up to ``rotate_max`` * 180 degrees; each with probability ``1 - sqrt(1 - p)`` so that one of them
        happens with probability p), anisotropic scale (log2 std ``aniso_std``), sub-pixel shift (std ``xfrac_std``
        of the size).
    brightness, contrast, lumaflip, hue, saturation : float
        Colour: add N(0, ``brightness_std``), multiply by 2^N(0, ``contrast_std``), mirror the luma (grey axis),
        rotate hue around the grey axis (uniform up to ``hue_max`` * 180 degrees), scale the colour away from grey
        by 2^N(0, ``saturation_std``).

    Examples
    --------
    >>> pipe = AugmentPipe(p=0.0)
    >>> x = torch.rand(2, 3, 16, 16) * 2 - 1
    >>> torch.equal(pipe(x), x)
    True
    """

    def __init__(self, *, p: float = 0.0,
                 xflip: float = 1, rotate90: float = 1, xint: float = 1, xint_max: float = 0.125,
                 scale: float = 1, rotate: float = 1, aniso: float = 1, xfrac: float = 1,
                 scale_std: float = 0.2, rotate_max: float = 1, aniso_std: float = 0.2, xfrac_std: float = 0.125,
                 brightness: float = 1, contrast: float = 1, lumaflip: float = 1, hue: float = 1,
                 saturation: float = 1, brightness_std: float = 0.2, contrast_std: float = 0.5, hue_max: float = 1,
                 saturation_std: float = 1) -> None:
        super().__init__()
        self.register_buffer("p", torch.tensor(float(p)))
        self.xflip, self.rotate90, self.xint, self.xint_max = float(xflip), float(rotate90), float(xint), xint_max
        self.scale, self.rotate, self.aniso, self.xfrac = float(scale), float(rotate), float(aniso), float(xfrac)
        self.scale_std, self.rotate_max, self.aniso_std, self.xfrac_std = scale_std, rotate_max, aniso_std, xfrac_std
        self.brightness, self.contrast, self.lumaflip = float(brightness), float(contrast), float(lumaflip)
        self.hue, self.saturation = float(hue), float(saturation)
        self.brightness_std, self.contrast_std = brightness_std, contrast_std
        self.hue_max, self.saturation_std = hue_max, saturation_std
        self.register_buffer("taps", torch.tensor(SYM6), persistent=False)

    @classmethod
    def only(cls, *names: str, p: float = 1.0, **ranges: float) -> "AugmentPipe":
        """A pipe with just the named operations on (multiplier 1), e.g. ``AugmentPipe.only('xflip', p=1)``."""
        ops = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness", "contrast",
               "lumaflip", "hue", "saturation")
        unknown = set(names) - set(ops)
        if unknown:
            raise ValueError(f"unknown augmentations {sorted(unknown)} (known: {', '.join(ops)})")
        return cls(p=p, **{op: float(op in names) for op in ops}, **ranges)

    def _gate(self, mult: float, values: torch.Tensor, neutral: float, prob: torch.Tensor | None = None
              ) -> torch.Tensor:
        """Keep each image's drawn value with probability ``mult * p`` (or ``prob``), else the neutral value."""
        keep = torch.rand(values.shape[:1], device=values.device) < (mult * self.p if prob is None else prob)
        keep = keep.reshape(-1, *[1] * (values.ndim - 1))
        return torch.where(keep, values, torch.full_like(values, neutral))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, C, H, W] (C = 1 or 3, about [-1, 1]) -> augmented images, same shape and dtype."""
        assert images.ndim == 4, f"images must be [B, C, H, W], got {tuple(images.shape)}"
        b, c, h, w = images.shape
        dev = images.device
        one, zero = torch.ones(b, device=dev), torch.zeros(b, device=dev)

        # Pixel blitting (exact when nothing else applies).
        flip = self._gate(self.xflip, torch.floor(torch.rand(b, device=dev) * 2), 0)
        quarter = self._gate(self.rotate90, torch.floor(torch.rand(b, device=dev) * 4), 0)
        shift = self._gate(self.xint, (torch.rand(b, 2, device=dev) * 2 - 1) * self.xint_max, 0)
        tx, ty = torch.round(shift[:, 0] * w), torch.round(shift[:, 1] * h)
        G_blit = _scale2d(1 - 2 * flip, one) @ _rotate2d(math.pi / 2 * quarter) @ _translate2d(-tx, -ty)
        blit = (flip != 0) | (quarter != 0) | (tx != 0) | (ty != 0)

        # General geometry: output -> source, so every step is the inverse of the forward transform.
        s = self._gate(self.scale, torch.exp2(torch.randn(b, device=dev) * self.scale_std), 1)
        p_rot = 1 - torch.sqrt((1 - self.rotate * self.p).clamp(0, 1))
        pre = self._gate(self.rotate, (torch.rand(b, device=dev) * 2 - 1) * math.pi * self.rotate_max, 0, p_rot)
        a = self._gate(self.aniso, torch.exp2(torch.randn(b, device=dev) * self.aniso_std), 1)
        post = self._gate(self.rotate, (torch.rand(b, device=dev) * 2 - 1) * math.pi * self.rotate_max, 0, p_rot)
        frac = self._gate(self.xfrac, torch.randn(b, 2, device=dev) * self.xfrac_std, 0)
        G_geom = (_scale2d(1 / s, 1 / s) @ _rotate2d(pre) @ _scale2d(1 / a, a) @ _rotate2d(post)
                  @ _translate2d(-frac[:, 0] * w, -frac[:, 1] * h))
        geom = (s != 1) | (pre != 0) | (a != 1) | (post != 0) | (frac != 0).any(dim=1)

        out = images
        sel = torch.nonzero(geom).flatten()
        if sel.numel():
            G_inv = (G_blit @ G_geom)[sel]
            out = out.index_put((sel,), _warp(images[sel].float(), G_inv, self.taps).to(images.dtype))
        sel = torch.nonzero(blit & ~geom).flatten()
        if sel.numel():
            out = out.index_put((sel,), _blit(images[sel], G_blit[sel]))

        # Colour: one 4x4 matrix per image acting on (r, g, b, 1).
        v = _luma_axis(dev)
        vv = torch.outer(v, v)
        eye = torch.eye(4, device=dev).expand(b, 4, 4)
        bright = self._gate(self.brightness, torch.randn(b, device=dev) * self.brightness_std, 0)
        con = self._gate(self.contrast, torch.exp2(torch.randn(b, device=dev) * self.contrast_std), 1)
        luma = self._gate(self.lumaflip, torch.floor(torch.rand(b, device=dev) * 2), 0)
        hue = self._gate(self.hue, (torch.rand(b, device=dev) * 2 - 1) * math.pi * self.hue_max, 0) if c > 1 \
            else zero
        sat = self._gate(self.saturation, torch.exp2(torch.randn(b, device=dev) * self.saturation_std), 1) if c > 1 \
            else one
        C = _translate3d(bright) @ eye
        C = _stack([[con, 0, 0, 0], [0, con, 0, 0], [0, 0, con, 0], [0, 0, 0, 1]], con) @ C
        C = (eye - 2 * vv * luma.reshape(b, 1, 1)) @ C
        C = _rotate3d((1 / math.sqrt(3),) * 3, hue) @ C
        C = (vv + (eye - vv) * sat.reshape(b, 1, 1)) @ C
        colour = (bright != 0) | (con != 1) | (luma != 0) | (hue != 0) | (sat != 1)
        sel = torch.nonzero(colour).flatten()
        if sel.numel():
            out = out.index_put((sel,), _recolour(out[sel], C[sel]))
        return out


def _translate3d(t: torch.Tensor) -> torch.Tensor:
    return _stack([[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]], t)


def _recolour(images: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Apply per-image 4x4 colour matrices; grey images take the mean of the RGB rows (NVlabs' rule)."""
    b, c, h, w = images.shape
    x = images.reshape(b, c, h * w)
    C = C.to(images.dtype)
    if c == 3:
        x = C[:, :3, :3] @ x + C[:, :3, 3:]
    elif c == 1:
        row = C[:, :3, :].mean(dim=1, keepdim=True)       # [B, 1, 4]
        x = x * row[:, :, :3].sum(dim=2, keepdim=True) + row[:, :, 3:]
    else:
        raise ValueError(f"colour augmentation needs 1 or 3 channels, not {c}")
    return x.reshape(b, c, h, w)


# ---------------------------------------------------------------------------------------------- controller


class AdaController:
    """ADA's heuristic for ``p``: raise it while D is too sure about the reals, lower it otherwise.

    Collect ``sign(D(real))`` after every D step with :meth:`accumulate`; every ``interval`` steps call
    :meth:`update`: ``r_t`` = mean of the collected signs (over all processes under torch.distributed) and
    ``p += sign(r_t - target) * batch_size * k / (adjust_kimg * 1000)`` for the ``k`` steps collected, clamped to
    [0, 1], so ``p`` can move by 1 in ``adjust_kimg`` thousand images. :meth:`step` does both on the schedule.

    Parameters
    ----------
    target : float
        Wanted ``r_t`` (0.6 in the paper).
    adjust_kimg : float
        Thousands of images for ``p`` to move by 1 (500).
    batch_size : int
        Images per training step, over all processes.
    interval : int
        Steps between adjustments for :meth:`step` (4, NVlabs' ``ada_interval``).
    augment_pipe : AugmentPipe or None
        Its ``p`` buffer is overwritten at each adjustment.
    p : float
        Starting value (``augment_pipe.p`` when a pipe is given).
    """

    def __init__(self, *, target: float = 0.6, adjust_kimg: float = 500, batch_size: int, interval: int = 4,
                 augment_pipe: AugmentPipe | None = None, p: float | None = None) -> None:
        if batch_size < 1 or interval < 1 or adjust_kimg <= 0:
            raise ValueError("batch_size and interval must be >= 1 and adjust_kimg > 0")
        self.target, self.adjust_kimg, self.batch_size, self.interval = target, adjust_kimg, batch_size, interval
        self.augment_pipe = augment_pipe
        if p is None:
            p = float(augment_pipe.p) if augment_pipe is not None else 0.0
        self.p = float(p)
        self.rt: float | None = None
        self._sum: torch.Tensor | None = None   # [sum of signs, number of signs], on the signs' device
        self._steps = 0                         # accumulate() calls since the last update()
        self._apply(augment_pipe)

    def _apply(self, pipe: AugmentPipe | None) -> None:
        if pipe is not None:
            pipe.p.fill_(self.p)

    def accumulate(self, signs: torch.Tensor) -> None:
        """Collect one step's ``sign(D(real))`` (any shape; no device sync)."""
        signs = signs.detach().float().flatten()
        total = torch.stack([signs.sum(), torch.tensor(float(signs.numel()), device=signs.device)])
        self._sum = total if self._sum is None else self._sum + total
        self._steps += 1

    def update(self, augment_pipe: AugmentPipe | None = None) -> float:
        """Adjust ``p`` from what was collected since the last call and write it to the pipe(s).

        Parameters
        ----------
        augment_pipe : AugmentPipe or None
            Also set this pipe's ``p`` (besides the one given to the constructor).

        Returns
        -------
        float
            The new ``p`` (unchanged when nothing was collected).
        """
        if self._sum is not None:
            acc = self._sum
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(acc)  # a ratio: signs gathered by the caller as well do no harm
            s, n = acc.tolist()
            if n > 0:
                self.rt = s / n
                step = self.batch_size * self._steps / (self.adjust_kimg * 1000)
                direction = (self.rt > self.target) - (self.rt < self.target)
                self.p = min(max(self.p + direction * step, 0.0), 1.0)
        self._sum, self._steps = None, 0
        self._apply(self.augment_pipe)
        self._apply(augment_pipe)
        return self.p

    def step(self, signs: torch.Tensor) -> float:
        """:meth:`accumulate`, then :meth:`update` once ``interval`` steps are collected; returns ``p``."""
        self.accumulate(signs)
        if self._steps >= self.interval:
            self.update()
        return self.p

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (the partial sums of the current interval included)."""
        return {"p": self.p, "rt": self.rt, "steps": self._steps,
                "sum": None if self._sum is None else self._sum.cpu().tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s values (and the pipe's ``p``)."""
        self.p, self.rt, self._steps = float(state["p"]), state.get("rt"), int(state["steps"])
        self._sum = None if state.get("sum") is None else torch.tensor(state["sum"])
        self._apply(self.augment_pipe)
