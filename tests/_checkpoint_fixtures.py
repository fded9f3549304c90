"""Builders for tiny checkpoints in every format musicvideo reads, written from the public sources' layouts.

Nothing here imports NVlabs or rosinality code. The files are produced the way the real tools produce them:

- NVlabs PyTorch (stylegan2-ada-pytorch ``training_loop.py`` snapshot): ``pickle.dump(dict(training_set_kwargs=dict,
  G, D, G_ema, augment_pipe))`` where every network module pickles through ``torch_utils.persistence`` as
  ``_reconstruct_persistent_obj(dict(type='class', version=6, module_src, class_name, state=module.__dict__))``.
  Our stand-in :class:`_PersistentModule` emits exactly that reduce tuple; real torch Parameters inside pickle
  through torch's own ``_rebuild_parameter`` / ``_rebuild_tensor_v2`` / ``torch.storage._load_from_bytes``.
- NVlabs TensorFlow (stylegan2 / stylegan2-ada ``dnnlib/tflib/network.py``): ``pickle.dump((G, D, Gs))`` where each
  ``Network.__getstate__`` returns ``dict(version, name, static_kwargs, components, build_module_src,
  build_func_name, variables=[(name, ndarray)])``; ``Gs`` has components ``mapping`` and ``synthesis``.
- rosinality (``train.py`` / ``convert_weight.py``): ``torch.save({'g', 'd', 'g_ema', 'g_optim', 'd_optim', 'args'})``
  or ``torch.save({'g_ema', 'latent_avg'})``.

The fake module names (``torch_utils.persistence``, ``dnnlib.util``, ``dnnlib.tflib.network``) are registered in
``sys.modules`` only while a file is being written, so that ``pickle`` can name the globals.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from musicvideo.generator.stylegan2 import GeneratorConfig

MARKER_ENV = "MUSICVIDEO_TEST_MARKER"

# Embedded "source code": if anything ever executed it, the marker file would appear.
EVIL_SOURCE = (
    "import os, pathlib\n"
    "pathlib.Path(os.environ.get('MUSICVIDEO_TEST_MARKER', '/tmp/musicvideo_source_was_executed')).touch()\n"
    "import torch\n"
    "class Generator(torch.nn.Module):\n    pass\n"
)


# ------------------------------------------------------------------------------------------------- configs & weights


def tiny_config(*, c_dim: int = 0, resolution: int = 16, conv_clamp: float | None = None,
                num_fp16_res: int = 0) -> GeneratorConfig:
    """A 16-px network with 32/16/8 channels, z = w = 16 and a 2-layer mapping (fast to build and run)."""
    return GeneratorConfig(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=resolution, img_channels=3,
                           mapping_layers=2, mapping_lr_mul=0.01, channel_base=128, channel_max=32,
                           num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, architecture="skip", init_res=(4, 4))


def _fir() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(f, f) / 64.0


def reference_state_dict(config: GeneratorConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights under the stylegan2-ada-pytorch ``G_ema.state_dict()`` names (written from networks.py).

    Biases, noise strengths and the modulation bias get non-trivial values so that every conversion rule matters.
    """
    g = torch.Generator().manual_seed(seed)

    def rn(*shape: int, scale: float = 1.0, offset: float = 0.0) -> torch.Tensor:
        return torch.randn(shape, generator=g) * scale + offset

    c = config
    sd: dict[str, torch.Tensor] = {}
    embed = (c.embed_features or c.w_dim) if c.c_dim else 0
    hidden = c.layer_features or c.w_dim
    if c.c_dim:
        sd["mapping.embed.weight"] = rn(embed, c.c_dim)
        sd["mapping.embed.bias"] = rn(embed, scale=0.1)
    sizes = [c.z_dim + embed] + [hidden] * (c.mapping_layers - 1) + [c.w_dim]
    for i in range(c.mapping_layers):
        sd[f"mapping.fc{i}.weight"] = rn(sizes[i + 1], sizes[i], scale=1 / c.mapping_lr_mul)
        sd[f"mapping.fc{i}.bias"] = rn(sizes[i + 1], scale=10.0)  # x lr_mul 0.01 at run time
    sd["mapping.w_avg"] = rn(c.w_dim, scale=0.3)

    def layer(name: str, cin: int, cout: int, res: int, k: int = 3, noise: bool = True) -> None:
        sd[f"{name}.affine.weight"] = rn(cin, c.w_dim)
        sd[f"{name}.affine.bias"] = rn(cin, scale=0.1, offset=1.0)
        sd[f"{name}.weight"] = rn(cout, cin, k, k)
        sd[f"{name}.bias"] = rn(cout, scale=0.1)
        if noise:
            sd[f"{name}.noise_strength"] = rn(scale=0.1).reshape([])
            sd[f"{name}.noise_const"] = rn(res, res)
            sd[f"{name}.resample_filter"] = _fir()

    res_list = [2**i for i in range(2, int(np.log2(c.img_resolution)) + 1)]
    for r in res_list:
        ch, prev = c.channels(r), c.channels(r // 2)
        blk = f"synthesis.b{r}"
        if r == 4:
            sd[f"{blk}.const"] = rn(ch, 4, 4)
        else:
            layer(f"{blk}.conv0", prev, ch, r)
        layer(f"{blk}.conv1", ch, ch, r)
        if c.architecture == "skip" or r == res_list[-1]:  # 'orig' and 'resnet' have one toRGB, at the end
            layer(f"{blk}.torgb", ch, c.img_channels, r, k=1, noise=False)
        if c.architecture == "resnet" and r > 4:  # 1x1 up-sampling shortcut without bias
            sd[f"{blk}.skip.weight"] = rn(ch, prev, 1, 1)
            sd[f"{blk}.skip.resample_filter"] = _fir()
        sd[f"{blk}.resample_filter"] = _fir()
    return sd


# ------------------------------------------------------------------------------------------------- fake NVlabs modules


def _reconstruct_persistent_obj(meta: dict) -> Any:  # never called: only its name is pickled
    raise AssertionError("fixture stand-in must not be called")


class EasyDict(dict):
    """Pickles as ``dnnlib.util.EasyDict`` (a dict subclass), as in NVlabs' ``_init_kwargs``."""


class Network:
    """Pickles as ``dnnlib.tflib.network.Network`` with the state its ``__getstate__`` produces."""

    def __init__(self, state: dict):
        self._state = state

    def __getstate__(self) -> dict:
        return self._state


@contextlib.contextmanager
def _fake_nvlabs_modules() -> Iterator[None]:
    """Make the NVlabs global names resolvable for ``pickle.dump`` (and only while dumping)."""
    names = {
        "torch_utils": {},
        "torch_utils.persistence": {"_reconstruct_persistent_obj": _reconstruct_persistent_obj},
        "dnnlib": {"EasyDict": EasyDict},
        "dnnlib.util": {"EasyDict": EasyDict},
        "dnnlib.tflib": {},
        "dnnlib.tflib.network": {"Network": Network},
    }
    saved = {k: sys.modules.get(k) for k in names}
    originals = {obj: (obj.__module__, obj.__qualname__) for obj in (_reconstruct_persistent_obj, EasyDict, Network)}
    try:
        for mod_name, attrs in names.items():
            mod = types.ModuleType(mod_name)
            for attr, obj in attrs.items():
                setattr(mod, attr, obj)
            sys.modules[mod_name] = mod
        _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
        EasyDict.__module__ = "dnnlib.util"
        Network.__module__ = "dnnlib.tflib.network"
        yield
    finally:
        for obj, (mod, qual) in originals.items():
            obj.__module__, obj.__qualname__ = mod, qual
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _PersistentModule:
    """Reduces exactly as a ``@persistence.persistent_class`` nn.Module does (see torch_utils/persistence.py)."""

    def __init__(self, class_name: str, state: dict, module_src: str = EVIL_SOURCE):
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __reduce__(self) -> tuple:
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self.class_name,
                    state=self.state)
        return (_reconstruct_persistent_obj, (meta,), None)


def _module_state(params: dict, buffers: dict, modules: dict, attrs: dict, init_kwargs: dict) -> dict:
    """The ``nn.Module.__dict__`` of a torch 1.9-era module, as NVlabs pickles it."""
    state: dict[str, Any] = {"training": False}
    state["_parameters"] = OrderedDict(
        (k, torch.nn.Parameter(v.clone(), requires_grad=False)) for k, v in params.items())
    state["_buffers"] = OrderedDict((k, v.clone()) for k, v in buffers.items())
    state["_non_persistent_buffers_set"] = set()
    for hooks in ("_backward_hooks", "_is_full_backward_hook", "_forward_hooks", "_forward_pre_hooks",
                  "_state_dict_hooks", "_load_state_dict_pre_hooks"):
        state[hooks] = None if hooks == "_is_full_backward_hook" else OrderedDict()
    state["_modules"] = OrderedDict(modules)
    state.update(attrs)
    state["_init_args"] = ()
    state["_init_kwargs"] = init_kwargs
    return state


_BUFFERS = ("resample_filter", "noise_const", "w_avg")


def _class_for(path: str) -> str:
    last = path.rsplit(".", 1)[-1]
    if path == "":
        return "Generator"
    if path == "synthesis":
        return "SynthesisNetwork"
    if path == "mapping":
        return "MappingNetwork"
    if last.startswith("b") and last[1:].isdigit():
        return "SynthesisBlock"
    if last in ("conv0", "conv1"):
        return "SynthesisLayer"
    if last == "torgb":
        return "ToRGBLayer"
    if last == "skip":
        return "Conv2dLayer"
    return "FullyConnectedLayer"


def nvlabs_module_tree(config: GeneratorConfig, sd: dict[str, torch.Tensor], *, flat_synthesis_kwargs: bool = False,
                       module_src: str = EVIL_SOURCE, architecture_kwarg: bool = True) -> _PersistentModule:
    """The pickled ``G_ema`` of stylegan2-ada-pytorch (or, with ``flat_synthesis_kwargs``, of the stylegan3 repo)."""
    tree: dict[str, dict] = {"": {}}
    for key in sd:
        parts = key.split(".")
        for i in range(1, len(parts)):
            tree.setdefault(".".join(parts[:i]), {})

    def build(path: str) -> _PersistentModule:
        prefix = path + "." if path else ""
        children = sorted({k[len(prefix):].split(".")[0] for k in tree if k.startswith(prefix) and k != path
                           and "." not in k[len(prefix):]},
                          key=lambda n: (n != "synthesis", n))  # NVlabs builds synthesis before mapping
        leaf = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix) and "." not in k[len(prefix):]}
        params = {k: v for k, v in leaf.items() if k not in _BUFFERS}
        buffers = {k: v for k, v in leaf.items() if k in _BUFFERS}
        cls = _class_for(path)
        attrs: dict[str, Any] = {}
        if cls == "FullyConnectedLayer":
            lr = config.mapping_lr_mul if path.startswith("mapping.fc") else 1.0
            attrs = dict(activation="lrelu" if path.startswith("mapping.fc") else "linear",
                         weight_gain=np.float64(lr / np.sqrt(params["weight"].shape[1])), bias_gain=lr)
        elif cls == "SynthesisLayer":
            attrs = dict(act_gain=np.float64(np.sqrt(2)), conv_clamp=config.conv_clamp, use_noise=True)
        elif cls == "MappingNetwork":
            attrs = dict(z_dim=config.z_dim, c_dim=config.c_dim, w_dim=config.w_dim, num_ws=config.num_ws,
                         num_layers=config.mapping_layers, w_avg_beta=0.995)
        elif cls == "SynthesisNetwork":
            attrs = dict(w_dim=config.w_dim, img_resolution=config.img_resolution,
                         img_resolution_log2=int(np.log2(config.img_resolution)), img_channels=config.img_channels,
                         block_resolutions=config.block_resolutions, num_ws=config.num_ws)
        init_kwargs: dict[str, Any] = {}
        if cls == "Generator":
            syn = EasyDict(channel_base=config.channel_base, channel_max=config.channel_max,
                           num_fp16_res=config.num_fp16_res, conv_clamp=config.conv_clamp)
            if architecture_kwarg and config.architecture != "skip":  # train.py only passes non-defaults
                syn["architecture"] = config.architecture
            init_kwargs = dict(z_dim=config.z_dim, c_dim=config.c_dim, w_dim=config.w_dim,
                               img_resolution=config.img_resolution, img_channels=config.img_channels,
                               mapping_kwargs=EasyDict(num_layers=config.mapping_layers))
            if flat_synthesis_kwargs:
                init_kwargs.update(syn)
            else:
                init_kwargs["synthesis_kwargs"] = syn
            attrs = dict(z_dim=config.z_dim, c_dim=config.c_dim, w_dim=config.w_dim,
                         img_resolution=config.img_resolution, img_channels=config.img_channels,
                         num_ws=config.num_ws)
        modules = {name: build(prefix + name) for name in children}
        return _PersistentModule(cls, _module_state(params, buffers, modules, attrs, init_kwargs), module_src)

    return build("")


def write_nvlabs_pytorch_pkl(path: Path, config: GeneratorConfig, sd: dict[str, torch.Tensor], *,
                             protocol: int = 3, flat_synthesis_kwargs: bool = False, architecture_kwarg: bool = True,
                             extra: dict[str, Any] | None = None) -> Path:
    """A stylegan2-ada-pytorch snapshot pickle whose ``G_ema`` holds ``sd`` (``G`` holds different weights)."""
    g_sd = {k: v + 0.5 for k, v in sd.items()}  # the training G differs: the loader must take G_ema
    D = _PersistentModule("Discriminator", _module_state({"weight": torch.randn(4, 3, 1, 1)}, {}, {}, {}, {}))
    data = dict(
        training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset", path="~/datasets/tiny.zip",
                                 use_labels=bool(config.c_dim), max_size=100, xflip=False,
                                 resolution=config.img_resolution),
        G=nvlabs_module_tree(config, g_sd, flat_synthesis_kwargs=flat_synthesis_kwargs,
                             architecture_kwarg=architecture_kwarg),
        D=D,
        G_ema=nvlabs_module_tree(config, sd, flat_synthesis_kwargs=flat_synthesis_kwargs,
                                 architecture_kwarg=architecture_kwarg),
        augment_pipe=None,
    )
    data.update(extra or {})
    with _fake_nvlabs_modules():
        blob = pickle.dumps(data, protocol=protocol)
    path.write_bytes(blob)
    return path


def write_stylegan3_pkl(path: Path) -> Path:
    """A minimal pickle of an alias-free (networks_stylegan3) generator: ``synthesis.input`` and ``L0_36_8`` layers."""
    fc = _PersistentModule("FullyConnectedLayer", _module_state(
        {"weight": torch.randn(8, 8), "bias": torch.zeros(8)}, {}, {}, {}, {}))
    inp = _PersistentModule("SynthesisInput", _module_state(
        {"weight": torch.randn(8, 4)}, {"transform": torch.eye(3), "freqs": torch.randn(8, 2),
                                        "phases": torch.randn(8)}, {"affine": fc}, {}, {}))
    layer = _PersistentModule("SynthesisLayer", _module_state(
        {"weight": torch.randn(8, 8, 3, 3), "bias": torch.zeros(8)}, {"magnitude_ema": torch.ones([])}, {}, {}, {}))
    src = "class SynthesisInput(torch.nn.Module):\n    pass\n" + EVIL_SOURCE
    syn = _PersistentModule("SynthesisNetwork", _module_state({}, {}, {"input": inp, "L0_36_8": layer}, {}, {}), src)
    mapping = _PersistentModule("MappingNetwork", _module_state({}, {"w_avg": torch.zeros(8)},
                                                                {"fc0": fc}, {}, {}), src)
    G = _PersistentModule("Generator", _module_state({}, {}, {"synthesis": syn, "mapping": mapping}, {}, dict(
        z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=EasyDict(num_layers=1),
        channel_base=256, channel_max=8, magnitude_ema_beta=0.999)), src)
    with _fake_nvlabs_modules():
        path.write_bytes(pickle.dumps(dict(G=G, D=None, G_ema=G, training_set_kwargs=None, augment_pipe=None)))
    return path


# ------------------------------------------------------------------------------------------------- TensorFlow


def tf_variables(config: GeneratorConfig, sd: dict[str, torch.Tensor]) -> dict[str, dict[str, np.ndarray]]:
    """The own variables of Gs, G_mapping and G_synthesis for ``sd`` (inverse of stylegan2-ada-pytorch legacy.py)."""
    def a(t: torch.Tensor) -> np.ndarray:
        return t.detach().numpy().astype(np.float32)

    def kernel(t: torch.Tensor, flip: bool = False) -> np.ndarray:
        k = a(t).transpose(2, 3, 1, 0)  # [out, in, kh, kw] -> [kh, kw, in, out]
        return np.ascontiguousarray(k[::-1, ::-1] if flip else k)

    mapping: dict[str, np.ndarray] = {}
    if config.c_dim:
        mapping["LabelEmbed/weight"] = a(sd["mapping.embed.weight"]).T.copy()
        mapping["LabelEmbed/bias"] = a(sd["mapping.embed.bias"])
    for i in range(config.mapping_layers):
        mapping[f"Dense{i}/weight"] = a(sd[f"mapping.fc{i}.weight"]).T.copy()
        mapping[f"Dense{i}/bias"] = a(sd[f"mapping.fc{i}.bias"])

    synthesis: dict[str, np.ndarray] = {}

    def modconv(scope: str, name: str, flip: bool = False, noise: str | None = None) -> None:
        synthesis[f"{scope}/weight"] = kernel(sd[f"{name}.weight"], flip)
        synthesis[f"{scope}/mod_weight"] = a(sd[f"{name}.affine.weight"]).T.copy()
        synthesis[f"{scope}/mod_bias"] = a(sd[f"{name}.affine.bias"]) - 1
        if noise:
            synthesis[f"{scope}/noise_strength"] = a(sd[f"{name}.noise_strength"])
        synthesis[f"{scope}/bias"] = a(sd[f"{name}.bias"])

    for r in config.block_resolutions:
        s, blk = f"{r}x{r}", f"synthesis.b{r}"
        lg = int(np.log2(r))
        if r == 4:
            synthesis["4x4/Const/const"] = a(sd[f"{blk}.const"])[None]
            modconv("4x4/Conv", f"{blk}.conv1", noise="noise0")
        else:
            modconv(f"{s}/Conv0_up", f"{blk}.conv0", flip=True, noise="y")
            modconv(f"{s}/Conv1", f"{blk}.conv1", noise="y")
            if f"{blk}.skip.weight" in sd:
                synthesis[f"{s}/Skip/weight"] = kernel(sd[f"{blk}.skip.weight"], flip=True)
        if f"{blk}.torgb.weight" in sd:
            modconv(f"{s}/ToRGB", f"{blk}.torgb")
    # Noise inputs are non-trainable variables of G_synthesis, one per conv layer: noise0 .. noise{2*log2(res)-4}.
    for r in config.block_resolutions:
        lg, blk = int(np.log2(r)), f"synthesis.b{r}"
        if r == 4:
            synthesis["noise0"] = a(sd[f"{blk}.conv1.noise_const"])[None, None]
        else:
            synthesis[f"noise{2 * lg - 5}"] = a(sd[f"{blk}.conv0.noise_const"])[None, None]
            synthesis[f"noise{2 * lg - 4}"] = a(sd[f"{blk}.conv1.noise_const"])[None, None]
    top = {"dlatent_avg": a(sd["mapping.w_avg"]), "lod": np.float32(0.0) * np.ones([], np.float32)}
    return {"Gs": top, "mapping": mapping, "synthesis": synthesis}


def _tf_state(name: str, func: str, static_kwargs: dict, variables: dict[str, np.ndarray],
              components: dict | None = None, version: int = 4) -> dict:
    state = dict(version=version, name=name, static_kwargs=dict(static_kwargs), components=dict(components or {}),
                 build_module_src=EVIL_SOURCE, build_func_name=func, variables=list(variables.items()))
    if version >= 5:  # stylegan2-ada (TF) also stores the I/O signature
        state.update(input_shapes=[[None, 16]], output_shapes=[[None, 3, 16, 16]], input_names=["latents_in"],
                     output_names=["images_out"])
    return state


def write_nvlabs_tf_pkl(path: Path, config: GeneratorConfig, sd: dict[str, torch.Tensor], *, version: int = 4,
                        extra_kwargs: dict | None = None) -> Path:
    """A TF StyleGAN2 ``(G, D, Gs)`` pickle of ``sd``, as run_training.py / training_loop.py writes it."""
    v = tf_variables(config, sd)
    kw = dict(num_channels=config.img_channels, resolution=config.img_resolution, label_size=config.c_dim,
              latent_size=config.z_dim, dlatent_size=config.w_dim, mapping_layers=config.mapping_layers,
              fmap_base=config.channel_base // 2, fmap_max=config.channel_max, architecture=config.architecture)
    kw.update(extra_kwargs or {})

    def gs(name: str, variables: dict) -> Network:
        mapping = Network(_tf_state("G_mapping", "training.networks_stylegan2.G_mapping",
                                    dict(latent_size=config.z_dim, dlatent_size=config.w_dim,
                                         dlatent_broadcast=config.num_ws, label_size=config.c_dim,
                                         mapping_layers=config.mapping_layers), variables["mapping"],
                                    version=version))
        synthesis = Network(_tf_state("G_synthesis", "training.networks_stylegan2.G_synthesis_stylegan2",
                                      dict(dlatent_size=config.w_dim, num_channels=3,
                                           resolution=config.img_resolution, fmap_base=config.channel_base // 2,
                                           fmap_max=config.channel_max, architecture=config.architecture),
                                      variables["synthesis"], version=version))
        return Network(_tf_state(name, "training.networks_stylegan2.G_main", kw, variables["Gs"],
                                 dict(mapping=mapping, synthesis=synthesis), version=version))

    shifted = {k: {n: x + np.float32(0.5) for n, x in d.items()} for k, d in v.items()}
    G, Gs = gs("G", shifted), gs("Gs", v)
    D = Network(_tf_state("D", "training.networks_stylegan2.D_stylegan2", dict(resolution=config.img_resolution),
                          {"Output/weight": np.ones([8, 1], np.float32)}, version=version))
    with _fake_nvlabs_modules():
        blob = pickle.dumps((G, D, Gs), protocol=3)
    path.write_bytes(blob)
    return path


def write_stylegan1_tf_pkl(path: Path) -> Path:
    """A minimal StyleGAN1 (``G_style``) TF pickle: ``4x4/Const/Noise/weight``, ``ToRGB_lod0`` and friends."""
    mapping = Network(_tf_state("G_mapping", "training.networks_stylegan.G_mapping", {},
                                {"Dense0/weight": np.ones([8, 8], np.float32)}, version=3))
    synthesis = Network(_tf_state("G_synthesis", "training.networks_stylegan.G_synthesis", {}, {
        "4x4/Const/const": np.ones([1, 8, 4, 4], np.float32),
        "4x4/Const/Noise/weight": np.zeros([8], np.float32),
        "4x4/Const/StyleMod/weight": np.ones([8, 16], np.float32),
        "ToRGB_lod0/weight": np.ones([1, 1, 8, 3], np.float32),
        "lod": np.zeros([], np.float32)}, version=3))
    Gs = Network(_tf_state("Gs", "training.networks_stylegan.G_style", dict(resolution=16),
                           {"dlatent_avg": np.zeros([8], np.float32)},
                           dict(mapping=mapping, synthesis=synthesis), version=3))
    with _fake_nvlabs_modules():
        path.write_bytes(pickle.dumps((Gs, Gs, Gs), protocol=3))
    return path


# ------------------------------------------------------------------------------------------------- rosinality


def rosinality_state_dict(config: GeneratorConfig, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``Generator.state_dict()`` of rosinality/stylegan2-pytorch model.py for the weights ``sd``.

    Written from model.py: ``style.{1..n_mlp}`` (index 0 is PixelNorm), ``input.input`` [1, C, 4, 4],
    ``conv1`` / ``convs.{i}`` StyledConv (``conv.weight`` [1, out, in, k, k], ``conv.modulation``, ``noise.weight``
    [1], ``activate.bias`` [out], ``conv.blur.kernel`` on up-sampling convs), ``to_rgb1`` / ``to_rgbs.{i}``
    (``bias`` [1, 3, 1, 1], ``upsample.kernel``), ``noises.noise_{i}`` [1, 1, r, r].
    """
    out: dict[str, torch.Tensor] = OrderedDict()
    for i in range(config.mapping_layers):
        out[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"].clone()
        out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"].clone()
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(k, k)
    k = k / k.sum()

    def styled(dst: str, src: str, up: bool) -> None:
        out[f"{dst}.conv.weight"] = sd[f"{src}.weight"][None].clone()
        out[f"{dst}.conv.modulation.weight"] = sd[f"{src}.affine.weight"].clone()
        out[f"{dst}.conv.modulation.bias"] = sd[f"{src}.affine.bias"].clone()
        if up:
            out[f"{dst}.conv.blur.kernel"] = k * 4  # Blur(upsample_factor=2) scales the kernel by factor**2
        out[f"{dst}.noise.weight"] = sd[f"{src}.noise_strength"].reshape(1).clone()
        out[f"{dst}.activate.bias"] = sd[f"{src}.bias"].clone()

    def rgb(dst: str, src: str, up: bool) -> None:
        if up:
            out[f"{dst}.upsample.kernel"] = k * 4
        out[f"{dst}.conv.weight"] = sd[f"{src}.weight"][None].clone()
        out[f"{dst}.conv.modulation.weight"] = sd[f"{src}.affine.weight"].clone()
        out[f"{dst}.conv.modulation.bias"] = sd[f"{src}.affine.bias"].clone()
        out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(1, -1, 1, 1).clone()

    out["input.input"] = sd["synthesis.b4.const"][None].clone()
    styled("conv1", "synthesis.b4.conv1", False)
    rgb("to_rgb1", "synthesis.b4.torgb", False)
    for i, r in enumerate(config.block_resolutions[1:]):
        styled(f"convs.{2 * i}", f"synthesis.b{r}.conv0", True)
        styled(f"convs.{2 * i + 1}", f"synthesis.b{r}.conv1", False)
        rgb(f"to_rgbs.{i}", f"synthesis.b{r}.torgb", True)
    out["noises.noise_0"] = sd["synthesis.b4.conv1.noise_const"][None, None].clone()
    for i, r in enumerate(config.block_resolutions[1:]):
        out[f"noises.noise_{2 * i + 1}"] = sd[f"synthesis.b{r}.conv0.noise_const"][None, None].clone()
        out[f"noises.noise_{2 * i + 2}"] = sd[f"synthesis.b{r}.conv1.noise_const"][None, None].clone()
    return out


def write_rosinality_pt(path: Path, config: GeneratorConfig, sd: dict[str, torch.Tensor], *, training: bool = True,
                        zip_format: bool = True, with_latent_avg: bool | None = None,
                        extra: dict[str, Any] | None = None) -> Path:
    """A rosinality checkpoint: training layout (train.py) or converted layout (convert_weight.py)."""
    g_ema = rosinality_state_dict(config, sd)
    if training:
        g = OrderedDict((k, v + 0.5) for k, v in g_ema.items())
        d = OrderedDict([("convs.0.0.weight", torch.randn(8, 3, 1, 1)), ("final_linear.1.bias", torch.zeros(1))])
        p = torch.nn.Parameter(torch.randn(3))
        opt = torch.optim.Adam([p], lr=0.002, betas=(0.0, 0.99))
        p.grad = torch.ones(3)
        opt.step()
        args = argparse.Namespace(path="lmdb", arch="stylegan2", iter=800000, batch=16, n_sample=64,
                                  size=config.img_resolution, r1=10, path_regularize=2, path_batch_shrink=2,
                                  d_reg_every=16, g_reg_every=4, mixing=0.9, ckpt=None, lr=0.002,
                                  channel_multiplier=2, wandb=False, local_rank=0, augment=False, augment_p=0,
                                  ada_target=0.6, ada_length=500000, ada_every=256, latent=config.w_dim,
                                  n_mlp=config.mapping_layers, start_iter=0, distributed=False)
        data: dict[str, Any] = {"g": g, "d": d, "g_ema": g_ema, "g_optim": opt.state_dict(),
                                "d_optim": copy.deepcopy(opt.state_dict()), "args": args}
        if with_latent_avg:
            data["latent_avg"] = sd["mapping.w_avg"].clone()
    else:
        data = {"g_ema": g_ema}
        if with_latent_avg is not False:
            data["latent_avg"] = sd["mapping.w_avg"].clone()
    data.update(extra or {})
    torch.save(data, path, _use_new_zipfile_serialization=zip_format)
    return path


# ------------------------------------------------------------------------------------------------- hostile files


class ShellPayload:
    """Unpickling this would run a shell command that creates ``marker`` (if anything ever called os.system)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def legacy_storage_bytes_with_payload(marker: Path) -> bytes:
    """Bytes for ``torch.storage._load_from_bytes`` that are a legacy torch.save stream carrying a payload."""
    buf = io.BytesIO()
    torch.save({"x": ShellPayload(marker)}, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


class StorageBytesPayload:
    """Pickles as ``torch.storage._load_from_bytes(<malicious legacy torch stream>)``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple:
        import torch.storage

        return (torch.storage._load_from_bytes, (legacy_storage_bytes_with_payload(self.marker),))
