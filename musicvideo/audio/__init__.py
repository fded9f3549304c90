"""The audio stage: decode a song, analyse it into per-frame features, turn those into reactive curves.

::

    from musicvideo.audio import analyze, reactive_curves
    features = analyze("song.mp3", fps=30)          # FrameFeatures, every array of length n_frames
    curves = reactive_curves(features)              # ReactiveCurves: loudness, onset, beat, pulse, speed
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from ..atomic import atomic_output, check_output_path
from ..errors import AudioError, OutputError, require_file
from .cache import cache_key, file_hash, load_cached, store_cached
from .curves import CurveConfig, ReactiveCurves, reactive_curves
from .decode import AudioClip, audio_duration_s, decode_audio
from .features import AnalysisConfig, SongAnalysis, analyze_file, analyze_song, check_clip
from .frames import FrameFeatures, sample_features
from .timing import exact_fps, frame_count, frame_times

__all__ = [
    "AnalysisConfig", "AudioClip", "CurveConfig", "FrameFeatures", "ReactiveCurves", "SongAnalysis",
    "analyze", "analyze_song_cached", "analyze_to_file", "audio_duration_s", "decode_audio", "exact_fps",
    "frame_count", "frame_times", "reactive_curves",
]

FEATURE_FORMATS = (".npz", ".csv", ".json")


def analyze_song_cached(path: str | Path, config: AnalysisConfig | None = None, *, cache: bool = True) -> SongAnalysis:
    """Whole-song analysis of a file, read from the cache when the same bytes were analysed with the same config.

    Parameters
    ----------
    path : str or Path
        The song.
    config : AnalysisConfig, optional
        Analysis knobs (part of the cache key).
    cache : bool
        Read and write the cache (``False`` always recomputes and stores nothing).

    Returns
    -------
    SongAnalysis
    """
    cfg = config or AnalysisConfig()
    p = require_file(path, "song", AudioError)
    key = cache_key(file_hash(p), cfg) if cache else None
    if key is not None:
        song = load_cached(key)
        if song is not None:
            return song
    song = analyze_file(p, cfg)
    if key is not None:
        store_cached(key, song)
    return song


def analyze(path: str | Path, *, fps: float | Fraction | str, start_s: float = 0.0, duration_s: float | None = None,
            config: AnalysisConfig | None = None, cache: bool = True) -> FrameFeatures:
    """Analyse a song into per-frame features at the video frame rate.

    Frame ``i`` is song time ``start_s + i / fps``; there are ``ceil(duration_s * fps)`` frames. The whole song is
    analysed (and cached) and then read at the frame times, so a clip equals the whole song at the same times.

    Parameters
    ----------
    path : str or Path
        The song (any format ffmpeg decodes).
    fps : float, Fraction or str
        Frames per second; 29.97 is read as 30000/1001.
    start_s : float
        Clip start in seconds.
    duration_s : float, optional
        Clip length in seconds (default: to the end). Kept exactly when it ends within one frame of the song's
        end; a clip that runs further is refused, as ``render`` and ``preview`` refuse it (:func:`check_clip`).
    config : AnalysisConfig, optional
        Analysis knobs.
    cache : bool
        Use the analysis cache (``$MUSICVIDEO_CACHE_DIR`` or ``~/.cache/musicvideo``).

    Returns
    -------
    FrameFeatures

    Raises
    ------
    AudioError, ConfigError
        Unreadable song, fps <= 0, start or end past the end of the song, duration <= 0.

    Examples
    --------
    >>> f = analyze("song.mp3", fps=30, start_s=60, duration_s=10)    # doctest: +SKIP
    >>> f.n_frames, f.tempo_bpm                                         # doctest: +SKIP
    (300, 123.1)
    """
    rate = exact_fps(fps)
    cfg = config or AnalysisConfig()
    if duration_s is not None or start_s:  # a clip past the end is refused before the analysis, as render does
        check_clip(audio_duration_s(path), float(start_s), duration_s, rate, song_name=Path(path).name)
    song = analyze_song_cached(path, cfg, cache=cache)
    clip_s = check_clip(song.duration_s, float(start_s), duration_s, rate, song_name=Path(path).name)
    n = max(frame_count(clip_s, rate), 1)  # a clip shorter than one frame still shows one frame
    return sample_features(song, fps=rate, start_s=float(start_s), n_frames=n, duration_s=clip_s, config=cfg)


def analyze_to_file(song: str | Path, output: str | Path, *, fps: float | Fraction | str = 30,
                    start_s: float = 0.0, duration_s: float | None = None, config: AnalysisConfig | None = None,
                    cache: bool = True, overwrite: bool = False) -> Path:
    """Analyse ``song`` and write the features to ``output`` (``.npz``, ``.csv`` or ``.json`` by extension).

    Parameters
    ----------
    song : str or Path
        The song.
    output : str or Path
        Output file; written atomically (complete or not at all).
    fps, start_s, duration_s, config, cache
        As for :func:`analyze`.
    overwrite : bool
        Replace an existing output.

    Returns
    -------
    Path
        The written file.
    """
    out = Path(output).expanduser()
    if out.suffix.lower() not in FEATURE_FORMATS:
        raise OutputError(f"unknown output format {out.suffix or '(none)'} for {out} (use .npz, .csv or .json)")
    check_output_path(out, overwrite=overwrite)  # fail before the analysis, not after
    features = analyze(song, fps=fps, start_s=start_s, duration_s=duration_s, config=config, cache=cache)
    with atomic_output(out, overwrite=overwrite) as tmp:
        features.save(tmp)
    return out
