"""The one exception type for problems the user can fix.

Every stage raises :class:`MusicVideoError` (or a subclass) for bad input: a missing file, a song that is not
audio, a checkpoint in an unknown format, an output that already exists. The message is one line that names the
problem and the fix. The CLI prints it without a traceback and exits non-zero; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

from pathlib import Path


class MusicVideoError(Exception):
    """A user error: bad input, a missing file, an impossible setting.

    The message is a single line that names the problem and, where there is one, the fix.
    """

    exit_code = 2


class AudioError(MusicVideoError):
    """A song that cannot be read or analysed."""


class CheckpointError(MusicVideoError):
    """A checkpoint that cannot be loaded (missing, corrupt, unknown or unsupported format)."""


class UnsafePickleError(CheckpointError):
    """A pickle that asked for a global outside the allow-list; nothing from it was executed."""


class OutputError(MusicVideoError):
    """An output path that cannot be written (missing directory, no permission, exists without --overwrite)."""


class ConfigError(MusicVideoError):
    """A config file or plan with unknown keys, wrong types or values out of range."""


def require_file(path: str | Path, what: str, error: type[MusicVideoError] = MusicVideoError) -> Path:
    """Return ``path`` as a Path if it is an existing, readable regular file, else raise ``error``.

    Parameters
    ----------
    path : str or Path
        The path the user gave.
    what : str
        What the file is meant to be ("song", "checkpoint"), used in the message.
    error : type
        The MusicVideoError subclass to raise.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise error(f"{what} not found: {p} (check the path)")
    if p.is_dir():
        raise error(f"{what} is a directory, not a file: {p} (give the path of a file inside it)")
    try:
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise error(f"cannot read {what} {p}: {exc.strerror} (check its permissions)") from None
    return p
