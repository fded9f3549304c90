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
    """F-measure of beat detection within +-window (mir_eval's; 1.0 when both lists are empty)."""
    import mir_eval

    reference = np.sort(np.asarray(reference, dtype=float))
    estimated = np.sort(np.asarray(estimated, dtype=float))
    if len(reference) == 0 and len(estimated) == 0:
        return 1.0
    if len(reference) == 0 or len(estimated) == 0:
        return 0.0
    return float(mir_eval.beat.f_measure(reference, estimated, f_measure_threshold=window_s))
