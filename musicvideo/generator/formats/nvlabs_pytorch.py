"""NVlabs PyTorch network pickles (stylegan2-ada-pytorch, and StyleGAN2 or StyleGAN3 networks saved by the stylegan3
repo; the alias-free StyleGAN3 ones are read by :mod:`.nvlabs_stylegan3`).

Such a file is a plain pickle of ``dict(G, D, G_ema, training_set_kwargs, augment_pipe, ...)`` whose networks are
``torch_utils.persistence`` objects: each module pickles as ``_reconstruct_persistent_obj(meta)`` with its class name,
the source code of its module and its ``__dict__`` state. The restricted unpickler turns each into a
:class:`~musicvideo.generator.unpickle.PersistentObjectStub`; here we read ``G_ema``'s parameters and buffers (the key
names are already ours) and its constructor keyword arguments. The embedded source is never executed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError
from ..stylegan2 import GeneratorConfig
from ..unpickle import PersistentObjectStub
from .base import LoadedCheckpoint

FORMAT = "nvlabs-pytorch"

_SG3_LAYER = re.compile(r"L\d+_\d+_\d+")


def is_nvlabs_pytorch(obj: Any) -> bool:
    """Whether an unpickled object is an NVlabs PyTorch snapshot dict (or a bare pickled ``Generator``)."""
    if isinstance(obj, PersistentObjectStub):
        return True
    return isinstance(obj, dict) and isinstance(obj.get("G_ema"), PersistentObjectStub)


def is_stylegan3(G: PersistentObjectStub) -> bool:
    """Whether a pickled NVlabs generator is the alias-free StyleGAN3 network (``networks_stylegan3``).

    StyleGAN3's synthesis network has a ``SynthesisInput`` child called ``input`` and layers named like
    ``L0_36_512``; its module source defines ``class SynthesisInput``.
    """
    synthesis = G.modules.get("synthesis")
    if isinstance(synthesis, PersistentObjectStub):
        names = synthesis.modules.keys()
        if "input" in names or any(_SG3_LAYER.fullmatch(n) for n in names):
            return True
        if synthesis.class_name == "SynthesisNetwork" and "class SynthesisInput" in synthesis.module_src:
            return True
    return "class SynthesisInput" in G.module_src


def _kw(kwargs: dict[str, Any], name: str, default: Any) -> Any:
    value = kwargs.get(name, default)
    return default if value is None and default is not None else value


def _attr(stub: Any, name: str, default: Any = None) -> Any:
    """A plain attribute stored in a pickled module's state (``self.num_layers = ...`` in its constructor)."""
    if isinstance(stub, PersistentObjectStub):
        return stub.state.get(name, default)
    return default


def config_from_generator(G: PersistentObjectStub, state_dict: dict[str, torch.Tensor], path: Path) -> GeneratorConfig:
    """Build the GeneratorConfig of a pickled NVlabs ``Generator`` from its init kwargs, attributes and tensors.

    Parameters
    ----------
    G : PersistentObjectStub
        The pickled ``G_ema``.
    state_dict : dict
        Its tensors (used where the kwargs are silent: channel counts, constant shape).
    path : Path
        The file, for messages.

    Returns
    -------
    GeneratorConfig
    """
    kw = G.init_kwargs
    mapping = G.modules.get("mapping")
    synthesis = G.modules.get("synthesis")
    map_kw = dict(kw.get("mapping_kwargs") or {})
    # stylegan2-ada-pytorch passes synthesis_kwargs={...}; the stylegan3 repo's networks_stylegan2 takes them flat.
    syn_kw = {k: v for k, v in kw.items() if k not in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels",
                                                         "mapping_kwargs", "synthesis_kwargs")}
    syn_kw.update(dict(kw.get("synthesis_kwargs") or {}))

    def need(name: str) -> Any:
        value = kw.get(name, _attr(G, name))
        if value is None:
            raise CheckpointError(f"checkpoint {path}: the pickled G_ema has no {name} (the file is incomplete)")
        return value

    z_dim, c_dim, w_dim = int(need("z_dim")), int(need("c_dim")), int(need("w_dim"))
    img_resolution, img_channels = int(need("img_resolution")), int(need("img_channels"))

    num_layers = map_kw.get("num_layers", _attr(mapping, "num_layers"))
    if num_layers is None:
        num_layers = sum(1 for k in state_dict if re.fullmatch(r"mapping\.fc\d+\.weight", k))
    lr_mul = map_kw.get("lr_multiplier")
    if lr_mul is None:
        fc0 = mapping.modules.get("fc0") if isinstance(mapping, PersistentObjectStub) else None
        lr_mul = _attr(fc0, "bias_gain", 0.01)  # FullyConnectedLayer stores bias_gain = lr_multiplier

    const = state_dict.get("synthesis.b4.const")
    init_res = tuple(int(s) for s in const.shape[1:]) if const is not None and const.ndim == 3 else (4, 4)
    init_res = tuple(int(v) for v in kw.get("init_res") or init_res)  # non-square forks store it explicitly

    conv_clamp = syn_kw.get("conv_clamp")
    architecture = syn_kw.get("architecture")
    if architecture is None:  # not passed to the constructor: NVlabs' default, unless the tensors say otherwise
        n_torgb = sum(1 for k in state_dict if re.fullmatch(r"synthesis\.b\d+\.torgb\.weight", k))
        n_blocks = sum(1 for k in state_dict if re.fullmatch(r"synthesis\.b\d+\.resample_filter", k))
        if any(re.fullmatch(r"synthesis\.b\d+\.skip\.weight", k) for k in state_dict):
            architecture = "resnet"
        elif n_torgb == 1 and n_blocks > 1:
            architecture = "orig"
        else:
            architecture = "skip"
    return GeneratorConfig(
        z_dim=z_dim,
        c_dim=c_dim,
        w_dim=w_dim,
        img_resolution=img_resolution,
        img_channels=img_channels,
        mapping_layers=int(num_layers),
        mapping_lr_mul=float(lr_mul),
        embed_features=map_kw.get("embed_features"),
        layer_features=map_kw.get("layer_features"),
        channel_base=int(_kw(syn_kw, "channel_base", 32768)),
        channel_max=int(_kw(syn_kw, "channel_max", 512)),
        num_fp16_res=int(_kw(syn_kw, "num_fp16_res", 0)),
        conv_clamp=None if conv_clamp is None else float(conv_clamp),
        architecture=str(architecture),
        init_res=(init_res[0], init_res[1]),
    )


def convert_nvlabs_pytorch(data: Any, path: Path) -> LoadedCheckpoint:
    """Convert an unpickled NVlabs snapshot (stand-in objects) to a LoadedCheckpoint.

    Parameters
    ----------
    data : dict or PersistentObjectStub
        What the restricted unpickler returned: the snapshot dict, or a bare pickled generator.
    path : Path
        The file, for messages and the result.

    Returns
    -------
    LoadedCheckpoint
        ``G_ema``'s state dict (float32) and config (a StyleGAN3Config for alias-free networks, see
        :mod:`.nvlabs_stylegan3`).

    Raises
    ------
    CheckpointError
        A G_ema that is not a Generator, unknown StyleGAN3 settings, or a state dict without the tensors it needs.
    """
    G = data["G_ema"] if isinstance(data, dict) else data
    if is_stylegan3(G):
        from .nvlabs_stylegan3 import convert_stylegan3

        return convert_stylegan3(data, G, path)
    if G.class_name != "Generator":
        raise CheckpointError(
            f"checkpoint {path}: G_ema is a pickled {G.class_name or 'object'}, not a StyleGAN2 Generator"
        )
    state_dict = {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in G.state_dict().items()}
    if not any(k.startswith("synthesis.") for k in state_dict) or not any(k.startswith("mapping.") for k in state_dict):
        raise CheckpointError(f"checkpoint {path}: the pickled G_ema holds no mapping/synthesis tensors")
    try:
        config = config_from_generator(G, state_dict, path)
    except (TypeError, ValueError, IndexError) as exc:  # constructor arguments of an unexpected type
        raise CheckpointError(f"checkpoint {path}: cannot read G_ema's architecture ({exc})") from None

    from .nvlabs_stylegan3 import snapshot_metadata

    metadata = snapshot_metadata(data, G)
    if "mapping.w_avg" not in state_dict:
        from .rosinality import compute_w_avg

        state_dict["mapping.w_avg"] = compute_w_avg(config, state_dict, path)
        metadata["w_avg"] = "computed from 10000 seeded samples"
    return LoadedCheckpoint(config=config, state_dict=state_dict, format=FORMAT, path=path, metadata=metadata)
