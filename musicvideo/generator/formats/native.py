"""Our native checkpoint format: a ``.safetensors`` file with the architecture in its metadata.

Layout: the tensors are the NVlabs ``G_ema`` state dict (same key names, fp32, contiguous). The safetensors
metadata has ONE key, ``musicvideo.stylegan2``, whose value is key-sorted JSON::

    {"config": {...GeneratorConfig fields...}, "format_version": 1, "source": {"format": ..., "file": ...}}

(one key because safetensors writes several metadata keys in a random order, and the embedded default must
regenerate bit for bit). safetensors holds no code, so loading cannot execute anything.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError
from ..stylegan2 import GeneratorConfig
from .base import LoadedCheckpoint

FORMAT_NAME = "musicvideo.stylegan2"
FORMAT_VERSION = 1


def metadata_json(config: GeneratorConfig, source: dict[str, Any] | None = None) -> str:
    """The metadata value: compact, key-sorted JSON (stable bytes for reproducible files)."""
    data = {"config": dataclasses.asdict(config), "format_version": FORMAT_VERSION, "source": source or {}}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def config_from_dict(data: Any, path: Path) -> GeneratorConfig:
    """Build a GeneratorConfig from parsed JSON, naming the file on unknown or missing fields."""
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path}: its 'config' metadata is not a JSON object")
    known = {f.name for f in dataclasses.fields(GeneratorConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CheckpointError(f"checkpoint {path}: unknown config field(s) {', '.join(unknown)} "
                              "(written by a newer musicvideo? upgrade it)")
    try:
        config = GeneratorConfig(**data)
        config.validate()
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: invalid config: {exc}") from None
    return config


def save(path: Path, config: GeneratorConfig, state_dict: dict[str, torch.Tensor],
         source: dict[str, Any] | None = None) -> None:
    """Write ``state_dict`` and ``config`` to ``path`` (the caller handles atomic renaming).

    Parameters
    ----------
    path : Path
        Destination file (written directly).
    config : GeneratorConfig
        The architecture, stored as JSON metadata.
    state_dict : dict of str to Tensor
        NVlabs ``G_ema`` key names; stored as contiguous fp32 CPU tensors.
    source : dict, optional
        JSON-able provenance (source format, file name, ...).
    """
    from safetensors.torch import save as serialize

    tensors = {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in state_dict.items()}
    # Serialise in memory and write with open(): safetensors' save_file creates files readable by the owner only.
    Path(path).write_bytes(serialize(tensors, metadata={FORMAT_NAME: metadata_json(config, source)}))


def load(path: str | Path) -> LoadedCheckpoint:
    """Read a native checkpoint.

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` file written by :func:`save` (or ``musicvideo convert``).

    Returns
    -------
    LoadedCheckpoint
        With ``format='native'``; tensors are on the CPU.

    Raises
    ------
    CheckpointError
        Truncated or corrupt file, or a safetensors file that is not a musicvideo generator.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            if FORMAT_NAME not in metadata:
                raise CheckpointError(
                    f"checkpoint {path}: a safetensors file but not a musicvideo generator (no '{FORMAT_NAME}' "
                    "metadata); convert the original checkpoint with `musicvideo convert`")
            state_dict = {k: f.get_tensor(k) for k in f.keys()}
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"checkpoint {path}: corrupt or truncated safetensors file ({reason})") from None
    try:
        data = json.loads(metadata[FORMAT_NAME])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {path}: its metadata is not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or "config" not in data:
        raise CheckpointError(f"checkpoint {path}: its metadata has no 'config' (architecture)")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path}: native format version {version!r} is newer than this musicvideo "
                              f"reads ({FORMAT_VERSION}); upgrade musicvideo")
    config = config_from_dict(data["config"], path)
    source = data.get("source")
    info: dict[str, Any] = {"format_version": version}
    if isinstance(source, dict) and source:
        info["source"] = source
    return LoadedCheckpoint(config=config, state_dict=state_dict, format="native", path=path, metadata=info)
