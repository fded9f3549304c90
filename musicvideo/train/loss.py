"""The StyleGAN2 objective: non-saturating logistic losses, lazy R1, style mixing, optional path-length penalty.

The training loop owns the optimisers and the schedule; this module only turns a batch into a scalar loss per
phase, as NVlabs stylegan2-ada-pytorch's ``training/loss.py`` does:

- ``generator_loss``: ``softplus(-D(aug(G(z))))``, i.e. ``-log sigmoid`` of the fake logits (non-saturating).
- ``discriminator_loss``: ``softplus(D(aug(G(z)))) + softplus(-D(aug(x)))`` (fakes made without gradients).
- ``r1_loss``: ``gamma / 2 * |d D(aug(x)) / d x|^2`` on reals, run every ``r1_interval`` D steps and multiplied by
  the interval (lazy regularisation: the same expected strength for 1/16 of the cost). Use
  :func:`lazy_adam_hparams` for the optimiser that steps after it, as NVlabs does.
- style mixing: with probability 0.9 a batch's ws switch from one z's w to another's at a random layer.
- ``w_avg``: while G is in training mode every mapping of the first z moves ``mapping.w_avg`` towards the batch mean
  (beta 0.995, NVlabs' tracking), so truncation works on the trained network; the EMA copy of G takes it with the
  other buffers.

Everything goes through the augmentation pipe when one is given (reals and fakes alike, with gradients to G).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["StyleGAN2Loss", "lazy_adam_hparams"]


def lazy_adam_hparams(lr: float, betas: tuple[float, float], interval: int) -> tuple[float, tuple[float, float]]:
    """Adam settings for a network whose regulariser runs every ``interval`` steps (NVlabs' ``mb_ratio``).

    The optimiser steps ``interval + 1`` times per ``interval`` minibatches, so the learning rate is scaled by
    ``r = interval / (interval + 1)`` and each beta raised to ``r``, keeping the per-minibatch dynamics unchanged.

    Parameters
    ----------
    lr : float
        Learning rate without lazy regularisation.
    betas : tuple of float
        Adam betas without lazy regularisation.
    interval : int
        Steps between regularisation passes (16 for D's R1).

    Returns
    -------
    tuple
        ``(lr, betas)`` to build the optimiser with.
    """
    r = interval / (interval + 1)
    return lr * r, (betas[0] ** r, betas[1] ** r)


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return getattr(module, "module", module)


class StyleGAN2Loss:
    """The losses of one StyleGAN2(-ADA) training step.

    Parameters
    ----------
    G : Generator
        Our StyleGAN2 generator (``musicvideo.generator.stylegan2.Generator``) or anything with ``mapping`` and
        ``synthesis`` (each may be wrapped in DistributedDataParallel) and ``mapping.w_avg``.
    D : Discriminator
        ``musicvideo.train.discriminator.Discriminator`` (or a DDP wrapper of one).
    augment_pipe : AugmentPipe or None
        Applied to every image D sees.
    r1_gamma : float
        R1 weight (NVlabs' ``--gamma``; 10 for StyleGAN2 at 1024 px, ``0.0002 * res**2 / batch`` in their 'auto').
    style_mixing_prob : float
        Probability that a batch mixes two latents.
    r1_interval : int
        D steps between R1 passes; the penalty is multiplied by it.
    pl_weight : float
        Path-length regularisation weight; 0 (default) turns it off. It makes the w -> image map smoother (it
        helps projection and interpolation) but barely moves FID, and it costs a double backward through every
        modulated conv of G, a large share of a CPU step; NVlabs itself turns it off for small-data training
        ('cifar'), and the checkpoints people fine-tune already had it. 2 with ``pl_interval=4`` is StyleGAN2's.
    pl_interval : int
        G steps between path-length passes (the penalty is multiplied by it).
    pl_batch_shrink, pl_decay : int, float
        Path-length batch divisor and the decay of its running mean.
    w_avg_beta : float or None
        Decay of the ``w_avg`` tracking in training mode; None = leave ``w_avg`` alone.

    Attributes
    ----------
    d_real_signs : Tensor or None
        ``sign(D(real))`` [B] of the last :meth:`discriminator_loss` (detached), for
        ``AdaController.accumulate``.
    """

    def __init__(self, G: torch.nn.Module, D: torch.nn.Module, augment_pipe: torch.nn.Module | None = None, *,
                 r1_gamma: float = 10.0, style_mixing_prob: float = 0.9, r1_interval: int = 16,
                 pl_weight: float = 0.0, pl_interval: int = 4, pl_batch_shrink: int = 2, pl_decay: float = 0.01,
                 w_avg_beta: float | None = 0.995) -> None:
        if r1_interval < 1 or pl_interval < 1 or pl_batch_shrink < 1:
            raise ValueError("r1_interval, pl_interval and pl_batch_shrink must be >= 1")
        if not 0 <= style_mixing_prob <= 1:
            raise ValueError(f"style_mixing_prob must be in [0, 1] (got {style_mixing_prob})")
        self.G, self.D, self.augment_pipe = G, D, augment_pipe
        self.r1_gamma, self.style_mixing_prob, self.r1_interval = float(r1_gamma), float(style_mixing_prob), r1_interval
        self.pl_weight, self.pl_interval = float(pl_weight), pl_interval
        self.pl_batch_shrink, self.pl_decay = pl_batch_shrink, float(pl_decay)
        self.w_avg_beta = w_avg_beta
        self.pl_mean = torch.zeros([])
        self.d_real_signs: torch.Tensor | None = None

    # ------------------------------------------------------------------------------------------ forward passes

    def run_G(self, z: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """z (and c) -> (images [B, C, H, W], ws [B, num_ws, w_dim]) with style mixing and random noise."""
        mapping = self.G.mapping
        ws = mapping(z, c, truncation_psi=1)
        self._track_w_avg(ws)
        num_ws = ws.shape[1]
        if self.style_mixing_prob > 0 and num_ws > 1 and float(torch.rand([])) < self.style_mixing_prob:
            cutoff = int(torch.randint(1, num_ws, []))
            ws2 = mapping(torch.randn_like(z), c, truncation_psi=1)  # not tracked: NVlabs' skip_w_avg_update
            ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return self.G.synthesis(ws, noise_mode="random"), ws

    def _track_w_avg(self, ws: torch.Tensor) -> None:
        mapping = _unwrap(self.G.mapping)
        if self.w_avg_beta is None or not mapping.training:
            return
        with torch.no_grad():
            batch_mean = ws[:, 0].detach().float().mean(dim=0)
            mapping.w_avg.copy_(batch_mean.lerp(mapping.w_avg, self.w_avg_beta))

    def run_D(self, img: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """Images (augmented first, if there is a pipe) -> logits [B, 1]."""
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return self.D(img, c)

    # ------------------------------------------------------------------------------------------ losses

    def generator_loss(self, gen_z: torch.Tensor, gen_c: torch.Tensor | None) -> torch.Tensor:
        """Non-saturating G loss: mean ``softplus(-D(G(z)))`` (= ``-log sigmoid(D(G(z)))``).

        Parameters
        ----------
        gen_z : Tensor
            [B, z_dim] latents.
        gen_c : Tensor or None
            [B, c_dim] labels (None for unconditional networks).

        Returns
        -------
        Tensor
            Scalar; its gradients reach G through D (and the augment pipe).
        """
        gen_img, _ = self.run_G(gen_z, gen_c)
        return F.softplus(-self.run_D(gen_img, gen_c)).mean()

    def discriminator_loss(self, real_img: torch.Tensor, real_c: torch.Tensor | None, gen_z: torch.Tensor,
                           gen_c: torch.Tensor | None) -> torch.Tensor:
        """D's logistic loss: mean ``softplus(D(G(z)))`` + mean ``softplus(-D(x))``; records ``d_real_signs``.

        Parameters
        ----------
        real_img : Tensor
            [B, C, H, W] training images in [-1, 1].
        real_c : Tensor or None
            Their labels.
        gen_z, gen_c : Tensor
            Latents (and labels) for the fakes; G runs without gradients here.

        Returns
        -------
        Tensor
            Scalar.
        """
        with torch.no_grad():
            gen_img, _ = self.run_G(gen_z, gen_c)
        loss_fake = F.softplus(self.run_D(gen_img, gen_c)).mean()
        real_logits = self.run_D(real_img.detach(), real_c)
        self.d_real_signs = real_logits.detach().sign().flatten()
        return loss_fake + F.softplus(-real_logits).mean()

    def r1_loss(self, real_img: torch.Tensor, real_c: torch.Tensor | None) -> torch.Tensor:
        """Lazy R1: ``r1_interval * gamma / 2 * mean_b |d D(aug(x_b)) / d x_b|^2`` (gradients w.r.t. the images).

        Parameters
        ----------
        real_img : Tensor
            [B, C, H, W] training images.
        real_c : Tensor or None
            Their labels.

        Returns
        -------
        Tensor
            Scalar with a graph through D's parameters (a double backward). Every D parameter takes part (the
            logits enter with weight 0), so DistributedDataParallel sees them all.
        """
        x = real_img.detach().requires_grad_(True)
        logits = self.run_D(x, real_c)
        (grad,) = torch.autograd.grad(outputs=[logits.sum()], inputs=[x], create_graph=True)
        penalty = grad.square().sum(dim=[1, 2, 3])
        return (penalty * (self.r1_gamma / 2)).mean() * self.r1_interval + logits.mean() * 0

    def pl_loss(self, gen_z: torch.Tensor, gen_c: torch.Tensor | None) -> torch.Tensor:
        """Path-length penalty ``pl_interval * pl_weight * (|J^T y| - a)^2`` (0 when ``pl_weight`` is 0).

        ``J`` is the Jacobian of the image w.r.t. ws, ``y`` image-sized noise scaled by ``1/sqrt(H W)``, ``a`` the
        running mean of the lengths (decay ``pl_decay``), on ``B / pl_batch_shrink`` samples, as in StyleGAN2.
        """
        if self.pl_weight == 0:
            return gen_z.new_zeros([])
        n = max(gen_z.shape[0] // self.pl_batch_shrink, 1)
        img, ws = self.run_G(gen_z[:n], None if gen_c is None else gen_c[:n])
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad(outputs=[(img * noise).sum()], inputs=[ws], create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
        pl_mean = self.pl_mean.to(lengths.device).lerp(lengths.mean(), self.pl_decay)
        self.pl_mean = pl_mean.detach()
        penalty = (lengths - pl_mean).square()
        return (penalty * self.pl_weight).mean() * self.pl_interval + img[:, 0, 0, 0].mean() * 0

    def r1_due(self, d_step: int) -> bool:
        """Whether D step number ``d_step`` (counting from 0) runs the R1 pass."""
        return d_step % self.r1_interval == 0
