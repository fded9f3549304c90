"""``musicvideo batch --auto SONG -o DIR``: a plan with one clip per section of the song, written and then run.

The plan goes to ``DIR/plan.toml`` so the user can edit it and run ``musicvideo batch DIR/plan.toml -o DIR``
again. It says ``clips = "sections"`` (the cut follows the analysis) and gives every section label its looks in a
``[looks.LABEL]`` table, one seed list per take: editing a label's seeds changes every section of that label
together, which is what an editor wants (the second chorus looks like the first). A comment lists the sections
the analysis found. A second ``--auto`` into the same folder keeps the plan there (the user's edits) unless
``--overwrite`` is given.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..atomic import atomic_output
from ..errors import AudioError, ConfigError, MusicVideoError, require_file
from .plan import DEFAULT_CODEC

#: The plan file an automatic batch writes into its output folder.
AUTO_PLAN = "plan.toml"


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _relative(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` when it can be (the plan moves with its folder), else absolute."""
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def _fps_text(rate: Fraction) -> str:
    """The plan's ``fps``: a whole number, an NTSC rate as 29.97 (read back as 30000/1001), else a decimal that
    reads back as the same fraction."""
    from ..config import exact_fps

    if rate.denominator == 1:
        return str(rate.numerator)
    for digits in range(2, 10):
        text = f"{float(rate):.{digits}f}".rstrip("0")
        if exact_fps(float(text)) == rate:
            return text
    return repr(float(rate))


def auto_plan_text(song: str | Path, output_dir: str | Path, *, checkpoint: str | Path | None = None,
                   takes: int = 1, fps: float | Fraction | str = 30, size: int | None = None,
                   codec: str = DEFAULT_CODEC, n_keyframes: int = 8) -> str:
    """The text of an automatic plan for ``song`` whose clips go to ``output_dir``.

    Parameters
    ----------
    song : str or Path
        The song (analysed here, from the cache when it was analysed before).
    output_dir : str or Path
        Where the plan will be written (paths in it are relative to it).
    checkpoint : str or Path, optional
        The generator (default: the embedded one).
    takes : int
        Alternative looks per section.
    fps, size, codec
        The clips' frame rate, size (None: the generator's) and codec.
    n_keyframes : int
        Seeds per look.

    Returns
    -------
    str
    """
    from ..config import exact_fps
    from ..motion.keyframes import song_seed
    from .sections import analyse_sections, clip_name, derived_seeds

    song = Path(song).resolve()
    folder = Path(output_dir).expanduser().resolve()
    rate = exact_fps(fps)
    cut = analyse_sections(song, fps=rate)
    base = song_seed(song)
    fps_text = _fps_text(rate)
    shown = folder.relative_to(Path.cwd()) if folder.is_relative_to(Path.cwd()) else folder
    lines = [f"# Made by `musicvideo batch --auto` for {song.name}. Edit it and run it again with",
             f"#   musicvideo batch \"{(shown / AUTO_PLAN).as_posix()}\" -o \"{shown.as_posix()}\"",
             "# (clips whose settings did not change are kept, the others are rendered again).",
             "#",
             "# clips = \"sections\": one clip per section the analysis finds, cut on the frame nearest its downbeat.",
             f"# The analysis found {len(cut.cuts)} section(s)" + (f" ({cut.note})" if cut.note else ":")]
    for c in cut.cuts:
        lines.append(f"#   {clip_name(c, 1):<8} starts {c.start_s:8.3f} s  {c.bars_text}")
    lines += ["# Every section of a label has the same look: the seeds under [looks.LABEL] below, one list per",
              "# take (takes = N renders N alternative looks of every section, stacked on tracks V1..VN).",
              "# Instead of seeds a look can pick them by traits, as `musicvideo select` does:",
              "#   [looks.A]",
              "#   select = { color = \"blue\", count = 8 }",
              "",
              f"song = {_toml_string(_relative(song, folder))}"]
    if checkpoint is not None:
        lines.append(f"checkpoint = {_toml_string(_relative(Path(checkpoint).resolve(), folder))}")
    lines += [f"name = {_toml_string(song.stem)}",
              'clips = "sections"',
              f"takes = {int(takes)}",
              "",
              "[defaults]",
              f"fps = {fps_text}"]
    if size is not None:
        lines.append(f"size = {int(size)}")
    lines += [f"codec = {_toml_string(codec)}", ""]
    for index, label in enumerate(cut.labels):
        where = ", ".join(f"{c.index + 1:02d}" for c in cut.cuts if c.label == label)
        lines.append(f"[looks.{label}]  # sections {where}")
        seeds = [derived_seeds(base, index, take, n_keyframes) for take in range(1, int(takes) + 1)]
        lines.append("seeds = [")
        lines += [f"  [{', '.join(map(str, s))}],  # take {t}" for t, s in enumerate(seeds, start=1)]
        lines += ["]", ""]
    return "\n".join(lines)


def write_auto_plan(song: str | Path, output_dir: str | Path, *, overwrite: bool = False, **options: Any) -> Path:
    """Write ``output_dir/plan.toml`` for ``song`` (see :func:`auto_plan_text`), keeping one already there.

    Parameters
    ----------
    song : str or Path
        The song.
    output_dir : str or Path
        The batch's output folder (created).
    overwrite : bool
        Replace an existing ``plan.toml`` (otherwise it is kept: it may hold the user's edits).
    **options
        ``checkpoint``, ``takes``, ``fps``, ``size``, ``codec`` (see :func:`auto_plan_text`).

    Returns
    -------
    Path
        The plan file.
    """
    folder = Path(output_dir).expanduser()
    path = folder / AUTO_PLAN
    if path.is_file() and not overwrite:
        return path
    text = auto_plan_text(song, folder, **options)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path


def auto_batch(song: str | Path, output_dir: str | Path, *, checkpoint: str | Path | None = None, takes: int = 1,
               fps: float | Fraction | str = 30, size: int | None = None, codec: str = DEFAULT_CODEC,
               overwrite: bool = False, **run_options: Any) -> Any:
    """Render one clip per section of ``song`` into ``output_dir`` with its plan, manifest and timelines.

    Parameters
    ----------
    song : str or Path
        The song.
    output_dir : str or Path
        Output folder; ``plan.toml`` is written there first (an existing one is used as it is, unless
        ``overwrite``).
    checkpoint : str or Path, optional
        The generator (default: the embedded one).
    takes : int
        Alternative looks per section (1..16).
    fps, size, codec
        Clip settings written into the plan.
    overwrite : bool
        Rewrite ``plan.toml`` and replace a folder made for another song.
    **run_options
        Passed to :func:`musicvideo.batch.run_batch` (``workers``, ``device``, ``progress``, ...).

    Returns
    -------
    BatchResult

    Raises
    ------
    OutputError
        The folder holds another song's clips and ``overwrite`` is False (nothing is written).
    """
    from .runner import check_output_song, run_batch

    song_path = require_file(song, "song", AudioError).resolve()
    if checkpoint is not None:
        checkpoint = require_file(checkpoint, "checkpoint", ConfigError).resolve()
    if not 1 <= int(takes) <= 16:
        raise ConfigError(f"--takes must be within 1..16, got {takes}")
    folder = Path(output_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        from ..errors import OutputError

        raise OutputError(f"output {folder} is a file, not a directory (give a directory for the clips)")
    check_output_song(folder, song_path, overwrite=overwrite)
    plan_path = folder / AUTO_PLAN
    if plan_path.is_file() and not overwrite:
        _check_plan_song(plan_path, song_path)
    made_folder, made_plan = not folder.exists(), overwrite or not plan_path.is_file()
    plan = write_auto_plan(song_path, folder, overwrite=overwrite, checkpoint=checkpoint, takes=takes, fps=fps,
                           size=size, codec=codec)
    try:
        return run_batch(plan, folder, overwrite=overwrite, **run_options)
    except MusicVideoError:
        # refused before anything rendered (a setting the plan cannot run with): leave the folder as it was
        if made_plan and not (folder / "manifest.json").exists():
            plan.unlink(missing_ok=True)
            if made_folder:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        raise


def _check_plan_song(plan_path: Path, song: Path) -> None:
    """A kept ``plan.toml`` must be for this song (a folder whose plan names another song is another song's)."""
    import tomllib

    from ..errors import OutputError

    try:
        named = tomllib.loads(plan_path.read_text(encoding="utf-8")).get("song")
    except (OSError, ValueError):
        return  # load_plan reports what is wrong with it
    if isinstance(named, str) and (plan_path.parent / named).resolve() != song:
        raise OutputError(f"{plan_path} is a plan for another song ({Path(named).name}); choose another folder, "
                          f"or add --overwrite to replace it with one for {song.name}")


__all__ = ["AUTO_PLAN", "auto_plan_text", "write_auto_plan", "auto_batch"]
