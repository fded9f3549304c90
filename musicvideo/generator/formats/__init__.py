"""Checkpoint formats: recognise a file by its first bytes (never its name) and hand it to the right reader.

- pickle (first byte 0x80) or zip (``PK\\x03\\x04``, torch.save's container): NVlabs PyTorch, NVlabs TensorFlow and
  rosinality checkpoints, via :func:`musicvideo.generator.formats.pickled.load_pickled` (restricted unpickler).
- safetensors (8-byte little-endian header length, then ``{``): our native format (:mod:`.native`).

Every reader returns a :class:`~musicvideo.generator.formats.base.LoadedCheckpoint` in the NVlabs key layout.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ...errors import CheckpointError, require_file
from .base import LoadedCheckpoint

SUPPORTED = ("NVlabs StyleGAN2/ADA .pkl (PyTorch or TensorFlow), NVlabs StyleGAN3 .pkl, rosinality .pt, "
             "musicvideo .safetensors (from `musicvideo convert`)")

_KNOWN_OTHER = [  # signature -> what the file probably is, for a friendlier error
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89HDF", "an HDF5 file (Keras?)"),
    (b"<", "an HTML/XML document (a download error page?)"),
    (b"version https://git-lfs", "a Git LFS pointer (run `git lfs pull`)"),
]


def detect_format(path: str | Path) -> str:
    """Classify a checkpoint by its content: 'pickle', 'zip' or 'safetensors'.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        'pickle', 'zip' or 'safetensors'.

    Raises
    ------
    CheckpointError
        Missing, empty, or not one of the supported containers (the message names what it looks like).
    """
    p = require_file(path, "checkpoint", CheckpointError)
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(64)
    if size == 0:
        raise CheckpointError(f"checkpoint {p} is empty (0 bytes); re-download or re-export it")
    # safetensors first: its 8-byte header length may well start with 0x80 (1 file in 256), a pickle's first byte.
    # Its JSON header always opens with '{"'; a pickle has its protocol and frame length there.
    if len(head) >= 10 and head[8:10] == b'{"':
        (header_len,) = struct.unpack("<Q", head[:8])
        if header_len + 8 > size:
            raise CheckpointError(f"checkpoint {p}: truncated safetensors file (header says {header_len} bytes, "
                                  f"file has {size}); re-download or re-convert it")
        return "safetensors"
    if head[:1] == b"\x80":
        return "pickle"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    what = next((name for sig, name in _KNOWN_OTHER if head.startswith(sig)), None)
    if what is None:
        text = all(32 <= b < 127 or b in (9, 10, 13) for b in head)
        what = "a text file" if text else "an unknown binary file"
    raise CheckpointError(f"checkpoint {p} is {what}, not a generator checkpoint (supported: {SUPPORTED})")


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Read any supported checkpoint into our layout, without executing anything from the file.

    Parameters
    ----------
    path : str or Path
        NVlabs ``.pkl``, rosinality ``.pt`` or native ``.safetensors``; recognised by content.

    Returns
    -------
    LoadedCheckpoint
        Config, state dict (NVlabs ``G_ema`` names), source format name, path and metadata.

    Raises
    ------
    CheckpointError
        Anything that is not a loadable StyleGAN2 or StyleGAN3 generator; the one-line message names the file and the problem.
    """
    kind = detect_format(path)
    p = Path(path).expanduser()
    if kind == "safetensors":
        from . import native

        return native.load(p)
    try:  # written by the pickle-formats helper; imported lazily
        from .pickled import load_pickled
    except ImportError as exc:  # pragma: no cover - only while the module is missing
        raise CheckpointError(f"checkpoint {p}: pickle/zip checkpoints are not supported in this build ({exc})") from None
    return load_pickled(p)


__all__ = ["LoadedCheckpoint", "SUPPORTED", "detect_format", "load_checkpoint"]
