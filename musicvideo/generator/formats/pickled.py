"""Load any pickle-based checkpoint: NVlabs PyTorch, NVlabs TensorFlow, rosinality (torch zip or legacy).

``load_pickled(path)`` reads the file through the restricted unpickler (nothing in it is executed), recognises which
of the three layouts it holds from the unpickled content, and hands it to that format's converter. Every problem with
the file is a one-line :class:`~musicvideo.errors.CheckpointError` naming the file.
"""

from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

from ...errors import CheckpointError, UnsafePickleError, require_file
from ..unpickle import PersistentObjectStub, TFNetworkStub, restricted_load, restricted_torch_load
from .base import LoadedCheckpoint
from .nvlabs_pytorch import convert_nvlabs_pytorch, is_nvlabs_pytorch
from .nvlabs_tf import convert_nvlabs_tf, is_nvlabs_tf
from .rosinality import convert_rosinality, is_rosinality

__all__ = ["load_pickled", "read_pickled_object"]

_ZIP_MAGIC = b"PK\x03\x04"
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # first pickle of a non-zip torch.save file
_OTHER_MAGICS = {
    b"\xff\xd8\xff": "a JPEG image",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"\x89HDF": "an HDF5 file (Keras?)",
    b"\x1f\x8b": "a gzip archive (unpack it first)",
    b"%PDF": "a PDF document",
    b"<": "a text/HTML file (a download error page?)",
    b"{": "a JSON/text file",
}
# What a corrupt or truncated file makes the unpickler or torch's zip reader raise.
_CORRUPT = (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            struct.error, UnicodeDecodeError, zipfile.BadZipFile, RuntimeError, OverflowError, MemoryError,
            OSError)  # torch's zip reader reports some truncations as EINVAL


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        keys = ", ".join(repr(k) for k in list(obj)[:6])
        return f"a dict with keys [{keys}{', ...' if len(obj) > 6 else ''}]"
    if isinstance(obj, (list, tuple)):
        return f"a {type(obj).__name__} of {len(obj)} items"
    return f"a {type(obj).__name__}"


def read_pickled_object(path: str | Path) -> Any:
    """Unpickle a checkpoint file through the allow-list, whatever its container (plain pickle, torch zip/legacy).

    Parameters
    ----------
    path : str or Path
        The checkpoint.

    Returns
    -------
    object
        The unpickled content; NVlabs classes as inert stand-ins, tensors on the CPU.

    Raises
    ------
    UnsafePickleError
        The pickle asked for a global outside the allow-list.
    CheckpointError
        Missing, empty, truncated or corrupt file, or a file that is no pickle at all.
    """
    p = require_file(path, "checkpoint", CheckpointError)
    with open(p, "rb") as f:
        head = f.read(16)
    if not head:
        raise CheckpointError(f"checkpoint {p} is empty (0 bytes; re-download or re-export it)")
    source = str(p)
    try:
        if head.startswith(_ZIP_MAGIC):
            return restricted_torch_load(p, source=source)
        if head[0] != 0x80:
            kind = next((what for magic, what in _OTHER_MAGICS.items() if head.startswith(magic)), None)
            raise CheckpointError(
                f"checkpoint {p} is {kind or 'not a pickle or torch file'}, not a network checkpoint "
                "(expected an NVlabs .pkl, a rosinality .pt or a .safetensors file)"
            )
        with open(p, "rb") as f:
            first = restricted_load(f, source=source)
            if type(first) is int and first == _TORCH_LEGACY_MAGIC:
                return restricted_torch_load(p, source=source)
            return first
    except (UnsafePickleError, CheckpointError):
        raise
    except _CORRUPT as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {p} is truncated or corrupt ({reason[:160]}); re-download or re-export it"
        ) from None


def load_pickled(path: str | Path) -> LoadedCheckpoint:
    """Load a pickle-based checkpoint (NVlabs PyTorch, NVlabs TensorFlow or rosinality) without running its code.

    Parameters
    ----------
    path : str or Path
        The checkpoint file; its format is recognised from the content, not the name.

    Returns
    -------
    LoadedCheckpoint
        State dict under NVlabs' ``G_ema`` key names (stylegan2-ada-pytorch, or stylegan3 for alias-free networks),
        with ``mapping.w_avg``, and its config.

    Raises
    ------
    UnsafePickleError
        The pickle asked for a global outside the allow-list (nothing was executed).
    CheckpointError
        Any other problem: unreadable, corrupt, StyleGAN1, a pickle of something else, tensors missing
        from the source layout. The message is one line naming the file. (Shapes against the architecture are
        checked where the network is built: ``musicvideo.generator.build_generator`` / ``inspect_checkpoint``.)
    """
    p = Path(path).expanduser()
    obj = read_pickled_object(p)
    if is_nvlabs_pytorch(obj):
        loaded = convert_nvlabs_pytorch(obj, p)
    elif is_nvlabs_tf(obj):
        loaded = convert_nvlabs_tf(obj, p)
    elif is_rosinality(obj):
        loaded = convert_rosinality(obj, p)
    elif isinstance(obj, dict) and "G_ema" in obj:
        raise CheckpointError(
            f"checkpoint {p}: its 'G_ema' is {_describe(obj['G_ema'])}, not a pickled NVlabs network"
        )
    elif isinstance(obj, (PersistentObjectStub, TFNetworkStub)):
        raise CheckpointError(f"checkpoint {p} holds {obj!r}, not a StyleGAN2/StyleGAN3 generator")
    else:
        raise CheckpointError(
            f"checkpoint {p} is a pickle of {_describe(obj)}, not a StyleGAN2/StyleGAN3 network (expected an NVlabs "
            "pickle with 'G_ema', a TensorFlow (G, D, Gs) pickle, or a rosinality .pt with 'g_ema')"
        )
    return loaded

