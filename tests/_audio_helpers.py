"""Shared helpers of the audio tests: a private analysis cache, wav writers, the beat F-measure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicvideo.audio.synth import write_wav

SHARED_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "audio"


@pytest.fixture
def audio_cache(tmp_path, monkeypatch) -> Path:
    """Point the analysis cache at a fresh temporary directory."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("MUSICVIDEO_CACHE_DIR", str(directory))
    return directory


def wav(path: Path, samples: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write samples to ``path`` and return it."""
    return write_wav(path, samples, sample_rate, subtype=subtype)


def beat_f_measure(reference: np.ndarray, estimated: np.ndarray, window_s: float = 0.07) -> float:
    """F-measure of beat detection: greedy one-to-one matching within +-window (as in mir_eval)."""
    reference = np.sort(np.asarray(reference, dtype=float))
    estimated = np.sort(np.asarray(estimated, dtype=float))
    if len(reference) == 0 and len(estimated) == 0:
        return 1.0
    if len(reference) == 0 or len(estimated) == 0:
        return 0.0
    used = np.zeros(len(estimated), bool)
    hits = 0
    for r in reference:
        distance = np.where(used, np.inf, np.abs(estimated - r))
        j = int(np.argmin(distance))
        if distance[j] <= window_s:
            used[j] = True
            hits += 1
    precision, recall = hits / len(estimated), hits / len(reference)
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)
