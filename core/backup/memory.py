"""Process settings a backup makes: memory that goes back to the system, and less collecting.

Multi-MB buffers (``pin_mmap_threshold``): a backup allocates and frees buffers of a few MB hundreds of
times (Graph pages as bytes and text, packs being sealed). glibc serves the first ones with ``mmap`` but,
each time one is freed, raises its threshold to that size, so the later ones come from the heap: their
freed space is mostly never returned, and a 100,000-user backup ends ~15 MB larger for it. Pinning the
threshold keeps such buffers in ``mmap``, whose pages go back the moment they are freed. It stays pinned
for the life of the process (glibc has no way back to its sliding threshold), which suits a long-running
scheduler too. Elsewhere than glibc this does nothing.

The cyclic garbage collector (``fewer_collections``): a backup parses Graph pages of ~50,000 objects each
and works on each for about half a second. At the default threshold (a young collection every 700
allocations) every page survives a few young collections, is promoted to the old generation and so
triggers full collections over everything a large backup holds: ~4 s of CPU in a 100,000-user run, with
the event loop stopped each time. With a young collection every 20,000 allocations a page is gone before
its first one; reference cycles (asyncio leaves a few) just wait a little longer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 256 * 1024  # above any record or segment, below any page of a large Graph collection


def pin_mmap_threshold() -> bool:
    """Whether the C library took the setting (glibc on Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


YOUNG_THRESHOLD = 20_000
_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] = (700, 10, 10)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the young-generation threshold while any backup in the process runs; restore it after."""
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(max(_saved[0], YOUNG_THRESHOLD), _saved[1], _saved[2])
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                gc.set_threshold(*_saved)
