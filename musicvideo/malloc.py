"""Keep freed memory in the process while the generator runs on the CPU (Linux, glibc).

A CPU generator batch allocates and frees the same large activation tensors over and over (tens of MB each at
256 px). glibc's malloc serves every block above its mmap threshold (at most 32 MB) with a fresh ``mmap`` and
gives it back with ``munmap`` on free, so each batch pays a page fault and a page zeroing per 4 kB it touches:
with the default network about 2,800 faults and 4.8 ms of kernel time per 256 px frame
(``benchmarks/cpu_malloc.py``).

:func:`keep_freed_memory` tells malloc to serve large blocks from its heaps and keep what is freed there, so the
next batch reuses the same, already mapped pages; peak memory stays that of one batch's working set. On leaving,
large blocks are mapped and unmapped again, at the thresholds glibc's own adaptive rule settles at once large
blocks have been freed (32 MB, trimming above 64 MB), and the freed memory goes back to the system
(``malloc_trim``). This is what jemalloc or tcmalloc would give through ``LD_PRELOAD``, without a system package.

It does nothing elsewhere (macOS, Windows, musl), nor when the user chose the allocator's behaviour: an
``LD_PRELOAD``, ``GLIBC_TUNABLES`` with ``glibc.malloc`` settings, or a ``MALLOC_*_`` environment variable.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import threading
from typing import Iterator

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
# inside: never map a block of its own, never trim on free (mallopt takes an int), and a top pad of a whole
# thread heap (64 MB), which is what stops glibc (2.36) from unmapping a thread's extra heap once it is all free
KEEP = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1), (M_TOP_PAD, 64 << 20))
# after: glibc's default mmap count, and the thresholds its adaptive rule reaches once blocks of 32 MB have been
# freed (any mallopt call turns that rule off for good, so its end state is set explicitly)
AFTER = ((M_MMAP_MAX, 65536), (M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 64 << 20), (M_TOP_PAD, 128 << 10))

_lock = threading.Lock()
_depth = 0


@functools.lru_cache(maxsize=None)
def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc with ``mallopt`` and ``malloc_trim``, else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or _user_configured():
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def _user_configured() -> bool:
    """Whether the environment already says how memory is allocated (another allocator or glibc settings)."""
    if os.environ.get("LD_PRELOAD", "").strip() or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return True
    return any(name.startswith("MALLOC_") and name.endswith("_") for name in os.environ)


def supported() -> bool:
    """Whether :func:`keep_freed_memory` has an effect here (Linux with glibc, allocator not set by the user)."""
    return _glibc() is not None


@contextlib.contextmanager
def keep_freed_memory(enabled: bool = True) -> Iterator[bool]:
    """Within the block, malloc keeps freed large blocks for reuse instead of unmapping them.

    Process-wide while it lasts (malloc has one set of parameters); nested and concurrent uses are counted, and
    the last one out sets the thresholds described in the module docstring and trims the heaps.

    Parameters
    ----------
    enabled : bool
        False makes this a no-op (for callers that decide at run time, e.g. only for CPU renders).

    Yields
    ------
    bool
        Whether the tuning is in effect.
    """
    global _depth
    libc = _glibc() if enabled else None
    if libc is None:
        yield False
        return
    with _lock:
        if _depth == 0:
            for param, value in KEEP:
                libc.mallopt(param, value)
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for param, value in AFTER:
                    libc.mallopt(param, value)
                libc.malloc_trim(0)
