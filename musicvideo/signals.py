"""SIGTERM and SIGHUP end a run the way Ctrl-C does: every stage unwinds and removes what it started.

Ctrl-C raises ``KeyboardInterrupt`` in the main thread, and every stage already cleans up on it (the atomic outputs
delete their temporaries, the video writers kill ffmpeg, the batch stops its workers). A scheduler's timeout,
``timeout``, ``docker stop`` (SIGTERM) or a closed terminal (SIGHUP) would instead end the process at once, before
any of that ran. :func:`terminate_as_interrupt` installs handlers that raise :class:`Terminated`, a
``KeyboardInterrupt`` that carries the signal, so the same unwinding runs; the command line then exits with
``128 + signal``, as a shell reports a process ended by that signal.

Only the command line (and the batch's own worker processes) install these handlers: a Python program that imports
musicvideo keeps its own signal handling.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

#: Signals that end a run the way Ctrl-C does.
TERMINATING = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """A run ended by SIGTERM or SIGHUP; unwinds like Ctrl-C (it is a ``KeyboardInterrupt``).

    Attributes
    ----------
    signum : int
        The signal received.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        """``128 + signum``: what a shell reports for a process ended by the signal."""
        return 128 + self.signum


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """The exit status for an interrupt: ``128 + signal`` (130 for Ctrl-C's SIGINT)."""
    return interrupt.exit_code if isinstance(interrupt, Terminated) else 128 + signal.SIGINT


@contextlib.contextmanager
def terminate_as_interrupt(signals: tuple[int, ...] = TERMINATING) -> Iterator[None]:
    """Inside the block, the first of ``signals`` raises :class:`Terminated` in the main thread; later ones are
    ignored, so they cannot cut the cleanup short (SIGKILL still can). The previous handlers come back after.

    Outside the main thread (where Python cannot install handlers) it does nothing.

    Examples
    --------
    >>> with terminate_as_interrupt():          # doctest: +SKIP
    ...     render(...)                         # `kill PID` now unwinds like Ctrl-C
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if received:
            return  # already unwinding
        received.append(signum)
        raise Terminated(signum)

    previous = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, handler)
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


__all__ = ["TERMINATING", "Terminated", "exit_code", "terminate_as_interrupt"]
