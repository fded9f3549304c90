"""Tiny NVlabs stylegan3 snapshot pickles (-T and -R, conditional or not), written by our own code.

What ``training/training_loop.py`` of NVlabs/stylegan3 writes is ``pickle.dump(dict(G, D, G_ema, augment_pipe,
training_set_kwargs))``; every network module is a ``torch_utils.persistence`` object and pickles as
``_reconstruct_persistent_obj(dict(type='class', version=6, module_src, class_name, state=module.__dict__))``. The
``__dict__`` holds torch's bookkeeping (``_parameters``, ``_buffers``, ``_modules``, hooks...), the plain attributes
each constructor of ``training/networks_stylegan3.py`` sets (numpy scalars and arrays where NVlabs computes them with
numpy), and persistence's ``_init_args`` / ``_init_kwargs`` (what the constructor was called with: the sub-layers
get positional arguments, the networks keywords).

Here the module tree is first built as plain :class:`Node` records (so that a test can break one tensor or one
setting), from our reading of NVlabs' constructors: the layer schedule and the Kaiser/jinc filters are computed in
this file with numpy/scipy, independently of ``musicvideo.generator.stylegan3``, and the weights are seeded random
numbers of NVlabs' shapes. :func:`write_stylegan3_snapshot` then pickles the nodes through the fake
``torch_utils.persistence`` of :mod:`_checkpoint_fixtures`; the embedded module source is ``EVIL_SOURCE``.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.signal
import scipy.special
import torch

from _checkpoint_fixtures import EVIL_SOURCE, EasyDict, _fake_nvlabs_modules, _PersistentModule

SG3_SOURCE = ("# training/networks_stylegan3.py (stand-in)\nclass SynthesisInput(torch.nn.Module):\n    pass\n"
              + EVIL_SOURCE)

TINY = dict(num_layers=4, num_critical=2, margin_size=2)  # few layers, a small margin: fast


@dataclass
class Node:
    """One pickled module: class name, tensors, children, plain attributes and constructor arguments."""

    class_name: str
    params: dict[str, torch.Tensor] = field(default_factory=OrderedDict)
    buffers: dict[str, torch.Tensor | None] = field(default_factory=OrderedDict)
    modules: dict[str, "Node | None"] = field(default_factory=OrderedDict)
    attrs: dict[str, Any] = field(default_factory=dict)
    init_args: tuple = ()
    init_kwargs: dict[str, Any] = field(default_factory=dict)

    def find(self, dotted: str) -> "Node":
        """The child at ``'synthesis.L0_20_8'`` (``''`` = this node)."""
        node = self
        for part in filter(None, dotted.split(".")):
            node = node.modules[part]
        return node

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and buffers by ``nn.Module.state_dict`` names (None buffers left out)."""
        out = {prefix + k: v for k, v in self.params.items()}
        out.update({prefix + k: v for k, v in self.buffers.items() if v is not None})
        for name, child in self.modules.items():
            if child is not None:
                out.update(child.state_dict(prefix + name + "."))
        return out

    def pickled(self, module_src: str = SG3_SOURCE) -> _PersistentModule:
        """The persistence stand-in that pickles as NVlabs does, with ``module.__dict__`` as its state."""
        state: dict[str, Any] = {"training": False}
        state["_parameters"] = OrderedDict((k, torch.nn.Parameter(v.clone(), requires_grad=False))
                                           for k, v in self.params.items())
        state["_buffers"] = OrderedDict((k, None if v is None else v.clone()) for k, v in self.buffers.items())
        state["_non_persistent_buffers_set"] = set()
        for hooks in ("_backward_pre_hooks", "_backward_hooks", "_is_full_backward_hook", "_forward_hooks",
                      "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
                      "_forward_pre_hooks_with_kwargs", "_state_dict_hooks", "_state_dict_pre_hooks",
                      "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks"):
            state[hooks] = None if hooks == "_is_full_backward_hook" else OrderedDict()
        state["_modules"] = OrderedDict((k, None if v is None else v.pickled(module_src))
                                        for k, v in self.modules.items())
        state.update(self.attrs)
        state["_init_args"] = tuple(self.init_args)
        state["_init_kwargs"] = dict(self.init_kwargs)
        return _PersistentModule(self.class_name, state, module_src)


# ------------------------------------------------------------------------------------------------ NVlabs' formulas


def _lowpass(numtaps: int, cutoff: float, width: float, fs: float, radial: bool) -> torch.Tensor | None:
    """NVlabs' ``design_lowpass_filter``: None for 1 tap, Kaiser ``firwin``, or a windowed jinc (radial)."""
    if numtaps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs),
                               dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f = f * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


class _Weights:
    """Seeded random tensors; trained-looking where it matters (non-zero biases, magnitude EMAs around 1)."""

    def __init__(self, seed: int):
        self.gen = torch.Generator().manual_seed(seed)

    def randn(self, *shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(shape, generator=self.gen) * scale

    def rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.gen)


def _fully_connected(rng: _Weights, args: tuple, *, activation: str = "linear", lr_multiplier: float = 1,
                     weight_init: float = 1, bias_init: Any = 0, kwargs: dict | None = None) -> Node:
    in_features, out_features = args
    bias = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features]) / lr_multiplier
    node = Node("FullyConnectedLayer", init_args=args, init_kwargs=dict(kwargs or {}))
    node.params["weight"] = rng.randn(out_features, in_features, scale=1 / lr_multiplier) * (weight_init or 0.05)
    node.params["bias"] = torch.from_numpy(np.array(bias)) + rng.randn(out_features, scale=0.05 / lr_multiplier)
    node.attrs = dict(in_features=in_features, out_features=out_features, activation=activation,
                      weight_gain=lr_multiplier / np.sqrt(in_features), bias_gain=lr_multiplier)
    return node


def nvlabs_generator_kwargs(*, radial: bool = False, c_dim: int = 0, resolution: int = 16, z_dim: int = 8,
                            w_dim: int = 8, **overrides: Any) -> dict[str, Any]:
    """``_init_kwargs`` of ``G_ema`` as train.py builds them (``--cfg=stylegan3-t`` / ``-r``) for a tiny network.

    train.py's ``G_kwargs`` (z_dim, w_dim, mapping_kwargs, channel_base, channel_max, magnitude_ema_beta; -R:
    conv_kernel=1, doubled channels, use_radial_filters=True), the tiny-size settings, then training_loop's
    ``common_kwargs`` (c_dim, img_resolution, img_channels).
    """
    kw: dict[str, Any] = dict(z_dim=z_dim, w_dim=w_dim, mapping_kwargs=EasyDict(num_layers=2),
                              channel_base=128, channel_max=8, magnitude_ema_beta=0.5 ** (32 / (20 * 1e3)))
    if radial:
        kw.update(conv_kernel=1, channel_base=256, channel_max=16, use_radial_filters=True)
    kw.update(TINY)
    kw.update(c_dim=c_dim, img_resolution=resolution, img_channels=3)
    kw.update(overrides)
    return kw


def nvlabs_stylegan3_tree(kwargs: dict[str, Any], seed: int = 0) -> Node:
    """The module tree of ``training/networks_stylegan3.Generator(**kwargs)`` with seeded random weights."""
    rng = _Weights(seed)
    kw = dict(kwargs)
    z_dim, c_dim, w_dim = kw.pop("z_dim"), kw.pop("c_dim"), kw.pop("w_dim")
    img_resolution, img_channels = kw.pop("img_resolution"), kw.pop("img_channels")
    mapping_kwargs = dict(kw.pop("mapping_kwargs", {}))
    syn_names = ("channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
                 "last_stopband_rel", "margin_size", "output_scale", "num_fp16_res")
    syn = dict(channel_base=32768, channel_max=512, num_layers=14, num_critical=2, first_cutoff=2,
               first_stopband=2**2.1, last_stopband_rel=2**0.3, margin_size=10, output_scale=0.25, num_fp16_res=4)
    syn.update({k: v for k, v in kw.items() if k in syn_names})
    layer_kwargs = {k: v for k, v in kw.items() if k not in syn_names}
    lk = dict(conv_kernel=3, filter_size=6, lrelu_upsampling=2, use_radial_filters=False, conv_clamp=256,
              magnitude_ema_beta=0.999)
    lk.update(layer_kwargs)

    # SynthesisNetwork: the schedule (paper's formulas), then the input and the layers.
    n = syn["num_layers"]
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * syn["last_stopband_rel"]
    exponents = np.minimum(np.arange(n + 1) / (n - syn["num_critical"]), 1)
    cutoffs = syn["first_cutoff"] * (last_cutoff / syn["first_cutoff"]) ** exponents
    stopbands = syn["first_stopband"] * (last_stopband / syn["first_stopband"]) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + syn["margin_size"] * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((syn["channel_base"] / 2) / cutoffs, syn["channel_max"]))
    channels[-1] = img_channels

    synthesis = Node("SynthesisNetwork", init_kwargs=dict(w_dim=w_dim, img_resolution=img_resolution,
                                                          img_channels=img_channels, **{k: v for k, v in kw.items()}))
    synthesis.attrs = dict(w_dim=w_dim, num_ws=n + 2, img_resolution=img_resolution, img_channels=img_channels,
                           num_layers=n, num_critical=syn["num_critical"], margin_size=syn["margin_size"],
                           output_scale=syn["output_scale"], num_fp16_res=syn["num_fp16_res"])
    in_kwargs = dict(w_dim=w_dim, channels=int(channels[0]), size=int(sizes[0]), sampling_rate=rates[0],
                     bandwidth=cutoffs[0])
    inp = Node("SynthesisInput", init_kwargs=in_kwargs)
    ch = int(channels[0])
    freqs = rng.randn(ch, 2)
    radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
    freqs = freqs / (radii * radii.square().exp().pow(0.25)) * float(cutoffs[0])
    inp.attrs = dict(w_dim=w_dim, channels=ch, size=np.broadcast_to(np.asarray(int(sizes[0])), [2]),
                     sampling_rate=rates[0], bandwidth=cutoffs[0])
    inp.params["weight"] = rng.randn(ch, ch)
    inp.modules["affine"] = _fully_connected(rng, (w_dim, 4), weight_init=0, bias_init=[1, 0, 0, 0],
                                             kwargs=dict(weight_init=0, bias_init=[1, 0, 0, 0]))
    inp.modules["affine"].params["weight"] = rng.randn(4, w_dim, scale=0.05)  # a learned, non-trivial transform
    inp.buffers.update(transform=torch.eye(3, 3), freqs=freqs, phases=rng.rand(ch) - 0.5)
    synthesis.modules["input"] = inp

    layer_names = []
    for idx in range(n + 1):
        prev = max(idx - 1, 0)
        is_torgb = idx == n
        critical = idx >= n - syn["num_critical"]
        use_fp16 = rates[idx] * (2 ** syn["num_fp16_res"]) > img_resolution
        args = dict(w_dim=w_dim, is_torgb=is_torgb, is_critically_sampled=critical, use_fp16=use_fp16,
                    in_channels=int(channels[prev]), out_channels=int(channels[idx]), in_size=int(sizes[prev]),
                    out_size=int(sizes[idx]), in_sampling_rate=int(rates[prev]), out_sampling_rate=int(rates[idx]),
                    in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx], in_half_width=half_widths[prev],
                    out_half_width=half_widths[idx], **layer_kwargs)
        layer = Node("SynthesisLayer", init_kwargs=args)
        k = 1 if is_torgb else lk["conv_kernel"]
        tmp = max(args["in_sampling_rate"], args["out_sampling_rate"]) * (1 if is_torgb else lk["lrelu_upsampling"])
        up = int(np.rint(tmp / args["in_sampling_rate"]))
        up_taps = lk["filter_size"] * up if up > 1 and not is_torgb else 1
        down = int(np.rint(tmp / args["out_sampling_rate"]))
        down_taps = lk["filter_size"] * down if down > 1 and not is_torgb else 1
        radial = bool(lk["use_radial_filters"]) and not critical
        in_size = np.broadcast_to(np.asarray(args["in_size"]), [2])
        out_size = np.broadcast_to(np.asarray(args["out_size"]), [2])
        pad_total = (out_size - 1) * down + 1 - (in_size + k - 1) * up + up_taps + down_taps - 2
        pad_lo = (pad_total + up) // 2
        pad_hi = pad_total - pad_lo
        layer.attrs = dict(
            w_dim=w_dim, is_torgb=is_torgb, is_critically_sampled=critical, use_fp16=use_fp16,
            in_channels=args["in_channels"], out_channels=args["out_channels"], in_size=in_size, out_size=out_size,
            in_sampling_rate=args["in_sampling_rate"], out_sampling_rate=args["out_sampling_rate"],
            tmp_sampling_rate=tmp, in_cutoff=args["in_cutoff"], out_cutoff=args["out_cutoff"],
            in_half_width=args["in_half_width"], out_half_width=args["out_half_width"], conv_kernel=k,
            conv_clamp=lk["conv_clamp"], magnitude_ema_beta=lk["magnitude_ema_beta"], up_factor=up, up_taps=up_taps,
            down_factor=down, down_taps=down_taps, down_radial=radial,
            padding=[int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])])
        layer.modules["affine"] = _fully_connected(rng, (w_dim, args["in_channels"]), bias_init=1,
                                                   kwargs=dict(bias_init=1))
        layer.params["weight"] = rng.randn(args["out_channels"], args["in_channels"], k, k)
        layer.params["bias"] = rng.randn(args["out_channels"], scale=0.1)
        layer.buffers["magnitude_ema"] = (0.5 + rng.rand()).reshape([])
        layer.buffers["up_filter"] = _lowpass(up_taps, args["in_cutoff"], args["in_half_width"] * 2, tmp, False)
        layer.buffers["down_filter"] = _lowpass(down_taps, args["out_cutoff"], args["out_half_width"] * 2, tmp,
                                                radial)
        name = f"L{idx}_{out_size[0]}_{args['out_channels']}"
        synthesis.modules[name] = layer
        layer_names.append(name)
    synthesis.attrs["layer_names"] = layer_names

    # MappingNetwork (after the synthesis network: Generator builds it second).
    num_ws = n + 2
    m_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, **mapping_kwargs)
    mapping = Node("MappingNetwork", init_kwargs=m_kwargs)
    num_layers = mapping_kwargs.get("num_layers", 2)
    lr = mapping_kwargs.get("lr_multiplier", 0.01)
    mapping.attrs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=num_layers,
                         w_avg_beta=mapping_kwargs.get("w_avg_beta", 0.998))
    mapping.modules["embed"] = _fully_connected(rng, (c_dim, w_dim)) if c_dim > 0 else None
    features = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
    for idx in range(num_layers):
        mapping.modules[f"fc{idx}"] = _fully_connected(
            rng, (features[idx], features[idx + 1]), activation="lrelu", lr_multiplier=lr,
            kwargs=dict(activation="lrelu", lr_multiplier=lr))
    mapping.buffers["w_avg"] = rng.randn(w_dim, scale=0.5)

    G = Node("Generator", init_kwargs=dict(kwargs))
    G.attrs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels)
    G.modules["synthesis"] = synthesis
    G.attrs["num_ws"] = num_ws
    G.modules["mapping"] = mapping
    return G


def _discriminator() -> Node:
    node = Node("Discriminator", init_kwargs=dict(c_dim=0, img_resolution=16, img_channels=3))
    node.params["weight"] = torch.randn(4, 3, 1, 1)
    return node


def _augment_pipe() -> Node:
    node = Node("AugmentPipe", init_kwargs=dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1))
    node.buffers.update(p=torch.tensor(0.12), Hz_geom=torch.randn(12))
    return node


def write_stylegan3_snapshot(path: Path, *, radial: bool = False, c_dim: int = 0, resolution: int = 16,
                             seed: int = 0, settings: dict[str, Any] | None = None,
                             kwargs: dict[str, Any] | None = None,
                             edit: Callable[[Node], None] | None = None, bare: bool = False) -> tuple[Path, Node]:
    """Write ``network-snapshot-*.pkl`` of a tiny StyleGAN3-T (or -R) network; returns the path and ``G_ema``'s tree.

    Parameters
    ----------
    path : Path
        Destination.
    radial : bool
        -R (1x1 convolutions, radial filters, doubled channels) instead of -T.
    c_dim : int
        Conditioning label size (0 = unconditional).
    resolution : int
        Image size.
    seed : int
        Weights seed (``G`` gets other weights than ``G_ema``: the loader must take ``G_ema``).
    settings : dict, optional
        More or other constructor keywords, used to build the network (non-default filter sizes...).
    kwargs : dict, optional
        Replaces G_ema's ``_init_kwargs`` after the network was built from the normal ones (an unknown setting...).
    edit : callable, optional
        Called with G_ema's tree before pickling (remove or reshape a tensor...).
    bare : bool
        Pickle ``G_ema`` alone instead of the snapshot dict.
    """
    init_kwargs = nvlabs_generator_kwargs(radial=radial, c_dim=c_dim, resolution=resolution, **(settings or {}))
    G_ema = nvlabs_stylegan3_tree(init_kwargs, seed)
    G = nvlabs_stylegan3_tree(init_kwargs, seed + 1000)
    if kwargs is not None:
        G_ema.init_kwargs = dict(kwargs)
    if edit is not None:
        edit(G_ema)
    tsk = dict(class_name="training.dataset.ImageFolderDataset", path="~/datasets/tiny.zip", use_labels=bool(c_dim),
               max_size=100, xflip=False, resolution=resolution, random_seed=0)
    data = dict(G=G.pickled(), D=_discriminator().pickled(), G_ema=G_ema.pickled(),
                augment_pipe=_augment_pipe().pickled(), training_set_kwargs=tsk)
    with _fake_nvlabs_modules():
        blob = pickle.dumps(data["G_ema"] if bare else data, protocol=4)
    path.write_bytes(blob)
    return path, G_ema
