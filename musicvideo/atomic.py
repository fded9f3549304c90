"""Outputs that appear complete or not at all.

Every file musicvideo writes goes to a temporary name beside its target, ``.NAME.tmp-XXXXXXXX.ext``, and is
renamed into place only when it is complete; on any error, including Ctrl-C, SIGTERM and SIGHUP (see
:mod:`musicvideo.signals`), the temporary is deleted and the target is left untouched.

A run that cannot clean up (``kill -9``, the OOM killer, power loss) leaves its temporary behind. Each temporary
is therefore locked (``flock``) by the process that writes it, for as long as it is in use; the next write of the
same target removes the temporaries of that target whose lock nobody holds (:func:`remove_stale_temporaries`).
Why a lock rather than a process id in the name: the kernel drops the lock the moment its owner dies, however it
dies, so the test cannot be fooled by a reused process id (a container's runs all start at the same few pids)
and a temporary that is being written is never taken for a stale one. ``flock`` also works across the hosts of a
shared NFS file system on Linux, where a process id would name a process on another machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterator

from .errors import OutputError

#: What every temporary's name has between the target's stem and its random part.
TEMP_MARK = ".tmp-"
#: The lock file inside a temporary directory (a directory itself cannot be flocked portably).
_DIR_LOCK = ".owner"
#: Suffix of a temporary while it is created and locked, where it cannot be created already locked (see
#: :class:`OutputTemporary`); one older than this many seconds and unlocked was left by a killed run.
_CREATING = "~"
_CREATING_STALE_S = 10.0


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


def temporary_pattern(target: Path, suffix: str | None = None) -> str:
    """The glob that matches every temporary of ``target`` (``.NAME.tmp-*.ext``), for its directory."""
    return f".{target.stem}{TEMP_MARK}*{target.suffix if suffix is None else suffix}"


def temporary_sibling(target: Path, suffix: str | None = None) -> Path:
    """A unique temporary path beside ``target`` that keeps its suffix (so tools infer the format).

    Only a name: nothing is created or locked (use :class:`OutputTemporary` for a file that is written).
    """
    ext = target.suffix if suffix is None else suffix
    return target.with_name(f".{target.stem}{TEMP_MARK}{uuid.uuid4().hex[:8]}{ext}")


def _try_lock(path: Path) -> int | None:
    """An fd holding ``path``'s exclusive lock, or None when another process holds it (or it is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def remove_stale_temporaries(target: str | Path, suffix: str | None = None) -> list[Path]:
    """Delete the temporaries of ``target`` left by runs that died without cleaning up.

    A temporary is stale when no process holds its lock (its writer is gone, however it ended); one that a live
    run is writing is locked and kept. Names from versions without the lock are never locked, so they go too.

    Parameters
    ----------
    target : str or Path
        The output whose temporaries to look for (``.NAME.tmp-*.ext`` beside it).
    suffix : str, optional
        The temporaries' suffix when it is not the target's (``.parts`` for a segmented render's folder).

    Returns
    -------
    list of Path
        What was removed.
    """
    target = Path(target).expanduser()
    removed = []
    pattern = temporary_pattern(target, suffix)
    try:
        candidates = list(target.parent.glob(pattern)) + list(target.parent.glob(pattern + _CREATING))
    except OSError:
        return removed
    now = time.time()
    for stale in candidates:
        try:
            if stale.name.endswith(_CREATING) and now - stale.lstat().st_mtime < _CREATING_STALE_S:
                continue  # may be one being created and locked this instant
        except OSError:
            continue
        lock_path = stale / _DIR_LOCK if stale.is_dir() else stale
        fd = _try_lock(lock_path)
        if fd is None and (not stale.is_dir() or lock_path.exists()):
            continue  # a live writer holds it (or it vanished meanwhile)
        try:
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            removed.append(stale)
        except OSError:
            pass
        finally:
            if fd is not None:
                os.close(fd)
    return removed


def _create_locked_file(path: Path) -> int | None:
    """Create ``path`` already locked, so no other run ever sees it unlocked: an anonymous file (``O_TMPFILE``),
    locked, then linked under its name. None where the system or file system cannot (then the caller creates it
    under a ``~`` name first)."""
    if not hasattr(os, "O_TMPFILE"):
        return None
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.link(f"/proc/self/fd/{fd}", path)  # linkat(AT_SYMLINK_FOLLOW): gives the open file its name
    except OSError:
        os.close(fd)
        return None
    return fd


class OutputTemporary:
    """A temporary file (or folder) beside a target, created and locked by this process while it is in use.

    Creating one first removes the stale temporaries of the same target (:func:`remove_stale_temporaries`). The
    file appears under its ``.NAME.tmp-XXXXXXXX.ext`` name already locked (Linux: an ``O_TMPFILE`` locked, then
    linked), so no other run can take it for a stale one; elsewhere, and for folders, it is created and locked
    under a ``~`` name and then renamed (a ``~`` leftover counts as stale only after some seconds). Writers must
    write into the existing file (open it for writing, as ffmpeg, numpy and matplotlib do) rather than delete and
    re-create it, which would lose the lock.

    Parameters
    ----------
    target : Path
        The final output.
    directory : bool
        Make a folder (with the lock in a ``.owner`` file inside it) instead of a file.
    suffix : str, optional
        The temporary's suffix (default: the target's).

    Attributes
    ----------
    path : Path
        The temporary to write.
    """

    def __init__(self, target: Path, *, directory: bool = False, suffix: str | None = None) -> None:
        remove_stale_temporaries(target, suffix)
        self.path = temporary_sibling(target, suffix)
        self.directory = directory
        self._fd = -1
        if not directory:
            fd = _create_locked_file(self.path)
            if fd is not None:
                self._fd = fd
                return
        hidden = self.path.with_name(self.path.name + _CREATING)  # not taken for stale while it is young
        try:
            if directory:
                hidden.mkdir()
                self._fd = os.open(hidden / _DIR_LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644)
            else:
                self._fd = os.open(hidden, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(hidden, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError, AttributeError):
                os.close(self._fd)
            shutil.rmtree(hidden, ignore_errors=True) if directory else hidden.unlink(missing_ok=True)
            raise OutputError(f"cannot create a temporary file beside {target}: {exc.strerror} "
                              "(check the folder's permissions and free space)") from None

    def release(self) -> None:
        """Drop the lock (after the temporary was renamed into place, or deleted). Safe to call twice."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def discard(self) -> None:
        """Delete the temporary, then drop the lock. Safe to call twice."""
        if self.directory:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
        self.release()

    def commit(self, final: Path) -> None:
        """Rename the temporary to ``final`` (atomically, replacing it) and drop the lock."""
        os.replace(self.path, final)
        self.release()


@contextlib.contextmanager
def atomic_output(target: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``target`` on success, delete it on failure.

    The temporary exists (empty, locked by this process) when it is handed out; write into it.

    Parameters
    ----------
    target : str or Path
        The final path.
    overwrite : bool
        Whether an existing target may be replaced.

    Raises
    ------
    OutputError
        The target cannot be written (see :func:`check_output_path`), or nothing was written to the temporary.

    Examples
    --------
    >>> with atomic_output("curves.csv") as tmp:          # doctest: +SKIP
    ...     tmp.write_text("t,loudness\\n")
    """
    final = check_output_path(target, overwrite=overwrite)
    temporary = OutputTemporary(final)
    tmp = temporary.path
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise OutputError(f"nothing was written for {final}")
        temporary.commit(final)
    except BaseException:  # KeyboardInterrupt, SIGTERM and SystemExit too: never leave a half-written file
        temporary.discard()
        raise
