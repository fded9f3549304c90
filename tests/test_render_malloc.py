"""musicvideo.malloc: freed large blocks are reused without page faults inside ``keep_freed_memory``, and the
defaults come back (memory returned) after it. Each case runs in a fresh interpreter: malloc settings are
process-wide."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from musicvideo import malloc

# allocate, touch and free a 48 MB block (above glibc's largest mmap threshold) a few times; count page faults
CHILD = r"""
import ctypes, json, resource, sys, threading
from musicvideo.malloc import keep_freed_memory

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
SIZE = 48 << 20

def cycles(n):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        p = libc.malloc(SIZE)
        ctypes.memset(p, 1, SIZE)
        libc.free(p)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

def threaded(n, blocks=5, size=17 << 20):
    # a worker thread whose working set (85 MB) needs more than one 64 MB thread heap, as a generator batch does
    out = []
    def work():
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        for i in range(n):
            if i == 1:
                before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt  # after the first round
            ps = [libc.malloc(size) for _ in range(blocks)]
            for p in ps:
                ctypes.memset(p, 1, size)
            for p in ps:
                libc.free(p)
        out.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
    t = threading.Thread(target=work)
    t.start()
    t.join()
    return out[0]

result = {"plain": cycles(4), "thread_plain": threaded(5)}
with keep_freed_memory() as active:
    cycles(1)  # the first block maps the pages once
    result["kept"] = cycles(4)
    result["thread_kept"] = threaded(5)
    with keep_freed_memory():  # nested: still in effect
        result["nested"] = cycles(4)
    result["after_nested"] = cycles(4)
result["active"] = active
result["restored"] = cycles(4)
with keep_freed_memory(enabled=False) as active:
    result["disabled_active"] = active
    result["disabled"] = cycles(4)
print(json.dumps(result))
"""


@pytest.mark.skipif(not malloc.supported(), reason="malloc tuning needs Linux with glibc")
def test_freed_blocks_are_reused_inside_and_returned_after() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    pages = 4 * (48 << 20) // 4096
    if r["plain"] < pages // 4:
        pytest.skip(f"this kernel maps large blocks with huge pages ({r['plain']} faults): nothing to measure")
    assert r["active"] is True and r["disabled_active"] is False
    # inside: the pages stay mapped, so touching them again costs (almost) no faults
    assert r["kept"] < r["plain"] // 20, r
    assert r["nested"] < r["plain"] // 20, r
    # also in a thread whose blocks span several of glibc's 64 MB thread heaps (none is unmapped when freed)
    assert r["thread_plain"] > r["plain"] // 2, r
    assert r["thread_kept"] < r["thread_plain"] // 20, r
    assert r["after_nested"] < r["plain"] // 20, r  # the inner exit did not restore the defaults
    # after: blocks are mmapped and unmapped again, i.e. memory goes back to the system on free
    assert r["restored"] > r["plain"] // 2, r
    assert r["disabled"] > r["plain"] // 2, r


def test_no_effect_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(malloc, "_glibc", lambda: None)
    with malloc.keep_freed_memory() as active:
        assert active is False


@pytest.mark.parametrize("name, value", [("LD_PRELOAD", "/usr/lib/libjemalloc.so.2"),
                                         ("GLIBC_TUNABLES", "glibc.malloc.mmap_max=0"),
                                         ("MALLOC_ARENA_MAX_", "2")])
def test_left_alone_when_the_user_configured_malloc(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    malloc._glibc.cache_clear()
    try:
        assert not malloc.supported()
        with malloc.keep_freed_memory() as active:
            assert active is False
    finally:
        monkeypatch.delenv(name)
        malloc._glibc.cache_clear()
