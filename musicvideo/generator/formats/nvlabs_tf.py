"""NVlabs TensorFlow StyleGAN2 / StyleGAN2-ADA pickles, converted without TensorFlow.

Such a file pickles ``(G, D, Gs)``, three ``dnnlib.tflib.network.Network`` objects whose state holds ``version``,
``name``, ``static_kwargs``, ``components`` (``mapping``, ``synthesis``), ``build_module_src``, ``build_func_name``
and ``variables`` [(name, ndarray)]. We take ``Gs`` and rename its variables to the stylegan2-ada-pytorch layout:
TF convolution kernels are [kh, kw, in, out] (-> [out, in, kh, kw]); dense weights are [in, out] (-> [out, in]); the
TF modulation bias is stored minus one; the up-sampling convolution ``Conv0_up`` is a transposed convolution whose
kernel the PyTorch code applies flipped; ``fmap_base`` counts channels at stage ``log2(res) - 1``, so the PyTorch
``channel_base`` is twice it. Weights stay un-scaled (gains are applied at run time in both codes).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import CheckpointError
from ..stylegan2 import GeneratorConfig
from ..unpickle import TFNetworkStub
from .base import LoadedCheckpoint
from .rosinality import infer_channel_layout

FORMAT = "nvlabs-tf"


def is_nvlabs_tf(obj: Any) -> bool:
    """Whether an unpickled object is a TF (G, D, Gs) tuple or a single TF network."""
    if isinstance(obj, TFNetworkStub):
        return True
    return isinstance(obj, (tuple, list)) and len(obj) > 0 and all(isinstance(n, TFNetworkStub) for n in obj)


def collect_variables(net: TFNetworkStub) -> dict[str, np.ndarray]:
    """All variables of a TF network and its components, named ``component/.../variable`` from the top network."""
    out: dict[str, np.ndarray] = {}

    def visit(prefix: str, node: TFNetworkStub) -> None:
        for name, value in node.variables:
            out[prefix + name] = value
        for cname, comp in node.components.items():
            visit(prefix + cname + "/", comp)

    visit("", net)
    return out


def _is_stylegan1(Gs: TFNetworkStub, variables: dict[str, np.ndarray]) -> bool:
    funcs = {Gs.build_func_name} | {c.build_func_name for c in Gs.components.values()}
    if funcs & {"G_style", "G_synthesis", "networks_stylegan.G_style", "training.networks_stylegan.G_style"}:
        return True
    return any(re.search(r"/Const/Noise/weight$|/StyleMod/weight$|/Noise/weight$", k) for k in variables)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a, dtype=np.float32)))


def convert_nvlabs_tf(data: Any, path: Path) -> LoadedCheckpoint:
    """Convert an unpickled TF StyleGAN2 pickle (``(G, D, Gs)`` or one network) to a LoadedCheckpoint of ``Gs``.

    Parameters
    ----------
    data : tuple of TFNetworkStub or TFNetworkStub
        What the restricted unpickler returned.
    path : Path
        The file, for messages and the result.

    Returns
    -------
    LoadedCheckpoint

    Raises
    ------
    CheckpointError
        For StyleGAN1 networks, TF pickles older than StyleGAN2, unsupported variants or missing variables.
    """
    if isinstance(data, TFNetworkStub):
        Gs = data
    elif len(data) == 3:
        Gs = data[2]
    else:
        raise CheckpointError(
            f"checkpoint {path} holds {len(data)} TensorFlow networks; expected (G, D, Gs) as NVlabs saves them"
        )
    variables = collect_variables(Gs)
    if _is_stylegan1(Gs, variables):
        raise CheckpointError(
            f"checkpoint {path} is a StyleGAN1 (TensorFlow G_style) checkpoint; musicvideo supports StyleGAN2 "
            "and StyleGAN3 (use a StyleGAN2 / StyleGAN2-ADA or StyleGAN3 network)"
        )
    if Gs.version < 4:
        raise CheckpointError(
            f"checkpoint {path} is a TensorFlow network pickle of version {Gs.version}, older than StyleGAN2 "
            "(musicvideo reads StyleGAN2 / StyleGAN2-ADA pickles, version 4 or later)"
        )
    comps = Gs.components
    if "mapping" not in comps or "synthesis" not in comps:
        raise CheckpointError(
            f"checkpoint {path}: the TensorFlow network {Gs.name!r} has no mapping/synthesis components "
            "(not a StyleGAN2 generator)"
        )
    synth_func = comps["synthesis"].build_func_name
    if synth_func and not synth_func.endswith("G_synthesis_stylegan2"):
        raise CheckpointError(
            f"checkpoint {path}: TensorFlow synthesis network {synth_func!r} is not supported "
            "(musicvideo reads StyleGAN2 networks built by G_synthesis_stylegan2)"
        )

    kw = Gs.static_kwargs
    for part in ("mapping", "synthesis"):
        kw = {**comps[part].static_kwargs, **kw}  # Gs passes its kwargs on; components may hold more

    def kwarg(name: str, default: Any) -> Any:
        value = kw.get(name)
        return default if value is None else value

    resolution = int(kwarg("resolution", 1024))
    architecture = str(kwarg("architecture", "skip"))
    v = variables

    def get(name: str) -> np.ndarray:
        if name not in v:
            raise CheckpointError(f"checkpoint {path}: TensorFlow variable {name} is missing (the file is incomplete)")
        return v[name]

    sd: dict[str, torch.Tensor] = {}
    # Mapping network.
    if "mapping/LabelConcat/weight" in v:
        raise CheckpointError(
            f"checkpoint {path} is a conditional original-StyleGAN2 TF model (LabelConcat); only StyleGAN2-ADA "
            "conditional models (LabelEmbed) are supported"
        )
    n_mapping = 0
    while f"mapping/Dense{n_mapping}/weight" in v:
        sd[f"mapping.fc{n_mapping}.weight"] = _t(get(f"mapping/Dense{n_mapping}/weight").T)
        sd[f"mapping.fc{n_mapping}.bias"] = _t(get(f"mapping/Dense{n_mapping}/bias"))
        n_mapping += 1
    if n_mapping == 0:
        raise CheckpointError(f"checkpoint {path}: TensorFlow variable mapping/Dense0/weight is missing")
    c_dim = int(kwarg("label_size", 0))
    if c_dim:
        sd["mapping.embed.weight"] = _t(get("mapping/LabelEmbed/weight").T)
        sd["mapping.embed.bias"] = _t(get("mapping/LabelEmbed/bias"))
    sd["mapping.w_avg"] = _t(get("dlatent_avg"))

    # Synthesis network: orig-architecture models name their toRGB layers by level of detail.
    for name in list(v):
        m = re.fullmatch(r"synthesis/ToRGB_lod(\d+)/(.*)", name)
        if m:
            r = resolution // 2 ** int(m.group(1))
            v[f"synthesis/{r}x{r}/ToRGB/{m.group(2)}"] = v[name]
            architecture = "orig"

    def modconv(dst: str, src: str, flip: bool = False, noise: str | None = None) -> None:
        w = get(f"{src}/weight")
        if flip:
            w = w[::-1, ::-1]
        sd[f"{dst}.weight"] = _t(w.transpose(3, 2, 0, 1))
        sd[f"{dst}.bias"] = _t(get(f"{src}/bias"))
        sd[f"{dst}.affine.weight"] = _t(get(f"{src}/mod_weight").T)
        sd[f"{dst}.affine.bias"] = _t(get(f"{src}/mod_bias") + 1)
        if noise is not None:
            sd[f"{dst}.noise_strength"] = _t(get(f"{src}/noise_strength")).reshape([])
            sd[f"{dst}.noise_const"] = _t(get(f"synthesis/{noise}")[0, 0])

    filt = torch.tensor([1.0, 3.0, 3.0, 1.0])
    filt = torch.outer(filt, filt) / filt.sum() ** 2  # NVlabs' setup_filter([1,3,3,1]): separable, normalised
    log2 = int(round(math.log2(resolution)))
    if 2**log2 != resolution or log2 < 2:
        raise CheckpointError(f"checkpoint {path}: resolution {resolution} is not a power of two >= 4")
    use_noise = bool(kwarg("use_noise", True))
    for res_log2 in range(2, log2 + 1):
        r = 2**res_log2
        blk = f"synthesis.b{r}"
        if r == 4:
            sd[f"{blk}.const"] = _t(get("synthesis/4x4/Const/const")[0])
            modconv(f"{blk}.conv1", "synthesis/4x4/Conv", noise="noise0" if use_noise else None)
            sd[f"{blk}.conv1.resample_filter"] = filt.clone()
        else:
            modconv(f"{blk}.conv0", f"synthesis/{r}x{r}/Conv0_up", flip=True,
                    noise=f"noise{2 * res_log2 - 5}" if use_noise else None)
            modconv(f"{blk}.conv1", f"synthesis/{r}x{r}/Conv1",
                    noise=f"noise{2 * res_log2 - 4}" if use_noise else None)
            sd[f"{blk}.conv0.resample_filter"] = filt.clone()
            sd[f"{blk}.conv1.resample_filter"] = filt.clone()
        if architecture == "skip" or r == resolution:
            modconv(f"{blk}.torgb", f"synthesis/{r}x{r}/ToRGB")
        if architecture == "resnet" and r > 4:
            sd[f"{blk}.skip.weight"] = _t(get(f"synthesis/{r}x{r}/Skip/weight")[::-1, ::-1].transpose(3, 2, 0, 1))
            sd[f"{blk}.skip.resample_filter"] = filt.clone()
        sd[f"{blk}.resample_filter"] = filt.clone()

    const = sd["synthesis.b4.const"]
    conv_clamp = kw.get("conv_clamp")
    # fmap_base/fmap_max may be implicit (defaults of the build function): trust the tensors where they disagree.
    channel_base, channel_max = int(kwarg("fmap_base", 16384)) * 2, int(kwarg("fmap_max", 512))
    channels = {r: int(sd[f"synthesis.b{r}.conv1.weight"].shape[0]) for r in (2**i for i in range(2, log2 + 1))}
    if any(min(channel_base // r, channel_max) != c for r, c in channels.items()):
        channel_base, channel_max = infer_channel_layout(channels, path)
    config = GeneratorConfig(
        z_dim=int(kwarg("latent_size", 512)),
        c_dim=c_dim,
        w_dim=int(kwarg("dlatent_size", 512)),
        img_resolution=resolution,
        img_channels=int(kwarg("num_channels", 3)),
        mapping_layers=n_mapping,
        mapping_lr_mul=float(kwarg("mapping_lrmul", 0.01)),
        embed_features=kw.get("label_fmaps"),
        layer_features=kw.get("mapping_fmaps"),
        channel_base=channel_base,
        channel_max=channel_max,
        num_fp16_res=int(kwarg("num_fp16_res", 0)),
        conv_clamp=None if conv_clamp is None else float(conv_clamp),
        architecture=architecture,
        init_res=(int(const.shape[1]), int(const.shape[2])),
    )
    metadata = {
        "tf_pickle_version": Gs.version,
        "tf_network": Gs.name,
        "tf_build_funcs": {k: c.build_func_name for k, c in comps.items()},
    }
    return LoadedCheckpoint(config=config, state_dict=sd, format=FORMAT, path=path, metadata=metadata)
