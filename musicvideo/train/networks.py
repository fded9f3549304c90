"""G, D and G_ema for a training run: fresh, fine-tuned from any checkpoint we load, or restored from a snapshot.

Our :class:`~musicvideo.generator.stylegan2.Generator` was written for inference (eval mode, gradients off); here
it is switched to training. Its initialisation is already StyleGAN2's equalised learning rate (weights N(0, 1)
scaled at run time by 1/sqrt(fan-in), the mapping's by lr_mul 0.01, style biases 1, noise strengths 0), so a fresh
G needs nothing more.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, MusicVideoError, MusicVideoWarning
from ..generator.stylegan2 import Generator, GeneratorConfig


@dataclass
class RunNetworks:
    """The three networks of a run, which of D's blocks are frozen, and where G came from."""

    G: Generator
    D: torch.nn.Module
    G_ema: Generator
    frozen_d: tuple[str, ...]           # D's frozen blocks (``b256``, ...), FreezeD
    provenance: dict[str, Any]          # JSON-able: source format and file of G


def fresh_generator_config(config: Any, dataset: Any) -> GeneratorConfig:
    """The generator for a new run at the data's resolution: NVlabs' ``auto`` small-data config by default
    (2 mapping layers, half the paper's channels), smaller through ``cbase``/``cmax``/``z_dim``/``w_dim``."""
    return GeneratorConfig(z_dim=config.z_dim, c_dim=dataset.c_dim, w_dim=config.w_dim,
                           img_resolution=dataset.resolution, img_channels=dataset.num_channels,
                           mapping_layers=config.map_layers, channel_base=config.cbase, channel_max=config.cmax,
                           num_fp16_res=4, conv_clamp=256, architecture="skip")


def for_training(G: Generator) -> Generator:
    """Switch an inference generator to training (train mode; gradients are enabled per phase by the loop).

    Modulation scales the activations instead of making one weight per sample (NVlabs does the same in training):
    the per-sample weights and their gradients would cost batch x the layer's weights in memory.
    """
    G.train()
    G.requires_grad_(False)
    G.fused_modconv = False
    return G


def make_ema(G: Generator) -> Generator:
    """A copy of G that follows it by averaging (never trained directly)."""
    G_ema = copy.deepcopy(G).eval()
    G_ema.requires_grad_(False)
    G_ema.fused_modconv = None  # inference: NVlabs' automatic choice
    return G_ema


def freeze_blocks(D: torch.nn.Module, count: int) -> tuple[str, ...]:
    """Names of D's first ``count`` blocks in forward order (highest resolution first), whose weights FreezeD
    keeps fixed (Mo et al. 2020): the layers nearest the pixels, general edge and colour detectors."""
    resolutions = sorted((int(name[1:]) for name, _ in D.named_children()
                          if name.startswith("b") and name[1:].isdigit()), reverse=True)
    if count < 0 or count > len(resolutions):
        raise MusicVideoError(f"--freeze-d {count} is outside 0..{len(resolutions)} (D has {len(resolutions)} "
                              "blocks)")
    return tuple(f"b{r}" for r in resolutions[:count])


def _discriminator_for(gen_config: GeneratorConfig, batch_gpu: int) -> tuple[Any, torch.nn.Module]:
    from .discriminator import Discriminator, DiscriminatorConfig

    d_config = _with_mbstd(DiscriminatorConfig.for_generator(gen_config), batch_gpu)
    return d_config, Discriminator(d_config)


def _with_mbstd(d_config: Any, batch_gpu: int) -> Any:
    """The minibatch-stddev group must divide the per-process batch (NVlabs: min(4, batch))."""
    group = min(getattr(d_config, "mbstd_group_size", 4) or 1, batch_gpu)
    while batch_gpu % group:
        group -= 1
    return dataclasses.replace(d_config, mbstd_group_size=group)


def _load_generator(path: str | Path, dataset: Any) -> tuple[Generator, dict[str, Any]]:
    from ..generator import build_generator, load_checkpoint

    loaded = load_checkpoint(path)
    cfg = loaded.config
    if not isinstance(cfg, GeneratorConfig):
        family = "StyleGAN3" if "3" in type(cfg).__name__ else type(cfg).__name__
        raise CheckpointError(f"--from {Path(path).name} is a {family} network; musicvideo trains StyleGAN2 only "
                              "(fine-tune StyleGAN3 with NVlabs' stylegan3 train.py, or start from a StyleGAN2 file)")
    if cfg.img_shape != (dataset.resolution, dataset.resolution):
        h, w = cfg.img_shape
        raise MusicVideoError(f"--from {Path(path).name} makes {w}x{h} images but {dataset.path.name} has "
                              f"{dataset.resolution}x{dataset.resolution} ones (re-run `musicvideo dataset SRC... "
                              f"-o DATA.zip --size {max(h, w)}` to match it)")
    if cfg.c_dim != dataset.c_dim:
        raise MusicVideoError(f"--from {Path(path).name} takes {cfg.c_dim} label values but {dataset.path.name} "
                              f"has {dataset.c_dim} (make the dataset {'with' if cfg.c_dim else 'without'} "
                              "labels, or train from scratch)")
    if cfg.img_channels != dataset.num_channels:
        raise MusicVideoError(f"--from {Path(path).name} makes {cfg.img_channels}-channel images but "
                              f"{dataset.path.name} has {dataset.num_channels} (make an RGB dataset)")
    G = build_generator(loaded, device="cpu")
    return G, {"format": loaded.format, "file": Path(loaded.path).name}


def _load_discriminator(path: str | Path, gen_config: GeneratorConfig,
                        batch_gpu: int) -> tuple[Any, torch.nn.Module] | None:
    """D from the checkpoint file when it has a usable one, else None (with a note when one was there but unusable)."""
    from .discriminator import Discriminator, load_discriminator

    try:
        found = load_discriminator(path)
        if found is None:
            return None
        d_config, state = found
        if d_config.img_resolution != gen_config.img_resolution or d_config.c_dim != gen_config.c_dim:
            raise CheckpointError(f"its D is for {d_config.img_resolution} px and {d_config.c_dim} labels")
        D = Discriminator(_with_mbstd(d_config, batch_gpu))
        D.load_state_dict(state, strict=True)
        return D.config, D
    except (CheckpointError, RuntimeError, KeyError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        warnings.warn(f"--from {Path(path).name}: its discriminator cannot be used ({reason[:160]}); training "
                      "starts with a fresh one", MusicVideoWarning, stacklevel=3)
        return None


def build_networks(config: Any, dataset: Any, from_checkpoint: str | Path | None) -> RunNetworks:
    """G, D and G_ema for a new run: from ``from_checkpoint`` (G_ema's weights as both G and G_ema; D when the file
    has one) or fresh (the caller seeds torch first)."""
    from .distributed import rank_from_env

    batch_gpu = config.batch // rank_from_env().world_size
    if from_checkpoint is not None:
        G, provenance = _load_generator(from_checkpoint, dataset)
        found = _load_discriminator(from_checkpoint, G.config, batch_gpu)
        D = found[1] if found is not None else _discriminator_for(G.config, batch_gpu)[1]
        provenance["discriminator"] = "from the file" if found is not None else "fresh"
    else:
        G = Generator(fresh_generator_config(config, dataset))
        D = _discriminator_for(G.config, batch_gpu)[1]
        provenance = {"format": "fresh"}
    provenance["trained_on"] = Path(dataset.path).name
    G = for_training(G)
    D.train().requires_grad_(False)
    frozen = freeze_blocks(D, config.freeze_d)
    return RunNetworks(G=G, D=D, G_ema=make_ema(G), frozen_d=frozen, provenance=provenance)


def restore_networks(state: dict[str, Any], dataset: Any) -> RunNetworks:
    """The networks of a saved training state, weights included."""
    from .discriminator import Discriminator, DiscriminatorConfig

    g_config = GeneratorConfig(**state["G_config"])
    if g_config.img_resolution != dataset.resolution:
        raise MusicVideoError(f"the run was trained at {g_config.img_resolution} px but {dataset.path.name} has "
                              f"{dataset.resolution} px images (resume with the run's own dataset)")
    G = Generator(g_config)
    G.load_state_dict(state["G"])
    G_ema = Generator(g_config)
    G_ema.load_state_dict(state["G_ema"])
    G_ema.requires_grad_(False)
    D = Discriminator(DiscriminatorConfig(**state["D_config"]))
    D.load_state_dict(state["D"])
    D.train().requires_grad_(False)
    provenance = dict(state.get("provenance") or {"format": "resumed"})
    provenance["trained_on"] = Path(dataset.path).name
    return RunNetworks(G=for_training(G), D=D, G_ema=G_ema, frozen_d=tuple(state.get("frozen_d", ())),
                       provenance=provenance)


__all__ = ["RunNetworks", "build_networks", "for_training", "freeze_blocks", "fresh_generator_config", "make_ema",
           "restore_networks"]
