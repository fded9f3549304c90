"""Cache of song-level analyses, keyed on the file's content hash, the analysis config and a format version.

Location: ``$MUSICVIDEO_CACHE_DIR`` or ``~/.cache/musicvideo``. Entries are ``.npz`` files written atomically; an
entry that cannot be read (corrupt, truncated, an older layout) is ignored and recomputed. A cache that cannot be
written (read-only home) only costs speed, never an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_output
from .features import AnalysisConfig, SongAnalysis

CACHE_VERSION = 3  # bump when SongAnalysis or the analysis itself changes
ENV_VAR = "MUSICVIDEO_CACHE_DIR"


def cache_dir() -> Path:
    """``$MUSICVIDEO_CACHE_DIR`` or ``~/.cache/musicvideo`` (``$XDG_CACHE_HOME`` respected)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "musicvideo"


def file_hash(path: str | Path) -> str:
    """BLAKE2b of the file's bytes (hex); ~1 GB/s, so a 5-minute mp3 takes milliseconds."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=20)).hexdigest()


def cache_key(content_hash: str, config: AnalysisConfig) -> str:
    """File name of the entry for a file hash and an analysis config."""
    params = json.dumps(dataclasses.asdict(config), sort_keys=True)
    config_hash = hashlib.blake2b(params.encode(), digest_size=8).hexdigest()
    return f"{content_hash}-{config_hash}-v{CACHE_VERSION}.npz"


def load_cached(key: str) -> SongAnalysis | None:
    """The cached analysis for ``key``, or None when absent or unreadable."""
    path = cache_dir() / key
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return SongAnalysis.from_arrays(data)
    except Exception:  # noqa: BLE001 - any damage means: recompute
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def store_cached(key: str, song: SongAnalysis) -> Path | None:
    """Write ``song`` under ``key`` atomically; returns the path, or None when the cache is not writable."""
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_output(directory / key, overwrite=True) as tmp:
            np.savez(tmp, **song.to_arrays())
        return directory / key
    except Exception:  # noqa: BLE001 - a cache is an optimisation; failing to write it is not an error
        return None


def cached_duration_s(path: str | Path) -> float | None:
    """Length of a song from any cache entry of its content (any config), or None when there is none."""
    directory = cache_dir()
    if not directory.is_dir():
        return None
    try:
        content = file_hash(path)
        for entry in directory.glob(f"{content}-*-v{CACHE_VERSION}.npz"):
            with np.load(entry, allow_pickle=False) as data:  # reads only the two small arrays
                return int(data["n_samples"]) / int(data["source_rate"])
    except Exception:  # noqa: BLE001 - a damaged entry: fall back to reading the song
        return None
    return None
