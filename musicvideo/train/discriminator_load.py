"""Reading the discriminator out of a training checkpoint, into :class:`~musicvideo.train.discriminator.Discriminator`'s
layout.

- NVlabs stylegan2-ada-pytorch pickles: the ``D`` persistent object (read through the restricted unpickler; its
  embedded source is never run): tensors already under our names; the architecture from its constructor kwargs, or
  from the tensors for pickles without them.
- NVlabs TensorFlow ``(G, D, Gs)`` pickles: ``D``'s variables renamed and transposed as NVlabs' ``legacy.py`` does.
- rosinality training checkpoints: the ``d`` state dict (``convs.*``, ``final_conv``, ``final_linear``) renamed; the
  networks are the same maths ('resnet', no labels, no clamp).
- anything else (native ``.safetensors``, converted ``{g_ema}`` files, bare generators): no discriminator.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..generator.stylegan2 import make_fir_filter
from .discriminator import Discriminator, DiscriminatorConfig

__all__ = ["load_discriminator"]


def load_discriminator(path: str | Path) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]] | None:
    """The discriminator stored in a training checkpoint, in our layout, or None if the file has none.

    Parameters
    ----------
    path : str or Path
        An NVlabs stylegan2-ada-pytorch pickle (its ``D``), an NVlabs TensorFlow ``(G, D, Gs)`` pickle (its ``D``,
        renamed as NVlabs' ``legacy.py`` does), a rosinality training checkpoint (its ``d``), or any other checkpoint
        musicvideo reads (native ``.safetensors``, converted ``{g_ema}`` files, bare generators: None).

    Returns
    -------
    tuple or None
        ``(DiscriminatorConfig, state_dict)`` with float32 tensors under NVlabs' names; the state dict loads into
        ``Discriminator(config)`` with ``strict=True``.

    Raises
    ------
    CheckpointError
        A file that cannot be read, or a D whose tensors do not form a StyleGAN2 discriminator (one line naming
        the file and the problem).
    """
    from ..generator.formats import detect_format

    p = Path(path).expanduser()
    if detect_format(p) == "safetensors":
        return None  # our native format stores the generator only
    from ..generator.formats.nvlabs_pytorch import is_nvlabs_pytorch
    from ..generator.formats.nvlabs_tf import is_nvlabs_tf
    from ..generator.formats.pickled import read_pickled_object
    from ..generator.formats.rosinality import is_rosinality

    obj = read_pickled_object(p)
    if is_nvlabs_pytorch(obj):
        D = obj.get("D") if isinstance(obj, dict) else None
        return None if D is None else _from_nvlabs(D, p)
    if is_rosinality(obj):
        d = obj.get("d")
        return None if d is None else _from_rosinality(d, obj.get("args"), p)
    if is_nvlabs_tf(obj):
        nets = [n for n in (obj if isinstance(obj, (tuple, list)) else [obj]) if n.name == "D"]
        if not nets and isinstance(obj, (tuple, list)) and len(obj) == 3:
            nets = [obj[1]]  # (G, D, Gs) as training_loop.py saves it
        return _from_tf(nets[0], p) if nets else None
    return None


def _check_layout(config: DiscriminatorConfig, sd: dict[str, torch.Tensor], path: Path, source: str
                  ) -> dict[str, torch.Tensor]:
    """Compare names and shapes with ``Discriminator(config)``; return float32 tensors or raise one line."""
    try:
        config.validate()
        expected = {k: tuple(v.shape) for k, v in Discriminator(config).state_dict().items()}
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {path}: its {source} is not a StyleGAN2 discriminator ({exc})") from None
    missing = sorted(set(expected) - set(sd))
    extra = sorted(set(sd) - set(expected))
    wrong = sorted(k for k in set(expected) & set(sd) if tuple(sd[k].shape) != expected[k])
    if missing or extra or wrong:
        parts = [f"{what} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                 for what, keys in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)) if keys]
        raise CheckpointError(f"checkpoint {path}: its {source} does not match a {config.img_resolution}-px "
                              f"{config.architecture} StyleGAN2 discriminator ({'; '.join(parts)}); train with a "
                              "fresh discriminator instead")
    return {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in sd.items()}


def _channels_layout(channels: dict[int, int], path: Path) -> tuple[int, int]:
    from ..generator.formats.rosinality import infer_channel_layout

    return infer_channel_layout(channels, path)


def _from_nvlabs(D: Any, path: Path) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]]:
    """Config and tensors of a pickled NVlabs ``Discriminator`` (its init kwargs, else what its tensors say)."""
    from ..generator.unpickle import PersistentObjectStub

    if not isinstance(D, PersistentObjectStub) or D.class_name != "Discriminator":
        what = D.class_name if isinstance(D, PersistentObjectStub) else type(D).__name__
        raise CheckpointError(f"checkpoint {path}: its 'D' is a {what}, not a StyleGAN2 Discriminator; train with a "
                              "fresh discriminator instead")
    sd = D.state_dict()
    kw = D.init_kwargs
    epi = dict(kw.get("epilogue_kwargs") or {})
    mapk = dict(kw.get("mapping_kwargs") or {})
    blocks = sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(r"b(\d+)\.conv0\.weight", k))}, reverse=True)
    if not blocks or "b4.conv.weight" not in sd:
        raise CheckpointError(f"checkpoint {path}: its D holds no StyleGAN2 discriminator blocks; train with a fresh "
                              "discriminator instead")
    resolution = int(kw.get("img_resolution") or blocks[0])
    img_channels = kw.get("img_channels")
    if img_channels is None:
        img_channels = sd[f"b{resolution}.fromrgb.weight"].shape[1] if f"b{resolution}.fromrgb.weight" in sd else 3
    if kw.get("channel_base") is not None and kw.get("channel_max") is not None:
        base, cmax = int(kw["channel_base"]), int(kw["channel_max"])
    else:  # older pickles without kwargs: read the counts from the conv weights
        channels = {r: int(sd[f"b{r}.conv0.weight"].shape[0]) for r in blocks}
        channels[4] = int(sd["b4.conv.weight"].shape[0])
        base, cmax = _channels_layout(channels, path)
    architecture = kw.get("architecture")
    if architecture is None:
        if any(k.endswith(".skip.weight") for k in sd):
            architecture = "resnet"
        elif sum(1 for k in sd if k.endswith(".fromrgb.weight")) > 1:
            architecture = "skip"
        else:
            architecture = "orig"
    mbstd_channels = epi.get("mbstd_num_channels")
    if mbstd_channels is None:
        mbstd_channels = int(sd["b4.conv.weight"].shape[1] - sd["b4.conv.weight"].shape[0])
    c_dim = int(kw.get("c_dim") or 0)
    lr_mul = mapk.get("lr_multiplier", 0.01)
    num_layers = mapk.get("num_layers")
    if num_layers is None:
        num_layers = sum(1 for k in sd if re.fullmatch(r"mapping\.fc\d+\.weight", k)) or 8
    cmap_dim = kw.get("cmap_dim")
    if c_dim and cmap_dim is None and "b4.out.weight" in sd:
        cmap_dim = int(sd["b4.out.weight"].shape[0])
    conv_clamp = kw.get("conv_clamp")
    group = epi.get("mbstd_group_size", 4)
    try:
        config = DiscriminatorConfig(
            c_dim=c_dim, img_resolution=resolution, img_channels=int(img_channels), channel_base=base,
            channel_max=cmax, num_fp16_res=int(kw.get("num_fp16_res") or 0),
            conv_clamp=None if conv_clamp is None else float(conv_clamp), architecture=str(architecture),
            mbstd_group_size=None if group is None else int(group), mbstd_num_channels=int(mbstd_channels),
            cmap_dim=None if cmap_dim is None else int(cmap_dim), mapping_layers=int(num_layers),
            mapping_lr_mul=float(lr_mul))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: cannot read D's architecture ({exc})") from None
    unsupported = {k: v for k, v in dict(kw.get("block_kwargs") or {}).items()
                   if k in ("activation", "resample_filter") and v not in ("lrelu", [1, 3, 3, 1])}
    if unsupported or epi.get("activation", "lrelu") != "lrelu":
        raise CheckpointError(f"checkpoint {path}: its D uses non-default layers ({unsupported or epi}); only "
                              "StyleGAN2's lrelu / [1,3,3,1] discriminators are supported")
    return config, _check_layout(config, sd, path, "D")


# rosinality ConvLayer = Sequential([Blur], EqualConv2d, FusedLeakyReLU): the conv weight sits at index 0, or 1
# after a Blur (down-sampling); the activation's bias follows it. ResBlock.conv1/conv2/skip are our conv0/conv1/skip.
def _rosinality_names(resolution: int) -> dict[str, str]:
    names = {"convs.0.0.weight": f"b{resolution}.fromrgb.weight", "convs.0.1.bias": f"b{resolution}.fromrgb.bias"}
    for i, res in enumerate(DiscriminatorConfig(img_resolution=resolution).block_resolutions, start=1):
        names.update({
            f"convs.{i}.conv1.0.weight": f"b{res}.conv0.weight", f"convs.{i}.conv1.1.bias": f"b{res}.conv0.bias",
            f"convs.{i}.conv2.1.weight": f"b{res}.conv1.weight", f"convs.{i}.conv2.2.bias": f"b{res}.conv1.bias",
            f"convs.{i}.skip.1.weight": f"b{res}.skip.weight",
        })
    names.update({"final_conv.0.weight": "b4.conv.weight", "final_conv.1.bias": "b4.conv.bias",
                  "final_linear.0.weight": "b4.fc.weight", "final_linear.0.bias": "b4.fc.bias",
                  "final_linear.1.weight": "b4.out.weight", "final_linear.1.bias": "b4.out.bias"})
    return names


def _from_rosinality(d: Any, args: Any, path: Path) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]]:
    """Rename a rosinality ``Discriminator`` state dict (StyleGAN2 'resnet' D, no labels, no clamp) to ours."""
    arch = getattr(args, "arch", "stylegan2")
    if arch != "stylegan2" or not isinstance(d, dict):
        raise CheckpointError(f"checkpoint {path}: its rosinality discriminator ({arch!r} architecture) is not "
                              "supported, only 'stylegan2'; train with a fresh discriminator instead")
    d = {str(k).removeprefix("module."): v for k, v in d.items()}
    n_blocks = sum(1 for k in d if re.fullmatch(r"convs\.\d+\.conv1\.0\.weight", k))
    rgb = d.get("convs.0.0.weight")
    if rgb is None or n_blocks == 0 or "final_conv.0.weight" not in d:
        raise CheckpointError(f"checkpoint {path}: its 'd' is not a rosinality StyleGAN2 discriminator (no convs.0 / "
                              "ResBlocks / final_conv); train with a fresh discriminator instead")
    resolution = 2 ** (n_blocks + 2)
    channels = {resolution // 2**i: int(d[f"convs.{i + 1}.conv1.0.weight"].shape[0]) for i in range(n_blocks)}
    channels[4] = int(d["final_conv.0.weight"].shape[0])
    base, cmax = _channels_layout(channels, path)
    config = DiscriminatorConfig(img_resolution=resolution, img_channels=int(rgb.shape[1]), channel_base=base,
                                 channel_max=cmax, num_fp16_res=0, conv_clamp=None, architecture="resnet")
    fir = make_fir_filter()
    for k, v in d.items():  # the Blur kernels must be the [1,3,3,1] filter our layers use
        if k.endswith(".kernel") and (v.shape != fir.shape or not torch.allclose(v.float(), fir, atol=1e-6)):
            raise CheckpointError(f"checkpoint {path}: its discriminator blurs with a non-default kernel ({k}); "
                                  "only [1,3,3,1] is supported")
    names = _rosinality_names(resolution)
    extra = sorted(k for k in d if k not in names and not k.endswith(".kernel"))
    if extra:
        raise CheckpointError(f"checkpoint {path}: its rosinality discriminator has unexpected tensors "
                              f"({', '.join(extra[:3])}); train with a fresh discriminator instead")
    sd = {names[k]: v for k, v in d.items() if k in names}
    for k, v in Discriminator(config).state_dict().items():
        if k.endswith("resample_filter"):
            sd[k] = v
    return config, _check_layout(config, sd, path, "discriminator 'd'")


def _from_tf(D: Any, path: Path) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]]:
    """Rename the variables of a TensorFlow StyleGAN2(-ADA) ``D`` to ours (NVlabs ``legacy.py``'s table)."""
    from ..generator.formats.nvlabs_tf import collect_variables

    kw = D.static_kwargs
    v = {k: torch.from_numpy(a.astype("float32", copy=True)) for k, a in collect_variables(D).items()}
    resolution = int(kw.get("resolution", 1024))
    architecture = str(kw.get("architecture", "resnet"))
    for name in list(v):  # progressive-era names of the 'orig' layout
        m = re.fullmatch(r"FromRGB_lod(\d+)/(.*)", name)
        if m:
            r = resolution // 2 ** int(m.group(1))
            v[f"{r}x{r}/FromRGB/{m.group(2)}"] = v.pop(name)
            architecture = "orig"
    if kw.get("nonlinearity", "lrelu") != "lrelu" or list(kw.get("resample_kernel", [1, 3, 3, 1])) != [1, 3, 3, 1]:
        raise CheckpointError(f"checkpoint {path}: its TensorFlow D uses non-default layers; only StyleGAN2's lrelu "
                              "/ [1,3,3,1] discriminators are supported")
    c_dim = int(kw.get("label_size", 0) or 0)
    group = kw.get("mbstd_group_size", 4)  # TF's D_stylegan2 default when the run did not pass one
    try:
        config = DiscriminatorConfig(
            c_dim=c_dim, img_resolution=resolution, img_channels=int(kw.get("num_channels", 3)),
            channel_base=int(kw.get("fmap_base", 16384)) * 2,  # TF counts fmap_base / (2 * res)
            channel_max=int(kw.get("fmap_max", 512)), num_fp16_res=int(kw.get("num_fp16_res", 0) or 0),
            conv_clamp=None if kw.get("conv_clamp") is None else float(kw["conv_clamp"]), architecture=architecture,
            mbstd_group_size=None if group is None else int(group),
            mbstd_num_channels=int(kw.get("mbstd_num_features", 1)),
            cmap_dim=None if kw.get("mapping_fmaps") is None else int(kw["mapping_fmaps"]),
            mapping_layers=int(kw.get("mapping_layers", 0) or 0), mapping_lr_mul=float(kw.get("mapping_lrmul", 0.1)))
        config.validate()
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: cannot read the TensorFlow D's architecture ({exc})") from None

    def conv(name: str) -> torch.Tensor:  # TF [k, k, in, out] -> [out, in, k, k]
        return v[name].permute(3, 2, 0, 1)

    sd: dict[str, torch.Tensor] = {}
    try:
        for key, ref in Discriminator(config).state_dict().items():
            m = re.fullmatch(r"b(\d+)\.(fromrgb|conv0|conv1|skip)\.(weight|bias)", key)
            if key.endswith("resample_filter"):
                sd[key] = ref
            elif m:
                r, layer, kind = m.groups()
                tf_layer = {"fromrgb": "FromRGB", "conv0": "Conv0", "conv1": "Conv1_down", "skip": "Skip"}[layer]
                name = f"{r}x{r}/{tf_layer}/{kind}"
                sd[key] = conv(name) if kind == "weight" else v[name]
            elif key.startswith("mapping."):
                _, layer, kind = key.split(".")
                name = f"{'LabelEmbed' if layer == 'embed' else 'Mapping' + layer[2:]}/{kind}"
                sd[key] = v[name].t() if kind == "weight" else v[name]
            else:
                layer, kind = key.split(".")[1:]
                name = {"fromrgb": "4x4/FromRGB", "conv": "4x4/Conv", "fc": "4x4/Dense0", "out": "Output"}[layer]
                w = v[f"{name}/{kind}"]
                sd[key] = (conv(f"{name}/{kind}") if layer in ("fromrgb", "conv") else w.t()) if kind == "weight" else w
    except KeyError as exc:
        raise CheckpointError(f"checkpoint {path}: its TensorFlow D has no variable {exc.args[0]} (not a StyleGAN2 "
                              "discriminator); train with a fresh discriminator instead") from None
    return config, _check_layout(config, sd, path, "TensorFlow D")
