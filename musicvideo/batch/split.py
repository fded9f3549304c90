"""Split render: one long clip rendered as consecutive frame ranges on several workers, joined without re-encoding.

Each piece is ``render(frame_range=(a, b), audio=False)`` with the clip's own settings (the render loop gives
frames ``a..b-1`` of the whole clip bit-identically), and :func:`musicvideo.video.concat_segments` copies the
pieces' video packets into one file and muxes the song once over the whole clip: the same frame count and sync as
a one-worker render. Pieces live in ``OUTDIR/.parts/NAME/`` until the join, so a re-run after a crash reuses the
pieces that are complete.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from ..config import RenderConfig
from ..errors import MusicVideoError

PARTS_DIR = ".parts"


def frame_ranges(n_frames: int, parts: int) -> list[tuple[int, int]]:
    """Split ``[0, n_frames)`` into ``parts`` consecutive ranges whose lengths differ by at most one.

    Examples
    --------
    >>> frame_ranges(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    """
    if parts < 1 or n_frames < parts:
        raise MusicVideoError(f"cannot split {n_frames} frames into {parts} parts (use 1..{n_frames})")
    base, extra = divmod(n_frames, parts)
    ranges, start = [], 0
    for i in range(parts):
        stop = start + base + (1 if i < extra else 0)
        ranges.append((start, stop))
        start = stop
    return ranges


def parts_directory(output_dir: str | Path, clip_name: str) -> Path:
    """Where the pieces of clip ``clip_name`` are kept until they are joined."""
    return Path(output_dir) / PARTS_DIR / clip_name


def part_path(output_dir: str | Path, clip_name: str, index: int, suffix: str) -> Path:
    """The file of piece ``index`` (``part-000.mov``)."""
    return parts_directory(output_dir, clip_name) / f"part-{index:03d}{suffix}"


def part_is_complete(path: Path, n_frames: int) -> bool:
    """Whether a piece exists and holds exactly ``n_frames`` frames (written atomically, so no half pieces)."""
    from ..video import probe

    if not path.is_file():
        return False
    try:
        return probe(path, decode=False).n_frames == n_frames
    except MusicVideoError:
        return False


def join_parts(parts: Sequence[str | Path], output: str | Path, *, song: str | Path, config: RenderConfig) -> Path:
    """Join the pieces of a split clip into ``output`` with the song's audio over the whole clip.

    Parameters
    ----------
    parts : sequence of path
        The pieces in frame order.
    output : str or Path
        The finished clip (replaced if present).
    song : str or Path
        The song.
    config : RenderConfig
        The clip's settings (``start_s``, ``duration_s`` and ``video``).

    Returns
    -------
    Path
    """
    from ..video import AudioSource, concat_segments

    audio = AudioSource(path=song, start_s=config.start_s, duration_s=config.duration_s)
    return concat_segments(parts, output, audio=audio, config=config.video, overwrite=True)


def remove_parts(output_dir: str | Path, clip_name: str) -> None:
    """Delete a joined clip's pieces (and the parts folder when it is empty)."""
    folder = parts_directory(output_dir, clip_name)
    shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.parent.rmdir()
    except OSError:
        pass  # other clips' pieces are still there


__all__ = ["frame_ranges", "part_path", "parts_directory", "part_is_complete", "join_parts", "remove_parts"]
