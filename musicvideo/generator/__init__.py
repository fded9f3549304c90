"""musicvideo.generator: load any StyleGAN2 or StyleGAN3 checkpoint into one plain-torch generator.

Both families (:class:`Generator` for StyleGAN2, :class:`StyleGAN3Generator` for StyleGAN3-T/-R) have the same
interface: ``z_dim, w_dim, c_dim, num_ws, img_resolution, w_avg``, ``mapping(z, c, truncation_psi,
truncation_cutoff)`` and ``synthesis(ws, noise_mode=, noise_scale=, transform=None)``; StyleGAN2 refuses a transform.

Examples
--------
>>> from musicvideo.generator import load_generator
>>> G = load_generator()                          # the embedded demo network   # doctest: +SKIP
>>> ws = G.mapping(torch.randn(4, G.z_dim), truncation_psi=0.7)                  # doctest: +SKIP
>>> images = G.synthesis(ws, noise_mode="const")  # [4, 3, H, W] in about [-1, 1] # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_output, check_output_path
from ..device import resolve_device  # checks the device exists: one-line errors, not torch's assertion
from ..errors import CheckpointError, MusicVideoError, OutputError
from .formats import detect_format, load_checkpoint
from .formats.base import LoadedCheckpoint, NetworkConfig
from .stylegan2 import Generator, GeneratorConfig, MappedGenerator, count_parameters
from .stylegan3 import StyleGAN3Config, StyleGAN3Generator

AnyGenerator = Generator | StyleGAN3Generator  # what load_generator returns: one interface, either family
FILTER_RTOL, FILTER_ATOL = 1e-4, 1e-6  # stored vs designed StyleGAN3 filters (fp32 taps of about 0.01-0.5)

DEFAULT_CHECKPOINT_NAME = "default.safetensors"


def default_checkpoint_path() -> Path:
    """Where the embedded demo generator lives: ``checkpoints/default.safetensors`` at the repository root.

    Returns
    -------
    Path
        The file (it exists).

    Raises
    ------
    CheckpointError
        If it is missing (regenerate it with ``python checkpoints/make_default.py``).
    """
    here = Path(__file__).resolve()
    candidates = [here.parents[2] / "checkpoints" / DEFAULT_CHECKPOINT_NAME,  # source checkout / editable install
                  here.parent / DEFAULT_CHECKPOINT_NAME]                      # packaged copy, if one was installed
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"the embedded default checkpoint is missing ({candidates[0]}); regenerate it with "
                          "`python checkpoints/make_default.py` or pass --checkpoint")


def family_name(config: NetworkConfig) -> str:
    """The family as ``inspect`` shows it: 'StyleGAN2', 'StyleGAN3-T' or 'StyleGAN3-R' (radial filters).

    Parameters
    ----------
    config : GeneratorConfig or StyleGAN3Config

    Returns
    -------
    str
    """
    if isinstance(config, StyleGAN3Config):
        return "StyleGAN3-R" if config.use_radial_filters else "StyleGAN3-T"
    return "StyleGAN2"


def _new_network(loaded: LoadedCheckpoint, use_fp16: bool | None = None) -> AnyGenerator:
    """The (randomly initialised) network for ``loaded.config``, or a one-line error for an impossible config."""
    try:
        loaded.config.validate()
        if isinstance(loaded.config, StyleGAN3Config):
            return StyleGAN3Generator(loaded.config, use_fp16=use_fp16)
        return Generator(loaded.config, use_fp16=use_fp16)
    except (ValueError, MusicVideoError) as exc:
        raise CheckpointError(f"checkpoint {loaded.path}: invalid architecture: {exc}") from None


def _is_designed_filter(key: str) -> bool:
    """StyleGAN3's low-pass filters: computed from the config, stored in the file only as a copy."""
    return key.endswith((".up_filter", ".down_filter"))


def _check_state_dict(generator: MappedGenerator, loaded: LoadedCheckpoint) -> None:
    """Raise CheckpointError naming the first missing, unexpected or mis-shaped tensor (any family).

    StyleGAN3's filter buffers are also compared with the ones ``generator`` designed from the config: they only
    differ when the config was read wrong, which would otherwise render garbage.
    """
    expected = generator.expected_shapes()
    got = loaded.state_dict
    name = loaded.path
    family = family_name(loaded.config)
    missing = [k for k in expected if k not in got]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise CheckpointError(f"checkpoint {name}: tensor {missing[0]}{more} missing for the architecture "
                              f"({family}, {loaded.config.img_resolution} px, {len(missing)} of {len(expected)} "
                              "tensors absent)")
    unexpected = [k for k in got if k not in expected]
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        raise CheckpointError(f"checkpoint {name}: unexpected tensor {unexpected[0]}{more} "
                              f"(the file does not match its stated {family} architecture)")
    designed = generator.state_dict()
    for key, shape in expected.items():
        tensor = got[key]
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"checkpoint {name}: {key} is a {type(tensor).__name__}, not a tensor")
        if not (tensor.is_floating_point()):
            raise CheckpointError(f"checkpoint {name}: tensor {key} has dtype {tensor.dtype}, expected floating point")
        if _is_designed_filter(key):
            want = designed[key]
            if tuple(tensor.shape) != shape or not torch.allclose(tensor.float(), want, rtol=FILTER_RTOL,
                                                                  atol=FILTER_ATOL):
                what = (f"has shape {tuple(tensor.shape)} where its {family} settings design {shape}"
                        if tuple(tensor.shape) != shape else f"differs by up to "
                        f"{float((tensor.float() - want).abs().max()):.3g} from the one its {family} settings design")
                raise CheckpointError(f"checkpoint {name}: its stored filter {key} {what}: musicvideo read the "
                                      "architecture wrong or the file was altered, and it would render garbage "
                                      "(please report this with the file's G_ema init_kwargs)")
        elif tuple(tensor.shape) != shape:
            raise CheckpointError(f"checkpoint {name}: tensor {key} has shape {tuple(tensor.shape)} "
                                  f"but the architecture needs {shape}")


def build_generator(loaded: LoadedCheckpoint, *, device: str | torch.device = "cpu",
                    use_fp16: bool | None = None) -> AnyGenerator:
    """Build the network for a loaded checkpoint and copy its weights in (strict: every key, every shape).

    Parameters
    ----------
    loaded : LoadedCheckpoint
        From :func:`load_checkpoint`; its config's type picks the family (:class:`GeneratorConfig` -> StyleGAN2
        :class:`Generator`, :class:`StyleGAN3Config` -> :class:`StyleGAN3Generator`).
    device : str or torch.device
        'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'.
    use_fp16 : bool or None
        fp16 for the high-resolution layers; None = on for CUDA.

    Returns
    -------
    Generator or StyleGAN3Generator
        In eval mode, gradients off, on ``device``.
    """
    generator = _new_network(loaded, use_fp16)
    _check_state_dict(generator, loaded)  # one-line errors instead of load_state_dict's multi-line report
    generator.load_state_dict(loaded.state_dict, strict=True)
    generator.source_format = loaded.format
    generator.source_path = loaded.path
    return generator.to(resolve_device(device))


def load_generator(path: str | Path | None = None, *, device: str | torch.device = "cpu",
                   use_fp16: bool | None = None) -> AnyGenerator:
    """Load a checkpoint of any supported format as a :class:`Generator`.

    Parameters
    ----------
    path : str, Path or None
        NVlabs ``.pkl`` (StyleGAN2 PyTorch or TensorFlow, StyleGAN3-T/-R), rosinality ``.pt`` or native
        ``.safetensors``; None = the embedded demo network (:func:`default_checkpoint_path`).
    device : str or torch.device
        'cpu' (default), 'cuda', 'cuda:N', 'mps' or 'auto'.
    use_fp16 : bool or None
        fp16 for the high-resolution layers; None = on for CUDA only.

    Returns
    -------
    Generator or StyleGAN3Generator
        The same interface either way (see the module docstring).

    Raises
    ------
    MusicVideoError
        A missing, corrupt or unsupported checkpoint (:class:`~musicvideo.errors.CheckpointError`), or a device
        that is not there (``device='cuda'`` without CUDA), before anything is loaded; one line each.
    """
    target = resolve_device(device)  # before the (possibly slow) load
    return build_generator(load_checkpoint(default_checkpoint_path() if path is None else path),
                           device=target, use_fp16=use_fp16)


def inspect_checkpoint(path: str | Path) -> dict[str, Any]:
    """Describe a checkpoint without running anything from it (JSON-able).

    Parameters
    ----------
    path : str or Path
        Any supported checkpoint.

    Returns
    -------
    dict
        path, format, family ('StyleGAN2', 'StyleGAN3-T', 'StyleGAN3-R'), resolution ('WxH'), z_dim, w_dim, c_dim,
        num_ws, parameters, mapping_layers, channel_base, channel_max, conv_clamp, file_size_bytes; StyleGAN2 adds
        architecture, StyleGAN3 adds layers, critical_layers, conv_kernel, radial_filters, filter_size,
        margin_size; then any format-specific metadata.
    """
    loaded = load_checkpoint(path)
    probe = _new_network(loaded)  # (the meta device would avoid the allocation but costs seconds on first use)
    _check_state_dict(probe, loaded)
    cfg = loaded.config
    info: dict[str, Any] = {
        "path": str(loaded.path),
        "format": loaded.format,
        "family": family_name(cfg),
        "resolution": f"{probe.img_width}x{probe.img_height}",
        "z_dim": cfg.z_dim,
        "w_dim": cfg.w_dim,
        "c_dim": cfg.c_dim,
        "num_ws": probe.num_ws,
        "parameters": count_parameters(probe),
        "mapping_layers": cfg.mapping_layers,
    }
    if isinstance(cfg, StyleGAN3Config):
        info.update(layers=cfg.num_layers, critical_layers=cfg.num_critical, conv_kernel=cfg.conv_kernel,
                    radial_filters=cfg.use_radial_filters, filter_size=cfg.filter_size, margin_size=cfg.margin_size)
    info.update(channel_base=cfg.channel_base, channel_max=cfg.channel_max)
    if isinstance(cfg, GeneratorConfig):
        info["architecture"] = cfg.architecture
    info.update(conv_clamp=cfg.conv_clamp, file_size_bytes=Path(loaded.path).stat().st_size)
    for key, value in loaded.metadata.items():
        info.setdefault(f"meta_{key}" if key in info else key, _jsonable(value))
    return info


def _jsonable(value: Any) -> Any:
    """Metadata values as JSON-able data (unknown objects become their str)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def save_native(source: AnyGenerator | LoadedCheckpoint, path: str | Path, *, overwrite: bool = False,
                provenance: dict[str, Any] | None = None) -> Path:
    """Write a generator (or a loaded checkpoint) in the native ``.safetensors`` format, atomically.

    Parameters
    ----------
    source : Generator, StyleGAN3Generator or LoadedCheckpoint
        What to save (either family; a StyleGAN3 file records its family in the metadata).
    path : str or Path
        Destination, normally ``*.safetensors``.
    overwrite : bool
        Replace an existing file.
    provenance : dict, optional
        JSON-able description of where the weights came from (default: the source format and file name).

    Returns
    -------
    Path
        The written file.
    """
    from .formats import native

    if isinstance(source, MappedGenerator):
        config, state, origin = source.config, source.state_dict(), {
            "format": getattr(source, "source_format", "in-memory"),
            "file": Path(getattr(source, "source_path", "")).name or None}
    elif isinstance(source, LoadedCheckpoint):
        config, state, origin = source.config, source.state_dict, {"format": source.format,
                                                                   "file": Path(source.path).name}
        if source.format == "native" and isinstance(source.metadata.get("source"), dict):
            origin = source.metadata["source"]
    else:
        raise TypeError(f"save_native needs a generator or LoadedCheckpoint, not {type(source).__name__}")
    if provenance is not None:
        origin = provenance
    with atomic_output(path, overwrite=overwrite) as tmp:
        native.save(tmp, dataclasses.replace(config), state, source=origin)
    return Path(path)


def convert_checkpoint(src: str | Path, dst: str | Path, *, overwrite: bool = False) -> Path:
    """Convert any supported checkpoint to the native format (nothing is written if anything fails).

    Parameters
    ----------
    src : str or Path
        The checkpoint to convert.
    dst : str or Path
        Output ``.safetensors`` path.
    overwrite : bool
        Replace ``dst`` if it exists.

    Returns
    -------
    Path
        ``dst``.
    """
    dst_path = Path(dst).expanduser()
    if dst_path.suffix.lower() != ".safetensors":
        raise OutputError(f"output {dst_path} must end in .safetensors (the native format)")
    check_output_path(dst_path, overwrite=overwrite)  # fail before the (possibly slow) load
    loaded = load_checkpoint(src)
    build_generator(loaded)  # validates every tensor against the architecture before anything is written
    return save_native(loaded, dst_path, overwrite=overwrite)


def largest_activation_bytes(generator: Any) -> int | None:
    """Bytes of the largest fp32 feature map one image makes in ``generator``'s synthesis network, or None for a
    generator of neither family.

    StyleGAN2: channels x height x width of its largest block. StyleGAN3: the filtered leaky ReLU's intermediate
    at the leaky ReLU's rate (before the down-sampling filter: ``(out_size - 1) * down + down_taps`` samples a
    side), the largest tensor a layer makes.

    Parameters
    ----------
    generator : Generator or StyleGAN3Generator
        Anything with a ``config`` of either family.

    Returns
    -------
    int or None
    """
    config = getattr(generator, "config", None)
    if isinstance(config, GeneratorConfig):
        init_h, init_w = config.init_res
        return max(config.channels(res) * (init_h * res // 4) * (init_w * res // 4) * 4
                   for res in config.block_resolutions)
    if isinstance(config, StyleGAN3Config):
        layers = [getattr(generator.synthesis, name) for name in generator.synthesis.layer_names]
        return max(layer.out_channels * 4 * math.prod((size - 1) * layer.down_factor + layer.down_taps
                                                      for size in layer.out_size) for layer in layers)
    return None


__all__ = ["AnyGenerator", "Generator", "GeneratorConfig", "LoadedCheckpoint", "StyleGAN3Config",
           "StyleGAN3Generator", "build_generator", "convert_checkpoint", "default_checkpoint_path", "detect_format",
           "family_name", "inspect_checkpoint", "largest_activation_bytes", "load_checkpoint", "load_generator",
           "resolve_device", "save_native"]
