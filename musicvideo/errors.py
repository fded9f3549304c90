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


class MusicVideoWarning(UserWarning):
    """A one-line notice about a run that works but may not be what the user wants (an output much larger than
    the generator's images). The command line prints it as ``musicvideo: note: ...``; Python code can filter it
    with :mod:`warnings`."""


def upscale_notice(generator_size: tuple[int, int], output_size: tuple[int, int]) -> str | None:
    """The one-line notice for an output more than twice the generator's resolution, or None.

    Parameters
    ----------
    generator_size, output_size : tuple of int
        ``(width, height)`` in pixels.
    """
    (gw, gh), (ow, oh) = generator_size, output_size
    factor = max(ow / gw, oh / gh)
    if factor <= 2:
        return None
    return (f"the generator makes {gw}x{gh} images; the {ow}x{oh} output scales them up {factor:.3g}x, so fine "
            f"detail will look soft (a higher-resolution network, or a size up to {2 * gw}x{2 * gh}, keeps it sharp)")
