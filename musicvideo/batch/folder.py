"""The output folder of a batch: which song it was made for, and clearing what an earlier batch wrote there.

A folder holds one song's clips, manifest and timelines; a batch for another song is refused there unless it
may replace them (``--overwrite``), so two songs' clips never mix in one folder or one timeline.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import OutputError
from .manifest import read_manifest, sha256_file


def other_song(output_dir: str | Path, song: str | Path) -> str | None:
    """The song an output folder was made for, when it is not ``song`` (by path and by content); else None."""
    manifest = read_manifest(output_dir)
    if not manifest.song:
        return None
    song = Path(song).resolve()
    if Path(manifest.song).resolve() == song:
        return None
    try:
        digest = sha256_file(song)
    except OSError:
        digest = ""
    if digest and any(r.inputs.get("song") == digest for r in manifest.clips.values()):
        return None  # the same song moved or renamed
    return manifest.song


def check_output_song(output_dir: str | Path, song: str | Path, *, overwrite: bool) -> str | None:
    """Refuse an output folder made for another song unless ``overwrite``; returns that song (to clear) or None.

    Raises
    ------
    OutputError
        The folder holds another song's clips and ``overwrite`` is False.
    """
    other = other_song(output_dir, song)
    if other is not None and not overwrite:
        raise OutputError(f"output folder {output_dir} holds clips of another song ({Path(other).name}); choose "
                          f"another folder, or add --overwrite to replace them with {Path(song).name}'s")
    return other


def clear_output(output_dir: Path) -> None:
    """Delete what an earlier batch wrote in ``output_dir`` (its clips, timelines, manifest, seed picks and pieces),
    nothing else."""
    import shutil

    from .split import PARTS_DIR

    manifest = read_manifest(output_dir)
    names = [r.file for r in manifest.clips.values()] + list(manifest.timelines)
    names += [f"{r.name}.seeds.json" for r in manifest.clips.values()] + [f"{r.name}.seeds.png"
                                                                           for r in manifest.clips.values()]
    for name in names + ["manifest.json", "manifest.csv"]:
        path = output_dir / name
        if path.is_file() and path.parent == output_dir:
            path.unlink()
    shutil.rmtree(output_dir / PARTS_DIR, ignore_errors=True)


__all__ = ["other_song", "check_output_song", "clear_output"]
