"""Our native checkpoint format: a ``.safetensors`` file with the architecture in its metadata.

Layout: the tensors are the NVlabs ``G_ema`` state dict (same key names, fp32, contiguous). The safetensors
metadata has ONE key, ``musicvideo.stylegan2``, whose value is key-sorted JSON::

    {"config": {...GeneratorConfig fields...}, "format_version": 1, "source": {"format": ..., "file": ...}}

(one key because safetensors writes several metadata keys in a random order, and the embedded default must
regenerate bit for bit). safetensors holds no code, so loading cannot execute anything.

StyleGAN3 networks (format version 2) add ``"family": "stylegan3"`` and store :class:`StyleGAN3Config`'s fields as
the config; their tensors are NVlabs stylegan3's ``G_ema`` state dict. StyleGAN2 files are still written as version 1
without a family (that is what "no family" means), so their bytes, and older readers, are unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError
from ...errors import MusicVideoError
from ..stylegan2 import GeneratorConfig
from ..stylegan3 import StyleGAN3Config
from .base import LoadedCheckpoint, NetworkConfig

FORMAT_NAME = "musicvideo.stylegan2"  # the metadata key (kept for every family: older readers look for it)
FORMAT_VERSION = 2                    # the newest version this module reads
STYLEGAN2_VERSION = 1                 # StyleGAN2 files: no "family" key, byte-identical to older releases
FAMILIES: dict[str, type] = {"stylegan2": GeneratorConfig, "stylegan3": StyleGAN3Config}


def metadata_json(config: NetworkConfig, source: dict[str, Any] | None = None) -> str:
    """The metadata value: compact, key-sorted JSON (stable bytes for reproducible files)."""
    data: dict[str, Any] = {"config": dataclasses.asdict(config), "source": source or {}}
    if isinstance(config, StyleGAN3Config):
        data.update(family="stylegan3", format_version=FORMAT_VERSION)
    else:
        data["format_version"] = STYLEGAN2_VERSION
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def config_from_dict(data: Any, path: Path, family: str = "stylegan2") -> NetworkConfig:
    """Build the family's config (GeneratorConfig or StyleGAN3Config) from parsed JSON, naming the file on unknown
    or missing fields."""
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path}: its 'config' metadata is not a JSON object")
    if family not in FAMILIES:
        raise CheckpointError(f"checkpoint {path}: unknown network family {family!r} (written by a newer "
                              "musicvideo? upgrade it)")
    cls = FAMILIES[family]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CheckpointError(f"checkpoint {path}: unknown config field(s) {', '.join(unknown)} "
                              "(written by a newer musicvideo? upgrade it)")
    try:
        config = cls(**data)
        config.validate()
    except (TypeError, ValueError, MusicVideoError) as exc:
        raise CheckpointError(f"checkpoint {path}: invalid config: {exc}") from None
    return config


def save(path: Path, config: NetworkConfig, state_dict: dict[str, torch.Tensor],
         source: dict[str, Any] | None = None) -> None:
    """Write ``state_dict`` and ``config`` to ``path`` (the caller handles atomic renaming).

    Parameters
    ----------
    path : Path
        Destination file (written directly).
    config : GeneratorConfig or StyleGAN3Config
        The architecture, stored as JSON metadata (with the family for StyleGAN3).
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
    family = data.get("family", "stylegan2")
    config = config_from_dict(data["config"], path, family if isinstance(family, str) else repr(family))
    source = data.get("source")
    info: dict[str, Any] = {"format_version": version}
    if isinstance(source, dict) and source:
        info["source"] = source
    return LoadedCheckpoint(config=config, state_dict=state_dict, format="native", path=path, metadata=info)
