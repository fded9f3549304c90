"""A training run's files: snapshots (native generator, training state, sample grid) and the log.

Every ``--snap`` kimg, RUN_DIR gets, in this order::

    network-snapshot-KKKKKK.safetensors   G_ema in the native format (``musicvideo render -c`` takes it)
    samples-KKKKKK.png                    G_ema's images for fixed seeds
    training-state-KKKKKK.pt              everything ``--resume`` needs to continue exactly

``KKKKKK`` is the number of thousands of real images shown so far. Each file is written to a temporary beside it
and renamed when complete (:mod:`musicvideo.atomic`), and the training state comes last, so a snapshot counts only
when its training state exists: a full disk or a kill mid-snapshot leaves the previous one whole.

The training state holds tensors, numbers, strings, lists and dicts only, so it is read with
``torch.load(weights_only=True)``: resuming never unpickles code. ``log.jsonl`` gets one JSON object per snapshot
(kimg, step, losses, augment p, seconds per kimg and the quality signal); :class:`SnapshotWriter` writes it all.
"""

from __future__ import annotations

import errno
import json
import math
import os
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_output
from ..errors import MusicVideoError, OutputError

NETWORK_PREFIX = "network-snapshot-"
STATE_PREFIX = "training-state-"
SAMPLES_PREFIX = "samples-"
LOG_NAME = "log.jsonl"
_STATE_RE = re.compile(r"^training-state-(\d{6,})\.pt$")


class ResumeError(MusicVideoError):
    """A run that cannot be resumed (no run there, or a training state that cannot be read)."""


def snapshot_tag(nimg: int) -> str:
    """``KKKKKK``: thousands of images shown, zero-padded to six digits (NVlabs' snapshot names)."""
    return f"{nimg // 1000:06d}"


def latest_training_state(run_dir: str | Path) -> Path | None:
    """The newest complete snapshot's training state in ``run_dir`` (highest KKKKKK), or None."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := _STATE_RE.match(p.name))]
    return max(found)[1] if found else None


def has_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` already holds snapshots or a log (a new run there would mix two runs)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return False
    return any(p.name == LOG_NAME or p.name.startswith((NETWORK_PREFIX, STATE_PREFIX)) for p in run_dir.iterdir())


# ------------------------------------------------------------------------------------------------ RNG states


def rng_state() -> dict[str, Any]:
    """Every random generator a training step draws from, as tensors and plain numbers (weights_only-safe).

    torch's CPU generator, every CUDA device's generator when CUDA is initialised, numpy's global generator and
    Python's ``random``.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


# ------------------------------------------------------------------------------------------------ writing


def _disk_error(path: Path, exc: OSError) -> OutputError:
    why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return OutputError(f"cannot write snapshot {path.name} in {path.parent}: {why} (free some space, then continue "
                       "with --resume; the previous snapshot is intact)")


def save_training_state(path: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` to a temporary beside ``path``, then rename it into place."""
    try:
        with atomic_output(path, overwrite=True) as tmp:
            torch.save(state, tmp)
    except OSError as exc:
        raise _disk_error(path, exc) from None
    return path


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read a training state with ``weights_only=True`` (no code can run), as a one-line error if it cannot."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated, foreign or unsafe files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ResumeError(f"cannot read training state {path}: {reason[:200]} (resume from an earlier "
                          "training-state-*.pt by deleting the newer ones, or start a new run)") from None
    if not isinstance(state, dict) or state.get("format") != "musicvideo.train" or "G" not in state:
        raise ResumeError(f"{path} is not a musicvideo training state (start a new run without --resume)")
    return state


def image_grid(images: torch.Tensor, columns: int) -> np.ndarray:
    """[N, C, H, W] images in [-1, 1] -> one uint8 RGB (or grey) grid [rows*H, columns*W, C], row-major."""
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    pixels = ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    grid = torch.zeros([rows * h, columns * w, c], dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        grid[r * h:(r + 1) * h, col * w:(col + 1) * w] = pixels[i].permute(1, 2, 0)
    return grid.numpy()


def save_png(path: Path, grid: np.ndarray) -> Path:
    """Write a uint8 [H, W, C] array as a PNG, atomically."""
    from PIL import Image

    image = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    try:
        with atomic_output(path, overwrite=True) as tmp:
            image.save(tmp, format="PNG")
    except OSError as exc:
        raise _disk_error(path, exc) from None
    return path


def save_network(path: Path, G_ema: torch.nn.Module, provenance: dict[str, Any]) -> Path:
    """G_ema in the native ``.safetensors`` format (through :func:`musicvideo.generator.save_native`)."""
    from ..generator import save_native

    try:
        return save_native(G_ema, path, overwrite=True, provenance=provenance)
    except OSError as exc:
        raise _disk_error(path, exc) from None


def write_snapshot(run_dir: Path, nimg: int, *, G_ema: torch.nn.Module, state: dict[str, Any],
                   samples: np.ndarray, provenance: dict[str, Any]) -> dict[str, Path]:
    """Write one snapshot: network, sample grid, then the training state (which marks it complete).

    Parameters
    ----------
    run_dir : Path
        The run's folder.
    nimg : int
        Real images shown so far (names the files).
    G_ema : Generator
        The averaged generator.
    state : dict
        The training state (:func:`load_training_state` reads it back).
    samples : ndarray
        uint8 grid [H, W, C] (:func:`image_grid`).
    provenance : dict
        JSON-able description stored in the native file's metadata.

    Returns
    -------
    dict
        'network', 'samples' and 'state' paths.
    """
    tag = snapshot_tag(nimg)
    paths = {"network": run_dir / f"{NETWORK_PREFIX}{tag}.safetensors",
             "samples": run_dir / f"{SAMPLES_PREFIX}{tag}.png",
             "state": run_dir / f"{STATE_PREFIX}{tag}.pt"}
    save_network(paths["network"], G_ema, provenance)
    save_png(paths["samples"], samples)
    save_training_state(paths["state"], state)
    return paths


def append_log(run_dir: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to ``log.jsonl`` (a line is written whole or the run reports the error)."""
    line = json.dumps(record, sort_keys=True, default=float) + "\n"
    path = run_dir / LOG_NAME
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise _disk_error(path, exc) from None


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of ``log.jsonl`` (a torn last line, from a kill mid-write, is skipped)."""
    path = Path(run_dir) / LOG_NAME
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


# ------------------------------------------------------------------------------------------------ the writer


def _fixed_sample_z(G: torch.nn.Module, n: int) -> torch.Tensor:
    """z for seeds 0..n-1 (one generator per seed, as ``musicvideo render`` draws them)."""
    return torch.stack([torch.randn([G.z_dim], generator=torch.Generator().manual_seed(s)) for s in range(n)])


@torch.no_grad()
def _generate(G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """G's images for ``z`` (and labels ``c``) with its stored noise, in batches, on the CPU."""
    out = []
    for i in range(0, len(z), batch):
        ws = G.mapping(z[i:i + batch].to(device), c[i:i + batch].to(device))
        out.append(G.synthesis(ws, noise_mode="const").float().cpu())
    return torch.cat(out)


class SnapshotWriter:
    """Writes a run's snapshots (rank 0): G_ema's images for fixed seeds, the quality signal on a fixed real
    sample and fixed seeds, the training state, and a log line with the loss means since the last one.

    Parameters
    ----------
    trainer : musicvideo.train.loop.Trainer
        The run's networks, data and counters.
    run_dir : Path
        Where the files go.
    provenance : dict
        JSON-able origin of the weights, stored in each native snapshot's metadata.
    """

    def __init__(self, trainer: Any, run_dir: Path, provenance: dict[str, Any]) -> None:
        self.trainer, self.run_dir, self.provenance = trainer, run_dir, provenance
        G, data, n = trainer.G_ema, trainer.dataset, trainer.config.quality_images
        res = G.img_resolution
        self.grid_columns = 8 if res <= 256 else 4
        self.grid_z = _fixed_sample_z(G, self.grid_columns * (4 if res <= 256 else 2))
        self.quality_z = _fixed_sample_z(G, n)
        picks = np.linspace(0, len(data.names) - 1, num=min(n, len(data.names))).round().astype(int)
        self.reals = torch.stack([data[int(i)][0] for i in picks]).float() / 127.5 - 1
        labels = trainer.labels
        self.quality_c = labels[torch.arange(n) % len(labels)]
        self.grid_c = labels[torch.arange(len(self.grid_z)) % len(labels)]
        self.losses: list[tuple[float, float]] = []
        self.last_time = time.time()
        self.last_nimg = trainer.nimg
        self.last_path: Path | None = None
        self.last_quality: str = ""

    def quality(self) -> dict[str, Any]:
        """The quality signal now (:func:`musicvideo.train.quality.measure_quality`: FID if Inception weights are
        on the machine, else KID on D's features; every measure in the dict, the leading one as name/value)."""
        from .quality import measure_quality

        t = self.trainer
        fakes = _generate(t.G_ema, self.quality_z, self.quality_c, t.batch_gpu, t.device)
        D = t.D

        def features(images: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                out = []
                for i in range(0, len(images), t.batch_gpu):
                    x = images[i:i + t.batch_gpu].to(t.device)
                    c = self.quality_c[i:i + len(x)].to(t.device)
                    out.append(D.features(x, c).float().cpu())
                return torch.cat(out)

        report = measure_quality(self.reals, fakes, features=features)
        return {"name": report.name, "value": float(report.value),
                **{k: float(v) for k, v in report.details.items()}}

    def write(self, rng: list[dict[str, Any]], *, reason: str) -> Path:
        """One snapshot and its log line; the random generators are left as they were (for exact resumes)."""
        t = self.trainer
        saved = rng_state()
        try:
            quality = self.quality()
            grid = image_grid(_generate(t.G_ema, self.grid_z, self.grid_c, t.batch_gpu, t.device),
                              self.grid_columns)
            paths = write_snapshot(self.run_dir, t.nimg, G_ema=t.G_ema, state=t.state_dict(rng),
                                   samples=grid, provenance=dict(self.provenance, kimg=t.nimg / 1000))
        finally:
            set_rng_state(saved)
        now = time.time()
        shown = t.nimg - self.last_nimg
        record = {"kimg": t.nimg / 1000, "step": t.step_count, "time": now, "reason": reason,
                  "sec_per_kimg": (now - self.last_time) / (shown / 1000) if shown else None,
                  "loss_G": float(np.mean([a for a, _ in self.losses])) if self.losses else None,
                  "loss_D": float(np.mean([b for _, b in self.losses])) if self.losses else None,
                  "augment_p": t.augment_p, "quality": quality, "snapshot": paths["network"].name}
        append_log(self.run_dir, record)
        self.losses.clear()
        self.last_time, self.last_nimg, self.last_path = now, t.nimg, paths["network"]
        self.last_quality = f"{quality['name']} {quality['value']:.4g}"
        return paths["network"]


__all__ = ["ResumeError", "SnapshotWriter", "append_log", "has_run", "image_grid", "latest_training_state",
           "load_training_state", "read_log", "rng_state", "save_network", "save_png", "save_training_state",
           "set_rng_state", "snapshot_tag", "write_snapshot"]
