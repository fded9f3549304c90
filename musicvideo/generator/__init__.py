"""musicvideo.generator: load any StyleGAN2 checkpoint into one plain-torch :class:`Generator`.

Examples
--------
>>> from musicvideo.generator import load_generator
>>> G = load_generator()                          # the embedded demo network   # doctest: +SKIP
>>> ws = G.mapping(torch.randn(4, G.z_dim), truncation_psi=0.7)                  # doctest: +SKIP
>>> images = G.synthesis(ws, noise_mode="const")  # [4, 3, H, W] in about [-1, 1] # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_output, check_output_path
from ..device import resolve_device  # checks the device exists: one-line errors, not torch's assertion
from ..errors import CheckpointError, OutputError
from .formats import detect_format, load_checkpoint
from .formats.base import LoadedCheckpoint
from .stylegan2 import Generator, GeneratorConfig, count_parameters

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


def _check_state_dict(generator: Generator, loaded: LoadedCheckpoint) -> None:
    """Raise CheckpointError naming the first missing, unexpected or mis-shaped tensor."""
    expected = generator.expected_shapes()
    got = loaded.state_dict
    name = loaded.path
    missing = [k for k in expected if k not in got]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise CheckpointError(f"checkpoint {name}: tensor {missing[0]}{more} missing for the architecture "
                              f"({loaded.config.img_resolution} px, {len(missing)} of {len(expected)} tensors absent)")
    unexpected = [k for k in got if k not in expected]
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        raise CheckpointError(f"checkpoint {name}: unexpected tensor {unexpected[0]}{more} "
                              "(the file does not match its stated architecture)")
    for key, shape in expected.items():
        tensor = got[key]
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"checkpoint {name}: {key} is a {type(tensor).__name__}, not a tensor")
        if tuple(tensor.shape) != shape:
            raise CheckpointError(f"checkpoint {name}: tensor {key} has shape {tuple(tensor.shape)} "
                                  f"but the architecture needs {shape}")
        if not (tensor.is_floating_point()):
            raise CheckpointError(f"checkpoint {name}: tensor {key} has dtype {tensor.dtype}, expected floating point")


def build_generator(loaded: LoadedCheckpoint, *, device: str | torch.device = "cpu",
                    use_fp16: bool | None = None) -> Generator:
    """Build the network for a loaded checkpoint and copy its weights in (strict: every key, every shape).

    Parameters
    ----------
    loaded : LoadedCheckpoint
        From :func:`load_checkpoint`.
    device : str or torch.device
        'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'.
    use_fp16 : bool or None
        fp16 for the high-resolution layers; None = on for CUDA.

    Returns
    -------
    Generator
        In eval mode, gradients off, on ``device``.
    """
    try:
        loaded.config.validate()
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {loaded.path}: invalid architecture: {exc}") from None
    generator = Generator(loaded.config, use_fp16=use_fp16)
    _check_state_dict(generator, loaded)  # one-line errors instead of load_state_dict's multi-line report
    generator.load_state_dict(loaded.state_dict, strict=True)
    generator.source_format = loaded.format
    generator.source_path = loaded.path
    return generator.to(resolve_device(device))


def load_generator(path: str | Path | None = None, *, device: str | torch.device = "cpu",
                   use_fp16: bool | None = None) -> Generator:
    """Load a checkpoint of any supported format as a :class:`Generator`.

    Parameters
    ----------
    path : str, Path or None
        NVlabs ``.pkl`` (PyTorch or TensorFlow), rosinality ``.pt`` or native ``.safetensors``; None = the embedded
        demo network (:func:`default_checkpoint_path`).
    device : str or torch.device
        'cpu' (default), 'cuda', 'cuda:N', 'mps' or 'auto'.
    use_fp16 : bool or None
        fp16 for the high-resolution layers; None = on for CUDA only.

    Returns
    -------
    Generator

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
        format, resolution ('WxH'), z_dim, w_dim, c_dim, num_ws, parameters, mapping_layers, channel_base,
        channel_max, architecture, conv_clamp, file_size_bytes, path and any format-specific metadata.
    """
    loaded = load_checkpoint(path)
    try:
        loaded.config.validate()
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {loaded.path}: invalid architecture: {exc}") from None
    probe = Generator(loaded.config)  # (the meta device would avoid the allocation but costs seconds on first use)
    _check_state_dict(probe, loaded)
    cfg = loaded.config
    info: dict[str, Any] = {
        "path": str(loaded.path),
        "format": loaded.format,
        "resolution": f"{probe.img_width}x{probe.img_height}",
        "z_dim": cfg.z_dim,
        "w_dim": cfg.w_dim,
        "c_dim": cfg.c_dim,
        "num_ws": probe.num_ws,
        "parameters": count_parameters(probe),
        "mapping_layers": cfg.mapping_layers,
        "channel_base": cfg.channel_base,
        "channel_max": cfg.channel_max,
        "architecture": cfg.architecture,
        "conv_clamp": cfg.conv_clamp,
        "file_size_bytes": Path(loaded.path).stat().st_size,
    }
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


def save_native(source: Generator | LoadedCheckpoint, path: str | Path, *, overwrite: bool = False,
                provenance: dict[str, Any] | None = None) -> Path:
    """Write a generator (or a loaded checkpoint) in the native ``.safetensors`` format, atomically.

    Parameters
    ----------
    source : Generator or LoadedCheckpoint
        What to save.
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

    if isinstance(source, Generator):
        config, state, origin = source.config, source.state_dict(), {
            "format": getattr(source, "source_format", "in-memory"),
            "file": Path(getattr(source, "source_path", "")).name or None}
    elif isinstance(source, LoadedCheckpoint):
        config, state, origin = source.config, source.state_dict, {"format": source.format,
                                                                   "file": Path(source.path).name}
        if source.format == "native" and isinstance(source.metadata.get("source"), dict):
            origin = source.metadata["source"]
    else:
        raise TypeError(f"save_native needs a Generator or LoadedCheckpoint, not {type(source).__name__}")
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


__all__ = ["Generator", "GeneratorConfig", "LoadedCheckpoint", "build_generator", "convert_checkpoint",
           "default_checkpoint_path", "detect_format", "inspect_checkpoint", "load_checkpoint", "load_generator",
           "resolve_device", "save_native"]
