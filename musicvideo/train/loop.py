"""``musicvideo train``: StyleGAN2-ADA training in plain torch, resumable bit for bit, fine-tuning any checkpoint.

One step (NVlabs' phases, all on ``batch / world_size`` images per rank):

1. G: non-saturating loss on fakes (style mixing, through the augment pipe), one Adam step.
2. D: logistic loss on fakes and reals, one Adam step; the signs of D(real) feed the ADA controller.
3. every ``r1_interval`` steps: lazy R1 on reals, one more D step (Adam's lr and betas corrected for it, as NVlabs).
4. G_ema follows G with a half-life of ``ema_kimg`` thousand images; ADA adjusts p every 4 steps.

Every ``snap_kimg`` (and at the start, the end and on Ctrl-C/SIGTERM) :mod:`.snapshot` writes the native
generator, a sample grid, the training state and a log line with the quality signal. The random generators, the
data order, the optimisers and the augmentation state are all in the training state, so on the CPU a resumed run
continues exactly as if it had never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..errors import MusicVideoError
from . import distributed as dist
from . import snapshot as snap
from .networks import build_networks, restore_networks

#: Adam's settings for both networks (NVlabs' StyleGAN2-ADA).
ADAM_BETAS = (0.0, 0.99)
ADAM_EPS = 1e-8
ADA_INTERVAL = 4          # steps between p adjustments


@dataclass
class TrainConfig:
    """The settings of a training run (``musicvideo train`` flags). None = NVlabs' ``auto`` rule for the data.

    On ``--resume`` the saved run's settings win, except ``kimg``, ``snap_kimg`` (when given), ``device`` and
    ``workers``.
    """

    kimg: float | None = None         # length of the run in thousands of real images shown (None: 1000 / as saved)
    batch: int | None = None          # images per step over all processes (None: min(4096 // res, 32), at most 64)
    snap_kimg: float | None = None    # snapshot interval in kimg (None: 10 / as saved)
    seed: int = 0                     # seeds G/D init (fresh networks), the data order, z's and augmentations
    freeze_d: int = 0                 # freeze D's first K blocks (the highest resolutions): FreezeD fine-tuning
    gamma: float | None = None        # R1 weight (None: 0.0002 * res**2 / batch)
    lr: float = 0.0025                # Adam learning rate of G
    lr_d: float | None = None         # Adam learning rate of D (None: lr)
    mirror: bool = False              # add x-flipped copies of the data
    augment: str = "ada"              # 'ada' (adaptive p) or 'off'
    ada_target: float = 0.6           # the ADA overfitting heuristic's target
    ada_kimg: float = 500.0           # kimg for p to go 0 -> 1 at most
    ema_kimg: float | None = None     # G_ema half-life in kimg (None: batch * 10 / 32)
    ema_rampup: float | None = None   # ema_kimg grows as nimg * rampup (None: 0.05 fresh, off with --from)
    r1_interval: int = 16             # lazy regularisation interval of D
    style_mixing: float = 0.9         # style-mixing probability
    device: str = "auto"              # auto, cpu, cuda, cuda:N, mps
    workers: int | None = None        # data-loading processes (None: 3 on CUDA, 0 on the CPU)
    quality_images: int = 64          # real/fake images for the quality signal at each snapshot
    # a fresh generator (no --from): NVlabs' auto config for small data, smaller for quick CPU runs
    z_dim: int = 512
    w_dim: int = 512
    map_layers: int = 2
    cbase: int = 16384                # channels at resolution r: min(cbase // r, cmax)
    cmax: int = 512


@dataclass
class TrainResult:
    """What a finished (or stopped) run left behind."""

    run_dir: Path
    nimg: int                           # real images shown
    steps: int                          # optimiser steps taken (G)
    snapshot: Path | None               # the newest network snapshot (.safetensors)
    G_ema: torch.nn.Module              # the averaged generator, in memory
    log: list[dict[str, Any]]           # the records of log.jsonl

    @property
    def kimg(self) -> float:
        return self.nimg / 1000


@dataclass
class StepInfo:
    """Handed to ``on_step`` after every step (raise KeyboardInterrupt there to stop as Ctrl-C does)."""

    step: int
    nimg: int
    loss_G: float
    loss_D: float
    augment_p: float


# ------------------------------------------------------------------------------------------------ data order


class DataOrder:
    """The data order as a pure function of (seed, position): a fresh permutation per epoch.

    ``batch(k)`` are the dataset indices of global step ``k`` for one rank, so a resumed run only needs ``k``.
    """

    def __init__(self, size: int, seed: int, batch: int, info: dist.RankInfo) -> None:
        self.size, self.seed, self.batch, self.info = size, seed, batch, info
        self._cache: tuple[int, np.ndarray] | None = None

    def _epoch(self, epoch: int) -> np.ndarray:
        if self._cache is None or self._cache[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._cache = (epoch, rng.permutation(self.size))
        return self._cache[1]

    def batch_indices(self, step: int) -> list[int]:
        per_rank = self.batch // self.info.world_size
        start = step * self.batch + self.info.rank * per_rank
        out = []
        for pos in range(start, start + per_rank):
            epoch, i = divmod(pos, self.size)
            out.append(int(self._epoch(epoch)[i]))
        return out


class _BatchSampler(torch.utils.data.Sampler):
    """Steps ``start, start+1, ...`` of a :class:`DataOrder`, forever (for a DataLoader's ``batch_sampler``)."""

    def __init__(self, order: DataOrder, start: int) -> None:
        self.order, self.start = order, start

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start
        while True:
            yield self.order.batch_indices(step)
            step += 1

    def __len__(self) -> int:  # DataLoader asks; the stream is endless
        return 2**62


# ------------------------------------------------------------------------------------------------ signals


class _StopRequest:
    """The first SIGINT/SIGTERM/SIGHUP only asks the loop to stop after the current step (and snapshot); a
    second one interrupts at once."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def exception(self) -> KeyboardInterrupt:
        from ..signals import Terminated

        if self.signum in (None, signal.SIGINT):
            return KeyboardInterrupt()
        return Terminated(self.signum)


@contextlib.contextmanager
def _stop_at_step_boundary(enabled: bool) -> Iterator[_StopRequest]:
    request = _StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: object) -> None:
        if request.signum is not None:
            raise request.exception()  # the second signal: stop now
        request.signum = signum

    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, handler)
        yield request
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


# ------------------------------------------------------------------------------------------------ the trainer


class Trainer:
    """G, D, G_ema, their optimisers, the loss and the augmentation, and the counters; one :meth:`step` at a time.

    Built by :func:`train`; exposed for tests and benchmarks that drive steps themselves.
    """

    def __init__(self, nets: Any, config: TrainConfig, dataset: Any, device: torch.device,
                 info: dist.RankInfo) -> None:
        from .augment import AdaController, AugmentPipe
        from .loss import StyleGAN2Loss, lazy_adam_hparams

        self.config, self.dataset, self.device, self.info = config, dataset, device, info
        self.G, self.D, self.G_ema = nets.G.to(device), nets.D.to(device), nets.G_ema.to(device)
        self.frozen_d = nets.frozen_d
        self.provenance = nets.provenance
        self.batch_gpu = dist.split_batch(config.batch, info.world_size)
        self.augment_pipe = AugmentPipe().to(device) if config.augment == "ada" else None
        self.ada = (AdaController(target=config.ada_target, adjust_kimg=config.ada_kimg, batch_size=config.batch,
                                  interval=ADA_INTERVAL, augment_pipe=self.augment_pipe)
                    if self.augment_pipe is not None else None)
        # the loss also tracks G's w_avg (beta 0.995) while G is in training mode
        self.loss = StyleGAN2Loss(self.G, self.D, augment_pipe=self.augment_pipe, r1_gamma=config.gamma,
                                  style_mixing_prob=config.style_mixing, r1_interval=config.r1_interval)
        self.g_params = list(self.G.parameters())
        self.d_params = [p for name, p in self.D.named_parameters() if name.split(".")[0] not in self.frozen_d]
        # No path-length regulariser, so G takes no extra steps and needs no lazy correction; D does (R1).
        self.opt_G = torch.optim.Adam(self.g_params, lr=config.lr, betas=ADAM_BETAS, eps=ADAM_EPS)
        lr_d, betas_d = lazy_adam_hparams(config.lr_d or config.lr, ADAM_BETAS, config.r1_interval)
        self.opt_D = torch.optim.Adam(list(self.D.parameters()), lr=lr_d, betas=betas_d, eps=ADAM_EPS)
        self.labels = self._all_labels()
        self.step_count = 0
        self.nimg = 0
        self.ema_rampup = config.ema_rampup

    def _all_labels(self) -> torch.Tensor:
        """Every image's label [N, c_dim]: G's labels are drawn from the data's, as NVlabs does."""
        c_dim = getattr(self.dataset, "c_dim", 0)
        if not c_dim:
            return torch.zeros([1, 0])
        n = len(self.dataset.names)
        return torch.from_numpy(np.stack([self.dataset.label(i) for i in range(n)]))

    def _gen_c(self) -> torch.Tensor | None:
        if self.labels.shape[1] == 0:
            return None
        idx = torch.randint(len(self.labels), [self.batch_gpu])
        return self.labels[idx].to(self.device)

    def _gen_z(self) -> torch.Tensor:
        return torch.randn([self.batch_gpu, self.G.z_dim]).to(self.device)

    def _set_trainable(self, module: str) -> None:
        self.G.requires_grad_(module == "G")
        self.D.requires_grad_(False)
        if module == "D":
            for p in self.d_params:
                p.requires_grad_(True)

    def step(self, real_img: torch.Tensor, real_c: torch.Tensor) -> tuple[float, float]:
        """One training step on this rank's real images (uint8 [B, C, H, W]); returns (loss_G, loss_D)."""
        real_img = real_img.to(self.device, non_blocking=True).to(torch.float32) / 127.5 - 1
        real_c = real_c.to(self.device, non_blocking=True) if real_c.shape[1] else None

        self._set_trainable("G")
        gen_z, gen_c = self._gen_z(), self._gen_c()
        self.opt_G.zero_grad(set_to_none=True)
        loss_g = self.loss.generator_loss(gen_z, gen_c)
        loss_g.backward()
        dist.average_gradients(self.g_params, self.info)
        self.opt_G.step()

        self._set_trainable("D")
        gen_z, gen_c = self._gen_z(), self._gen_c()
        self.opt_D.zero_grad(set_to_none=True)
        loss_d = self.loss.discriminator_loss(real_img, real_c, gen_z, gen_c)
        loss_d.backward()
        dist.average_gradients(self.d_params, self.info)
        self.opt_D.step()
        if self.ada is not None:  # every ADA_INTERVAL steps it adjusts p (summing the signs over the ranks)
            self.ada.step(self.loss.d_real_signs)

        if self.loss.r1_due(self.step_count) and self.config.gamma > 0:
            self.opt_D.zero_grad(set_to_none=True)
            self.loss.r1_loss(real_img, real_c).backward()
            dist.average_gradients(self.d_params, self.info)
            self.opt_D.step()
        self._set_trainable("none")

        self.nimg += self.config.batch
        self.step_count += 1
        self._update_ema()
        return float(loss_g.detach()), float(loss_d.detach())

    def _update_ema(self) -> None:
        """G_ema <- lerp(G, G_ema, beta) with a half-life of ema_kimg thousand images; buffers copied."""
        ema_nimg = self.config.ema_kimg * 1000
        if self.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.nimg * self.ema_rampup)
        beta = 0.5 ** (self.config.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.detach().lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)

    @property
    def augment_p(self) -> float:
        return float(self.augment_pipe.p) if self.augment_pipe is not None else 0.0

    # -- the training state

    def state_dict(self, rng: list[dict[str, Any]]) -> dict[str, Any]:
        """Everything a resumed run needs (weights_only-safe: tensors, numbers, strings, lists, dicts)."""
        return {
            "format": "musicvideo.train", "version": 1,
            "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
            "G_config": dataclasses.asdict(self.G.config), "D_config": dataclasses.asdict(self.D.config),
            "frozen_d": list(self.frozen_d),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "augment_p": torch.tensor(self.augment_p),
            "ada": self.ada.state_dict() if self.ada is not None else None,
            "rng": rng, "nimg": self.nimg, "step": self.step_count, "ema_rampup": self.ema_rampup,
            "world_size": self.info.world_size, "config": dataclasses.asdict(self.config),
            "provenance": self.provenance,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore optimisers, augmentation and counters (the weights come in with the networks)."""
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        if self.augment_pipe is not None:
            self.augment_pipe.p.copy_(state["augment_p"])
            if state.get("ada") is not None:
                self.ada.load_state_dict(state["ada"])  # sets the pipe's p too
        self.nimg, self.step_count = int(state["nimg"]), int(state["step"])
        self.ema_rampup = state.get("ema_rampup")


# ------------------------------------------------------------------------------------------------ train()


def auto_config(config: TrainConfig, resolution: int, world_size: int) -> TrainConfig:
    """Fill the None fields with NVlabs' ``auto`` rules for this resolution: batch ``min(4096 // res, 32)`` per
    process (at most 64 in all), R1 gamma ``0.0002 * res**2 / batch``, G_ema half-life ``batch * 10 / 32`` kimg."""
    batch = config.batch or max(min(world_size * min(4096 // resolution, 32), 64), world_size)
    gamma = config.gamma if config.gamma is not None else 0.0002 * resolution**2 / batch
    ema_kimg = config.ema_kimg if config.ema_kimg is not None else batch * 10 / 32
    return dataclasses.replace(config, batch=batch, gamma=gamma, ema_kimg=ema_kimg)


def _check_run_dir(run_dir: Path, resume: bool) -> Path | None:
    if resume:
        state = snap.latest_training_state(run_dir)
        if state is None:
            raise snap.ResumeError(f"nothing to resume in {run_dir}: no training-state-*.pt there (check the "
                                   "folder, or start a new run without --resume)")
        return state
    if snap.has_run(run_dir):
        raise MusicVideoError(f"{run_dir} already holds a training run (continue it with --resume, or give "
                              "another -o folder)")
    if run_dir.exists() and not run_dir.is_dir():
        raise MusicVideoError(f"{run_dir} is a file, not a folder (give a folder for the run with -o)")
    return None


def train(data: str | Path, run_dir: str | Path, *, config: TrainConfig | None = None,
          from_checkpoint: str | Path | None = None, resume: bool = False, progress: bool = True,
          on_step: Callable[[StepInfo], None] | None = None, handle_signals: bool = True) -> TrainResult:
    """Train (or fine-tune) a StyleGAN2 generator on a dataset zip, writing snapshots into ``run_dir``.

    Parameters
    ----------
    data : str or Path
        A dataset zip (``musicvideo dataset``) or NVlabs-made zip/folder of same-size square images.
    run_dir : str or Path
        The run's folder (created); snapshots, sample grids and ``log.jsonl`` go there.
    config : TrainConfig, optional
        Length, batch, learning rates, augmentation...; None = defaults.
    from_checkpoint : str or Path, optional
        Start from this generator (any format ``load_checkpoint`` reads) and its discriminator when the file has
        one; its resolution must be the data's.
    resume : bool
        Continue the newest snapshot in ``run_dir`` (its settings win, except the given kimg and snap_kimg, and
        device and workers).
    progress : bool
        Show a progress bar (rank 0).
    on_step : callable, optional
        Called with a :class:`StepInfo` after every step; raising KeyboardInterrupt there stops the run as Ctrl-C.
    handle_signals : bool
        While training, the first SIGINT/SIGTERM/SIGHUP stops after the current step, writes a snapshot and raises
        KeyboardInterrupt (:class:`~musicvideo.signals.Terminated` for SIGTERM/SIGHUP); a second one stops at once.

    Returns
    -------
    TrainResult

    Raises
    ------
    MusicVideoError
        Bad data, a checkpoint that does not fit the data, ``--resume`` without a run, a full disk (one line each;
        the previous snapshot stays intact).
    KeyboardInterrupt
        After writing the snapshot for Ctrl-C / SIGTERM / an ``on_step`` that raised it.
    """
    from ..device import resolve_device
    from .dataset import ImageZipDataset

    config = config or TrainConfig()
    run_dir = Path(run_dir).expanduser()
    state_path = _check_run_dir(run_dir, resume)
    if resume and from_checkpoint is not None:
        raise MusicVideoError("--resume continues a run from its own snapshot; leave out --from")
    state = snap.load_training_state(state_path) if state_path is not None else None
    if state is not None:  # the saved run's settings, with this call's length, interval and machine
        saved = {k: v for k, v in state["config"].items() if k in {f.name for f in dataclasses.fields(TrainConfig)}}
        config = dataclasses.replace(TrainConfig(**saved), device=config.device, workers=config.workers,
                                     kimg=saved["kimg"] if config.kimg is None else config.kimg,
                                     snap_kimg=saved["snap_kimg"] if config.snap_kimg is None else config.snap_kimg)
    config = dataclasses.replace(config, kimg=1000.0 if config.kimg is None else config.kimg,
                                 snap_kimg=10.0 if config.snap_kimg is None else config.snap_kimg)

    if state is None and config.ema_rampup is None and from_checkpoint is None:
        config = dataclasses.replace(config, ema_rampup=0.05)  # NVlabs' auto: a fresh G_ema catches up fast
    info = dist.rank_from_env()
    device = resolve_device(config.device)
    if info.distributed and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    dist.setup(info, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes every step: let cuDNN pick its fastest kernels
    try:
        dataset = ImageZipDataset(data, xflip=config.mirror)
        config = auto_config(config, dataset.resolution, info.world_size)
        if state is None:
            torch.manual_seed(config.seed)  # fresh weights depend on the seed only
            nets = build_networks(config, dataset, from_checkpoint)
        else:
            nets = restore_networks(state, dataset)
        trainer = Trainer(nets, config, dataset, device, info)
        if state is not None:
            trainer.load_state_dict(state)
            rngs = state["rng"]
            snap.set_rng_state(rngs[info.rank] if info.rank < len(rngs) else rngs[0])
            if info.rank >= len(rngs):  # more processes than the saved run: give the new ones their own streams
                torch.manual_seed(config.seed * 1000 + info.rank + trainer.step_count)
        else:
            torch.manual_seed(config.seed * 1000 + info.rank)
            np.random.seed((config.seed * 1000 + info.rank) % 2**32)
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
        return _run(trainer, run_dir, nets.provenance, fresh=state is None, progress=progress, on_step=on_step,
                    handle_signals=handle_signals)
    finally:
        dist.teardown(info)


def batch_iterator(trainer: Trainer) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's (uint8 images, labels) batches from the trainer's current step on, endlessly."""
    cfg, info = trainer.config, trainer.info
    order = DataOrder(len(trainer.dataset), cfg.seed, cfg.batch, info)
    workers = cfg.workers if cfg.workers is not None else (3 if trainer.device.type == "cuda" else 0)
    loader = torch.utils.data.DataLoader(trainer.dataset, batch_sampler=_BatchSampler(order, trainer.step_count),
                                         num_workers=workers, pin_memory=trainer.device.type == "cuda",
                                         prefetch_factor=2 if workers else None, persistent_workers=False,
                                         # its own generator: creating the iterator must not draw from torch's
                                         # global one, or a resumed run would draw differently
                                         generator=torch.Generator().manual_seed(cfg.seed))
    return iter(loader)


def _run(trainer: Trainer, run_dir: Path, provenance: dict[str, Any], *, fresh: bool, progress: bool,
         on_step: Callable[[StepInfo], None] | None, handle_signals: bool) -> TrainResult:
    cfg, info = trainer.config, trainer.info
    total_nimg = int(round(cfg.kimg * 1000))
    snap_nimg = max(int(round(cfg.snap_kimg * 1000)), 1)
    writer = snap.SnapshotWriter(trainer, run_dir, provenance) if info.is_main else None

    def snapshot(reason: str) -> None:
        rngs = dist.gather_objects(snap.rng_state(), info)
        if writer is not None:
            writer.write(rngs, reason=reason)
        dist.barrier(info)

    bar = None
    if progress and info.is_main:
        from tqdm import tqdm

        digits = 1 if cfg.kimg >= 10 else 3
        bar = tqdm(total=round(cfg.kimg, 3), initial=round(trainer.nimg / 1000, 3), unit="kimg", dynamic_ncols=True,
                   bar_format="{l_bar}{bar}| {n:.%df}/{total:.%df} kimg [{elapsed}<{remaining}{postfix}]"
                              % (digits, digits))
    batches = batch_iterator(trainer)
    try:
        with _stop_at_step_boundary(handle_signals) as stop:
            if fresh:
                snapshot("start")
            next_snap = (trainer.nimg // snap_nimg + 1) * snap_nimg
            started, started_nimg = time.time(), trainer.nimg
            while trainer.nimg < total_nimg:
                real_img, real_c = next(batches)
                loss_g, loss_d = trainer.step(real_img, real_c)
                if writer is not None:
                    writer.losses.append((loss_g, loss_d))
                pending: KeyboardInterrupt | None = None
                if on_step is not None:
                    try:
                        on_step(StepInfo(trainer.step_count, trainer.nimg, loss_g, loss_d, trainer.augment_p))
                    except KeyboardInterrupt as exc:
                        pending = exc
                if pending is None and stop.signum is not None:
                    pending = stop.exception()
                if dist.any_rank(pending is not None, info, trainer.device):
                    snapshot("interrupted")
                    raise pending if pending is not None else stop.exception()
                if trainer.nimg >= next_snap or trainer.nimg >= total_nimg:
                    snapshot("done" if trainer.nimg >= total_nimg else "interval")
                    next_snap = (trainer.nimg // snap_nimg + 1) * snap_nimg
                if bar is not None:
                    bar.n = round(min(trainer.nimg / 1000, bar.total), 3)  # set, not summed: no rounding drift
                    bar.update(0)
                    spent = time.time() - started
                    sec_kimg = spent / max((trainer.nimg - started_nimg) / 1000, 1e-9)
                    bar.set_postfix_str(f"{sec_kimg:.1f} s/kimg, p {trainer.augment_p:.3f}"
                                        + (f", {writer.last_quality}" if writer and writer.last_quality else ""),
                                        refresh=False)
    finally:
        if bar is not None:
            bar.close()
        del batches
    return TrainResult(run_dir=run_dir, nimg=trainer.nimg, steps=trainer.step_count,
                       snapshot=writer.last_path if writer else None, G_ema=trainer.G_ema,
                       log=snap.read_log(run_dir) if info.is_main else [])


__all__ = ["DataOrder", "StepInfo", "TrainConfig", "TrainResult", "Trainer", "auto_config", "batch_iterator", "train"]
