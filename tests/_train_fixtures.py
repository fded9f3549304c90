"""Discriminators in the layouts of NVlabs and rosinality checkpoints, written from their public sources.

Nothing here imports musicvideo's discriminator: the key names and shapes are spelled out from stylegan2-ada-pytorch
``training/networks.py`` (``Discriminator``, ``DiscriminatorBlock``, ``DiscriminatorEpilogue``, ``Conv2dLayer``,
``MappingNetwork``) and rosinality ``model.py`` (``Discriminator``, ``ResBlock``, ``ConvLayer``), and
:func:`rosinality_d_forward` is rosinality's forward pass written out in functional torch, so that a converted D can
be checked number for number. The files reuse the generator writers of :mod:`tests._checkpoint_fixtures` (their
``extra=`` argument replaces the placeholder D those files carry).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from tests._checkpoint_fixtures import (EasyDict, _module_state, _PersistentModule, reference_state_dict, tiny_config,
                                        write_nvlabs_pytorch_pkl, write_rosinality_pt)


def _fir() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(f, f) / 64.0


def nvlabs_d_layout(*, resolution: int, channel_base: int, channel_max: int, c_dim: int = 0,
                    architecture: str = "resnet", mbstd_num_channels: int = 1, cmap_dim: int | None = None,
                    mapping_layers: int = 8, img_channels: int = 3) -> dict[str, tuple[int, ...]]:
    """Name -> shape of NVlabs ``Discriminator(...).state_dict()`` (every ``Conv2dLayer`` has a resample_filter)."""
    ch = {r: min(channel_base // r, channel_max) for r in [2**i for i in range(2, int(math.log2(resolution)) + 1)]}
    cmap = 0 if c_dim == 0 else (ch[4] if cmap_dim is None else cmap_dim)
    out: dict[str, tuple[int, ...]] = OrderedDict()

    def conv(name: str, cin: int, cout: int, k: int, bias: bool = True) -> None:
        out[f"{name}.weight"] = (cout, cin, k, k)
        if bias:
            out[f"{name}.bias"] = (cout,)
        out[f"{name}.resample_filter"] = (4, 4)

    res = resolution
    while res > 4:
        tmp = ch[res]
        if res == resolution or architecture == "skip":
            conv(f"b{res}.fromrgb", img_channels, tmp, 1)
        conv(f"b{res}.conv0", tmp, tmp, 3)
        conv(f"b{res}.conv1", tmp, ch[res // 2], 3)
        if architecture == "resnet":
            conv(f"b{res}.skip", tmp, ch[res // 2], 1, bias=False)
        out[f"b{res}.resample_filter"] = (4, 4)
        res //= 2
    if c_dim:
        out["mapping.embed.weight"] = (cmap, c_dim)
        out["mapping.embed.bias"] = (cmap,)
        for i in range(mapping_layers):
            out[f"mapping.fc{i}.weight"] = (cmap, cmap)
            out[f"mapping.fc{i}.bias"] = (cmap,)
    if architecture == "skip":
        conv("b4.fromrgb", img_channels, ch[4], 1)
    conv("b4.conv", ch[4] + mbstd_num_channels, ch[4], 3)
    out["b4.fc.weight"] = (ch[4], ch[4] * 16)
    out["b4.fc.bias"] = (ch[4],)
    out["b4.out.weight"] = (cmap or 1, ch[4])
    out["b4.out.bias"] = (cmap or 1,)
    return out


def random_d_state(layout: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights for a layout: N(0, 1) weights, non-zero biases (so that every renaming matters), FIR buffers."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = OrderedDict()
    for name, shape in layout.items():
        if name.endswith("resample_filter"):
            sd[name] = _fir()
        elif name.endswith("bias"):
            sd[name] = torch.randn(shape, generator=g) * 0.2
        else:
            sd[name] = torch.randn(shape, generator=g)
    return sd


def _d_class(path: str) -> str:
    last = path.rsplit(".", 1)[-1]
    if path == "":
        return "Discriminator"
    if path == "b4":
        return "DiscriminatorEpilogue"
    if last.startswith("b") and last[1:].isdigit():
        return "DiscriminatorBlock"
    if path == "mapping":
        return "MappingNetwork"
    if last == "mbstd":
        return "MinibatchStdLayer"
    if last in ("fc", "out", "embed") or last.startswith("fc"):
        return "FullyConnectedLayer"
    return "Conv2dLayer"


def nvlabs_d_tree(sd: dict[str, torch.Tensor], init_kwargs: dict[str, Any], *, frozen: tuple[str, ...] = ()
                  ) -> _PersistentModule:
    """The pickled ``D`` of a stylegan2-ada-pytorch snapshot holding ``sd``.

    ``frozen`` lists layer paths built with ``trainable=False`` (Freeze-D): their weight and bias are buffers.
    """
    paths = {""}
    for key in sd:
        parts = key.split(".")
        paths.update(".".join(parts[:i]) for i in range(1, len(parts)))
    paths.add("b4.mbstd")  # a module without tensors

    def build(path: str) -> _PersistentModule:
        prefix = path + "." if path else ""
        children = sorted(p[len(prefix):] for p in paths if p.startswith(prefix) and p != path
                          and "." not in p[len(prefix):])
        leaf = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix) and "." not in k[len(prefix):]}
        as_buffer = {"resample_filter"} | ({"weight", "bias"} if path in frozen else set())
        params = {k: v for k, v in leaf.items() if k not in as_buffer}
        buffers = {k: v for k, v in leaf.items() if k in as_buffer}
        kwargs = init_kwargs if path == "" else {}
        modules = {c: build(prefix + c) for c in children}
        return _PersistentModule(_d_class(path), _module_state(params, buffers, modules, {}, kwargs))

    return build("")


def d_init_kwargs(*, resolution: int, channel_base: int, channel_max: int, c_dim: int = 0,
                  architecture: str | None = None, mbstd_group_size: int = 4, conv_clamp: float | None = 256,
                  num_fp16_res: int = 4, mapping_layers: int | None = None) -> dict[str, Any]:
    """The ``D`` constructor kwargs as stylegan2-ada-pytorch's train.py passes them (architecture only if set)."""
    kw: dict[str, Any] = dict(c_dim=c_dim, img_resolution=resolution, img_channels=3, channel_base=channel_base,
                              channel_max=channel_max, num_fp16_res=num_fp16_res, conv_clamp=conv_clamp,
                              block_kwargs=EasyDict(), mapping_kwargs=EasyDict(),
                              epilogue_kwargs=EasyDict(mbstd_group_size=mbstd_group_size))
    if architecture is not None:
        kw["architecture"] = architecture
    if mapping_layers is not None:
        kw["mapping_kwargs"]["num_layers"] = mapping_layers
    return kw


def write_nvlabs_pkl_with_d(path: Path, *, c_dim: int = 0, architecture: str = "resnet", seed: int = 1,
                            frozen: tuple[str, ...] = (), kwargs: bool = True) -> dict[str, torch.Tensor]:
    """A 16-px stylegan2-ada-pytorch snapshot with a real ``D`` (channel_base 128, channel_max 32); returns D's
    state dict. ``kwargs=False`` leaves out the constructor kwargs (the loader must read the tensors)."""
    gconfig = tiny_config(c_dim=c_dim)
    layout = nvlabs_d_layout(resolution=16, channel_base=128, channel_max=32, c_dim=c_dim, architecture=architecture,
                             mapping_layers=2)
    dsd = random_d_state(layout, seed)
    kw = d_init_kwargs(resolution=16, channel_base=128, channel_max=32, c_dim=c_dim, mapping_layers=2,
                       architecture=None if architecture == "resnet" else architecture) if kwargs else {}
    D = nvlabs_d_tree(dsd, kw, frozen=frozen)
    write_nvlabs_pytorch_pkl(path, gconfig, reference_state_dict(gconfig), extra={"D": D})
    return dsd


# ------------------------------------------------------------------------------------------------- rosinality


def rosinality_d_state(sd: dict[str, torch.Tensor], resolution: int) -> dict[str, torch.Tensor]:
    """rosinality ``Discriminator.state_dict()`` holding the weights of an NVlabs-layout 'resnet' D ``sd``.

    Written from model.py: ``convs.0`` = ConvLayer(3, C, 1) = [EqualConv2d (no bias), FusedLeakyReLU (bias)];
    ``convs.{i}`` = ResBlock: ``conv1`` ConvLayer 3x3, ``conv2`` [Blur (kernel), EqualConv2d stride 2,
    FusedLeakyReLU], ``skip`` [Blur, EqualConv2d 1x1 stride 2 without bias]; ``final_conv`` ConvLayer 3x3;
    ``final_linear`` = [EqualLinear with fused lrelu, EqualLinear].
    """
    out: dict[str, torch.Tensor] = OrderedDict()
    out["convs.0.0.weight"] = sd[f"b{resolution}.fromrgb.weight"].clone()
    out["convs.0.1.bias"] = sd[f"b{resolution}.fromrgb.bias"].clone()
    res, i = resolution, 1
    while res > 4:
        out[f"convs.{i}.conv1.0.weight"] = sd[f"b{res}.conv0.weight"].clone()
        out[f"convs.{i}.conv1.1.bias"] = sd[f"b{res}.conv0.bias"].clone()
        out[f"convs.{i}.conv2.0.kernel"] = _fir()
        out[f"convs.{i}.conv2.1.weight"] = sd[f"b{res}.conv1.weight"].clone()
        out[f"convs.{i}.conv2.2.bias"] = sd[f"b{res}.conv1.bias"].clone()
        out[f"convs.{i}.skip.0.kernel"] = _fir()
        out[f"convs.{i}.skip.1.weight"] = sd[f"b{res}.skip.weight"].clone()
        res, i = res // 2, i + 1
    out["final_conv.0.weight"] = sd["b4.conv.weight"].clone()
    out["final_conv.1.bias"] = sd["b4.conv.bias"].clone()
    out["final_linear.0.weight"] = sd["b4.fc.weight"].clone()
    out["final_linear.0.bias"] = sd["b4.fc.bias"].clone()
    out["final_linear.1.weight"] = sd["b4.out.weight"].clone()
    out["final_linear.1.bias"] = sd["b4.out.bias"].clone()
    return out


def rosinality_d_forward(d: dict[str, torch.Tensor], img: torch.Tensor) -> torch.Tensor:
    """rosinality's ``Discriminator.forward`` in functional torch (Blur = pad then correlate with the kernel)."""

    def lrelu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:  # FusedLeakyReLU
        return F.leaky_relu(x + bias.reshape(1, -1, *[1] * (x.ndim - 2)), 0.2) * math.sqrt(2)

    def eq_conv(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: int = 0) -> torch.Tensor:
        return F.conv2d(x, w / math.sqrt(w[0].numel()), stride=stride, padding=padding)

    def blur(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
        x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
        k = kernel.flip([0, 1])[None, None].repeat(x.shape[1], 1, 1, 1)
        return F.conv2d(x, k, groups=x.shape[1])

    x = lrelu(eq_conv(img, d["convs.0.0.weight"]), d["convs.0.1.bias"])
    i = 1
    while f"convs.{i}.conv1.0.weight" in d:
        p = f"convs.{i}"
        out = lrelu(eq_conv(x, d[f"{p}.conv1.0.weight"], padding=1), d[f"{p}.conv1.1.bias"])
        out = blur(out, d[f"{p}.conv2.0.kernel"], (2, 2))  # p = (4 - 2) + (3 - 1) = 4
        out = lrelu(eq_conv(out, d[f"{p}.conv2.1.weight"], stride=2), d[f"{p}.conv2.2.bias"])
        skip = eq_conv(blur(x, d[f"{p}.skip.0.kernel"], (1, 1)), d[f"{p}.skip.1.weight"], stride=2)
        x = (out + skip) / math.sqrt(2)
        i += 1
    b, c, h, w = x.shape
    group = min(b, 4)
    std = x.view(group, -1, 1, c, h, w)
    std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
    x = torch.cat([x, std.repeat(group, 1, h, w)], 1)
    x = lrelu(eq_conv(x, d["final_conv.0.weight"], padding=1), d["final_conv.1.bias"]).view(b, -1)
    w0, w1 = d["final_linear.0.weight"], d["final_linear.1.weight"]
    x = lrelu(F.linear(x, w0 / math.sqrt(w0.shape[1])), d["final_linear.0.bias"])
    return F.linear(x, w1 / math.sqrt(w1.shape[1]), d["final_linear.1.bias"])


def write_rosinality_pt_with_d(path: Path, *, seed: int = 2, arch: str | None = None) -> dict[str, torch.Tensor]:
    """A 16-px rosinality training checkpoint whose ``d`` is a real discriminator; returns that ``d``."""
    gconfig = tiny_config()
    dsd = random_d_state(nvlabs_d_layout(resolution=16, channel_base=128, channel_max=32), seed)
    d = rosinality_d_state(dsd, 16)
    extra: dict[str, Any] = {"d": d}
    write_rosinality_pt(path, gconfig, reference_state_dict(gconfig), training=True, extra=extra)
    if arch is not None:  # rewrite with a different args.arch (e.g. 'swagan')
        data = torch.load(path, weights_only=False)
        data["args"].arch = arch
        torch.save(data, path)
    return d


# ------------------------------------------------------------------------------------------------- NVlabs TensorFlow


def tf_d_variables(sd: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The TF ``D`` variables holding an NVlabs-layout state dict: the inverse of NVlabs ``legacy.py``'s table
    (conv kernels [k, k, in, out], dense [in, out]; ``Conv1_down``, ``Skip``, ``Dense0``, ``Output``, ``LabelEmbed``,
    ``Mapping{i}``)."""
    import numpy as np

    out: dict[str, Any] = OrderedDict()
    names = {"fromrgb": "FromRGB", "conv0": "Conv0", "conv1": "Conv1_down", "skip": "Skip", "conv": "Conv",
             "fc": "Dense0"}
    for key, t in sd.items():
        if key.endswith("resample_filter"):
            continue
        parts = key.split(".")
        kind = parts[-1]
        if parts[0] == "mapping":
            name = "LabelEmbed" if parts[1] == "embed" else f"Mapping{parts[1][2:]}"
        elif parts[1] == "out":
            name = "Output"
        else:
            r = int(parts[0][1:])
            name = f"{r}x{r}/{names[parts[1]]}"
        if kind == "weight":
            t = t.permute(2, 3, 1, 0) if t.ndim == 4 else t.t()
        out[f"{name}/{kind}"] = np.ascontiguousarray(t.numpy())
    return out


def write_nvlabs_tf_pkl_with_d(path: Path, *, c_dim: int = 0, architecture: str = "resnet", seed: int = 4,
                               mapping_layers: int = 0) -> dict[str, torch.Tensor]:
    """A 16-px TF ``(G, D, Gs)`` pickle whose ``D`` is a real discriminator (NVlabs' TF kwargs: fmap_base is half
    the PyTorch channel_base; the label mapping has ``mapping_layers`` layers, 0 by default as in TF); returns D's
    state dict in the NVlabs PyTorch layout."""
    import tests._checkpoint_fixtures as cf

    gconfig = tiny_config(c_dim=c_dim)
    layout = nvlabs_d_layout(resolution=16, channel_base=128, channel_max=32, c_dim=c_dim, architecture=architecture,
                             mapping_layers=mapping_layers)
    dsd = random_d_state(layout, seed)
    kwargs = dict(num_channels=3, resolution=16, label_size=c_dim, fmap_base=64, fmap_max=32,
                  architecture=architecture, mbstd_group_size=4, mapping_layers=mapping_layers)
    original = cf._tf_state

    def with_real_d(name, func, static_kwargs, variables, components=None, version=4):
        if name == "D":
            static_kwargs, variables = kwargs, tf_d_variables(dsd)
        return original(name, func, static_kwargs, variables, components, version)

    cf._tf_state = with_real_d
    try:
        cf.write_nvlabs_tf_pkl(path, gconfig, reference_state_dict(gconfig))
    finally:
        cf._tf_state = original
    return dsd
