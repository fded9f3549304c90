"""NVlabs stylegan3 network pickles of the alias-free generator (``--cfg=stylegan3-t`` / ``stylegan3-r``).

The file is the same snapshot dict as StyleGAN2's (``G, D, G_ema, augment_pipe, training_set_kwargs``), written by
``training/training_loop.py``; ``G_ema`` is a ``torch_utils.persistence`` object of
``training/networks_stylegan3.Generator``. Its ``_init_kwargs`` are what ``train.py`` passed (plus the dataset's
``c_dim``, ``img_resolution`` and ``img_channels``): ``z_dim, w_dim, mapping_kwargs=dict(num_layers),
channel_base, channel_max, magnitude_ema_beta`` and, for -R, ``conv_kernel=1, use_radial_filters=True``; ``--fp32``
adds ``num_fp16_res=0, conv_clamp=None``. ``Generator`` forwards every other keyword to ``SynthesisNetwork``, which
forwards what it does not take itself to each ``SynthesisLayer``. We read those keywords into a
:class:`~musicvideo.generator.stylegan3.StyleGAN3Config` (NVlabs' defaults where a keyword is absent), refuse any
keyword or value we do not know, and take the tensors as they are: their names are already ours. The filter
buffers stored in the file are compared with the ones the config designs when the network is built
(:func:`musicvideo.generator.build_generator`). The embedded module source is never executed.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CheckpointError, MusicVideoError
from ..stylegan3 import StyleGAN3Config
from ..unpickle import PersistentObjectStub
from .base import LoadedCheckpoint

FORMAT = "nvlabs-pytorch"

# Generator keywords -> config field (None: read separately); what each NVlabs constructor accepts.
_GENERATOR_KWARGS = {"z_dim": "z_dim", "c_dim": "c_dim", "w_dim": "w_dim", "img_resolution": "img_resolution",
                     "img_channels": "img_channels", "mapping_kwargs": None}
_MAPPING_KWARGS = {"num_layers": "mapping_layers", "lr_multiplier": "mapping_lr_mul",
                   "w_avg_beta": None}  # w_avg_beta: the training-time decay of w_avg, nothing to run
_SYNTHESIS_KWARGS = {name: name for name in (
    "channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
    "last_stopband_rel", "margin_size", "output_scale", "num_fp16_res",
    # SynthesisLayer's own (SynthesisNetwork passes them on as **layer_kwargs)
    "conv_kernel", "filter_size", "lrelu_upsampling", "use_radial_filters", "conv_clamp", "magnitude_ema_beta")}
_INT_FIELDS = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_layers", "channel_base",
               "channel_max", "num_layers", "num_critical", "margin_size", "num_fp16_res", "conv_kernel",
               "filter_size", "lrelu_upsampling"}
_MIN = {"z_dim": 1, "w_dim": 1, "img_channels": 1, "mapping_layers": 1, "channel_base": 1, "channel_max": 1,
        "num_layers": 1, "conv_kernel": 1, "filter_size": 1, "lrelu_upsampling": 1}  # others: >= 0


def _setting_value(name: str, value: Any, path: Path, shown: str | None = None) -> Any:
    """One keyword's value as the config field ``name`` wants it, or a one-line error naming the file and the
    setting (as ``shown``, its name in the file)."""
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {path}: StyleGAN3 setting {shown or name}={value!r} is not supported "
                               f"({why})")

    if name == "use_radial_filters":
        if not isinstance(value, (bool, int, np.bool_)) or value not in (0, 1):
            raise bad("expected True or False")
        return bool(value)
    if name == "conv_clamp" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy scalars are numbers.Real too
        raise bad("expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise bad("not finite")
    if name in _INT_FIELDS:
        if number != int(number):
            raise bad("expected a whole number")
        if int(number) < _MIN.get(name, 0):
            raise bad(f"expected at least {_MIN.get(name, 0)}")
        return int(number)
    if name == "magnitude_ema_beta" and not 0 <= number <= 1:
        raise bad("a decay rate must lie in [0, 1]")
    if name in ("first_cutoff", "first_stopband", "last_stopband_rel") and number <= 0:
        raise bad("expected a positive frequency")
    if name == "conv_clamp" and number < 0:
        raise bad("a clamp must be >= 0 or None")
    if name == "mapping_lr_mul" and number <= 0:
        raise bad("expected a positive multiplier")
    return number


def config_from_stylegan3(G: PersistentObjectStub, path: Path) -> StyleGAN3Config:
    """The :class:`StyleGAN3Config` of a pickled NVlabs stylegan3 ``Generator``, from its constructor keywords.

    Parameters
    ----------
    G : PersistentObjectStub
        The pickled ``G_ema``.
    path : Path
        The file, for messages.

    Returns
    -------
    StyleGAN3Config

    Raises
    ------
    CheckpointError
        A keyword we do not know, a value we do not handle, or required keywords missing: one line naming the file
        and the setting.
    """
    init_args = G.state.get("_init_args")
    if init_args:  # NVlabs' code constructs every network with keywords only
        raise CheckpointError(f"checkpoint {path}: the pickled G_ema was built with positional arguments "
                              f"({len(init_args)}); only NVlabs' keyword-built stylegan3 networks are supported")
    kwargs = G.init_kwargs
    if not kwargs:
        raise CheckpointError(f"checkpoint {path}: the pickled G_ema has no constructor arguments (_init_kwargs); "
                              "it was not saved by NVlabs' stylegan3 training code")
    fields: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in _GENERATOR_KWARGS:
            if _GENERATOR_KWARGS[name] is not None:
                fields[_GENERATOR_KWARGS[name]] = _setting_value(name, value, path)
        elif name in _SYNTHESIS_KWARGS:
            fields[_SYNTHESIS_KWARGS[name]] = _setting_value(name, value, path)
        else:
            raise CheckpointError(f"checkpoint {path}: unknown StyleGAN3 setting {name}={value!r} in G_ema's "
                                  "constructor arguments (a modified stylegan3? only NVlabs' settings are supported)")
    mapping_kwargs = kwargs.get("mapping_kwargs") or {}
    if not isinstance(mapping_kwargs, dict):
        raise CheckpointError(f"checkpoint {path}: G_ema's mapping_kwargs is a {type(mapping_kwargs).__name__}, "
                              "not a dict")
    for name, value in mapping_kwargs.items():
        if name not in _MAPPING_KWARGS:
            raise CheckpointError(f"checkpoint {path}: unknown StyleGAN3 mapping setting {name}={value!r} "
                                  "(a modified stylegan3? only NVlabs' settings are supported)")
        field = _MAPPING_KWARGS[name]
        if field is not None:
            fields[field] = _setting_value(field, value, path, f"mapping_kwargs.{name}")
    missing = [name for name in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels") if name not in fields]
    if missing:
        raise CheckpointError(f"checkpoint {path}: the pickled G_ema has no {missing[0]} in its constructor "
                              "arguments (the file is incomplete)")
    config = StyleGAN3Config(**fields)
    try:
        config.validate()
    except MusicVideoError as exc:
        raise CheckpointError(f"checkpoint {path}: unsupported StyleGAN3 settings: {exc}") from None
    return config


def convert_stylegan3(data: Any, G: PersistentObjectStub, path: Path) -> LoadedCheckpoint:
    """Convert an unpickled NVlabs stylegan3 snapshot (stand-in objects) to a LoadedCheckpoint.

    Parameters
    ----------
    data : dict or PersistentObjectStub
        What the restricted unpickler returned: the snapshot dict, or a bare pickled generator.
    G : PersistentObjectStub
        Its ``G_ema``.
    path : Path
        The file, for messages and the result.

    Returns
    -------
    LoadedCheckpoint
        ``G_ema``'s tensors (float32, NVlabs stylegan3 names) and its :class:`StyleGAN3Config`.

    Raises
    ------
    CheckpointError
        A G_ema that is not a stylegan3 Generator, unknown settings, or no mapping/synthesis tensors.
    """
    if G.class_name != "Generator":
        raise CheckpointError(f"checkpoint {path}: G_ema is a pickled {G.class_name or 'object'}, "
                              "not a StyleGAN3 Generator")
    config = config_from_stylegan3(G, path)
    state_dict = {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in G.state_dict().items()}
    if not any(k.startswith("synthesis.") for k in state_dict) or not any(k.startswith("mapping.") for k in state_dict):
        raise CheckpointError(f"checkpoint {path}: the pickled G_ema holds no mapping/synthesis tensors")
    metadata = snapshot_metadata(data, G)
    return LoadedCheckpoint(config=config, state_dict=state_dict, format=FORMAT, path=path, metadata=metadata)


def snapshot_metadata(data: Any, G: PersistentObjectStub) -> dict[str, Any]:
    """What ``inspect`` shows of an NVlabs snapshot besides the network: class, persistence version, pickle keys,
    training progress and the dataset settings (JSON-able values only)."""
    metadata: dict[str, Any] = {"source_class": G.class_name, "persistence_version": G.version}
    if isinstance(data, dict):
        metadata["pickle_keys"] = sorted(str(k) for k in data.keys())
        for key in ("cur_nimg", "cur_tick", "batch_idx", "progress"):
            if isinstance(data.get(key), (int, float)):
                metadata[key] = data[key]
        tsk = data.get("training_set_kwargs")
        if isinstance(tsk, dict):
            metadata["training_set"] = {k: v for k, v in tsk.items() if isinstance(v, (str, int, float, bool))}
    return metadata


__all__ = ["FORMAT", "config_from_stylegan3", "convert_stylegan3", "snapshot_metadata"]
