"""rosinality/stylegan2-pytorch checkpoints (``torch.save``, zip or legacy format).

Two layouts exist: the training checkpoint ``{'g', 'd', 'g_ema', 'g_optim', 'd_optim', 'args'}`` (``args`` an
``argparse.Namespace``) and the converted one ``{'g_ema', 'latent_avg'}`` written by ``convert_weight.py``. The
architecture is read from the ``g_ema`` state dict itself: size from the number of ``convs``, mapping depth from
``style.{i}``, latent size from the style weights, channels per resolution from the conv weights.

Conventions versus stylegan2-ada-pytorch (both store weights un-scaled and apply the same gains at run time):
``EqualLinear`` with ``lr_mul`` is NVlabs' ``FullyConnectedLayer`` with ``lr_multiplier`` (same stored weight and
bias); ``FusedLeakyReLU``'s bias is the layer bias; the modulation bias is initialised to 1 like NVlabs' affine bias;
``ModulatedConv2d.weight`` is [1, out, in, k, k]; the noise weight is a 1-element vector; the up-sampling
convolution's kernel has the same orientation as NVlabs' ``conv0`` (both are the TF ``Conv0_up`` kernel flipped).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError
from ..stylegan2 import GeneratorConfig
from .base import LoadedCheckpoint

FORMAT = "rosinality"
W_AVG_SAMPLES = 10_000
W_AVG_SEED = 0


def is_rosinality(obj: Any) -> bool:
    """Whether an unpickled object is a rosinality checkpoint dict (a ``g_ema`` state dict with ``style.*`` keys)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("g_ema"), dict):
        return False
    return any(str(k).startswith(("style.", "convs.", "input.input", "module.style.")) for k in obj["g_ema"])


def infer_channel_layout(channels: dict[int, int], path: Path | str) -> tuple[int, int]:
    """(channel_base, channel_max) such that ``min(channel_base // r, channel_max)`` gives every stored count.

    Parameters
    ----------
    channels : dict of int to int
        Feature channels found in the tensors, by block resolution.
    path : Path
        The file, for the message.

    Returns
    -------
    tuple of int
        ``(channel_base, channel_max)``.

    Raises
    ------
    CheckpointError
        If no StyleGAN2 channel rule produces these counts.
    """
    channel_max = max(channels.values())
    r_last = max(channels)
    candidates = [channels[r_last] * r_last] + [channels[r] * r for r in sorted(channels, reverse=True)]
    for base in candidates:
        if all(min(base // r, channel_max) == c for r, c in channels.items()):
            return base, channel_max
    raise CheckpointError(
        f"checkpoint {path}: channel counts per resolution {channels} do not follow StyleGAN2's "
        "min(channel_base / resolution, channel_max) rule"
    )


def compute_w_avg(config: GeneratorConfig, state_dict: dict[str, torch.Tensor], path: Path | str = "checkpoint", *,
                  n: int = W_AVG_SAMPLES, seed: int = W_AVG_SEED) -> torch.Tensor:
    """The mean intermediate latent ``w`` over ``n`` seeded ``z`` samples, for checkpoints that store none.

    Parameters
    ----------
    config : GeneratorConfig
        The architecture.
    state_dict : dict
        The converted tensors (without ``mapping.w_avg``); only the ``mapping.*`` ones are used.
    path : Path or str
        The file, for messages.
    n : int
        Number of samples.
    seed : int
        Seed of the ``z`` generator (the result is reproducible).

    Returns
    -------
    Tensor
        [w_dim] float32.
    """
    from ..stylegan2 import MappingNetwork  # the network module; only this rare path needs it

    mapping_sd = {k[len("mapping."):]: v for k, v in state_dict.items() if k.startswith("mapping.")}
    mapping_sd["w_avg"] = torch.zeros(config.w_dim)
    try:
        config.validate()
        mapping = MappingNetwork(z_dim=config.z_dim, c_dim=config.c_dim, w_dim=config.w_dim, num_ws=1,
                                 num_layers=config.mapping_layers, embed_features=config.embed_features,
                                 layer_features=config.layer_features, lr_multiplier=config.mapping_lr_mul).eval()
        mapping.load_state_dict(mapping_sd, strict=True)
    except (ValueError, RuntimeError) as exc:  # bad architecture numbers or tensors that do not fit them
        reason = str(exc).strip().splitlines()[-1].strip()[:200]
        raise CheckpointError(f"checkpoint {path}: cannot compute the average w ({reason})") from None
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn([n, config.z_dim], generator=gen)
    c = torch.zeros([n, config.c_dim])
    ws = []
    with torch.no_grad():
        for i in range(0, n, 2000):
            w = mapping(z[i:i + 2000], c[i:i + 2000] if config.c_dim else None, truncation_psi=1.0)
            ws.append(w[:, 0].double().sum(0))
    return (torch.stack(ws).sum(0) / n).float()


def convert_rosinality(data: dict[str, Any], path: Path) -> LoadedCheckpoint:
    """Convert a rosinality checkpoint dict to a LoadedCheckpoint under the NVlabs key names.

    Parameters
    ----------
    data : dict
        What ``torch.load`` returned (restricted): has ``g_ema`` and maybe ``latent_avg`` / ``args``.
    path : Path
        The file, for messages and the result.

    Returns
    -------
    LoadedCheckpoint

    Raises
    ------
    CheckpointError
        When tensors are missing or have shapes that do not fit a StyleGAN2 generator.
    """
    src: dict[str, torch.Tensor] = {str(k): v for k, v in data["g_ema"].items() if isinstance(v, torch.Tensor)}
    if src and all(k.startswith("module.") for k in src):  # saved from a DataParallel wrapper by some forks
        src = {k[len("module."):]: v for k, v in src.items()}

    def get(name: str, ndim: int | None = None) -> torch.Tensor:
        if name not in src:
            raise CheckpointError(f"checkpoint {path}: g_ema tensor {name} is missing (the file is incomplete)")
        t = src[name]
        if ndim is not None and t.ndim != ndim:
            raise CheckpointError(
                f"checkpoint {path}: g_ema tensor {name} has shape {list(t.shape)}, expected {ndim} dimensions"
            )
        return t.detach().float().contiguous()

    if any(k.endswith(".iwt.ll") or k.endswith(".dwt.ll") for k in src) or "to_rgbs.0.iwt.ll" in src:
        raise CheckpointError(f"checkpoint {path} is a rosinality SWAGAN checkpoint; only StyleGAN2 is supported")

    # Architecture from the tensors.
    n_mlp = 0
    while f"style.{n_mlp + 1}.weight" in src:
        n_mlp += 1
    if n_mlp == 0:
        raise CheckpointError(f"checkpoint {path}: g_ema tensor style.1.weight is missing (the file is incomplete)")
    style_dim = int(get("style.1.weight", 2).shape[1])
    n_convs = sum(1 for k in src if re.fullmatch(r"convs\.\d+\.conv\.weight", k))
    if n_convs % 2:
        raise CheckpointError(f"checkpoint {path}: g_ema has an odd number of convs ({n_convs}); the file is damaged")
    log_size = n_convs // 2 + 2
    size = 2**log_size
    const = get("input.input", 4)

    channels = {4: int(const.shape[1])}
    for i in range(n_convs // 2):
        channels[2 ** (i + 3)] = int(get(f"convs.{2 * i}.conv.weight", 5).shape[1])
    channel_base, channel_max = infer_channel_layout(channels, path)

    args = data.get("args")
    lr_mul = float(getattr(args, "lr_mlp", 0.01) or 0.01)
    config = GeneratorConfig(
        z_dim=style_dim,
        c_dim=0,
        w_dim=style_dim,
        img_resolution=size,
        img_channels=int(get("to_rgb1.bias").shape[1]),
        mapping_layers=n_mlp,
        mapping_lr_mul=lr_mul,
        channel_base=channel_base,
        channel_max=channel_max,
        num_fp16_res=0,
        conv_clamp=None,
        architecture="skip",
        init_res=(int(const.shape[2]), int(const.shape[3])),
    )

    sd: dict[str, torch.Tensor] = {}
    for i in range(n_mlp):
        sd[f"mapping.fc{i}.weight"] = get(f"style.{i + 1}.weight", 2)
        sd[f"mapping.fc{i}.bias"] = get(f"style.{i + 1}.bias", 1)

    filt = torch.tensor([1.0, 3.0, 3.0, 1.0])
    filt = torch.outer(filt, filt) / filt.sum() ** 2

    def styled_conv(dst: str, name: str, noise_idx: int) -> None:
        sd[f"{dst}.weight"] = get(f"{name}.conv.weight", 5)[0]
        sd[f"{dst}.bias"] = get(f"{name}.activate.bias").reshape(-1)
        sd[f"{dst}.affine.weight"] = get(f"{name}.conv.modulation.weight", 2)
        sd[f"{dst}.affine.bias"] = get(f"{name}.conv.modulation.bias", 1)
        sd[f"{dst}.noise_strength"] = get(f"{name}.noise.weight").reshape([])
        sd[f"{dst}.noise_const"] = get(f"noises.noise_{noise_idx}", 4)[0, 0]
        sd[f"{dst}.resample_filter"] = filt.clone()

    def to_rgb(dst: str, name: str) -> None:
        sd[f"{dst}.weight"] = get(f"{name}.conv.weight", 5)[0]
        sd[f"{dst}.bias"] = get(f"{name}.bias").reshape(-1)
        sd[f"{dst}.affine.weight"] = get(f"{name}.conv.modulation.weight", 2)
        sd[f"{dst}.affine.bias"] = get(f"{name}.conv.modulation.bias", 1)

    sd["synthesis.b4.const"] = const[0]
    styled_conv("synthesis.b4.conv1", "conv1", 0)
    to_rgb("synthesis.b4.torgb", "to_rgb1")
    sd["synthesis.b4.resample_filter"] = filt.clone()
    for i in range(n_convs // 2):
        blk = f"synthesis.b{2 ** (i + 3)}"
        styled_conv(f"{blk}.conv0", f"convs.{2 * i}", 2 * i + 1)
        styled_conv(f"{blk}.conv1", f"convs.{2 * i + 1}", 2 * i + 2)
        to_rgb(f"{blk}.torgb", f"to_rgbs.{i}")
        sd[f"{blk}.resample_filter"] = filt.clone()

    metadata: dict[str, Any] = {"rosinality_layout": "training" if "g" in data else "converted",
                                "channels": channels}
    if channel_max == 512 and channel_base % 16384 == 0:
        metadata["channel_multiplier"] = channel_base // 16384
    if args is not None:
        metadata["args"] = {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool))}
    latent_avg = data.get("latent_avg")
    if isinstance(latent_avg, torch.Tensor):
        sd["mapping.w_avg"] = latent_avg.detach().float().reshape(-1).contiguous()
    else:
        sd["mapping.w_avg"] = compute_w_avg(config, sd, path)
        metadata["w_avg"] = f"computed from {W_AVG_SAMPLES} seeded samples (seed {W_AVG_SEED})"
    if math.prod(sd["mapping.w_avg"].shape) != style_dim:
        raise CheckpointError(f"checkpoint {path}: latent_avg has {sd['mapping.w_avg'].numel()} values, "
                              f"expected {style_dim}")
    return LoadedCheckpoint(config=config, state_dict=sd, format=FORMAT, path=path, metadata=metadata)
