"""Outputs that appear complete or not at all.

Every file musicvideo writes goes to a temporary name beside its target and is renamed into place only when it
is complete; on any error, including Ctrl-C, the temporary is deleted and the target is left untouched.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterator

from .errors import OutputError


def check_output_path(target: str | Path, *, overwrite: bool = False) -> Path:
    """Validate an output path before any work starts.

    Parameters
    ----------
    target : str or Path
        Where the output will go.
    overwrite : bool
        Whether an existing file may be replaced.

    Returns
    -------
    Path
        The target as a Path.

    Raises
    ------
    OutputError
        If the directory is missing or not writable, the target is a directory, or it exists and
        ``overwrite`` is false.
    """
    p = Path(target).expanduser()
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise OutputError(f"output {p} is a directory (give a file name such as {p / 'out.mp4'})")
    if not parent.is_dir():
        raise OutputError(f"output directory does not exist: {parent} (create it first)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to output directory {parent} (check its permissions)")
    if p.exists() and not overwrite:
        raise OutputError(f"output already exists: {p} (pass --overwrite to replace it)")
    return p


def temporary_sibling(target: Path) -> Path:
    """A unique temporary path beside ``target`` that keeps its suffix (so tools infer the format)."""
    return target.with_name(f".{target.stem}.tmp-{uuid.uuid4().hex[:8]}{target.suffix}")


@contextlib.contextmanager
def atomic_output(target: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``target`` on success, delete it on failure.

    Parameters
    ----------
    target : str or Path
        The final path.
    overwrite : bool
        Whether an existing target may be replaced.

    Examples
    --------
    >>> with atomic_output("curves.csv") as tmp:          # doctest: +SKIP
    ...     tmp.write_text("t,loudness\\n")
    """
    final = check_output_path(target, overwrite=overwrite)
    tmp = temporary_sibling(final)
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"nothing was written for {final}")
        os.replace(tmp, final)
    except BaseException:  # KeyboardInterrupt and SystemExit too: never leave a half-written file
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
