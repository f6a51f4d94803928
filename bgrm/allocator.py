"""Keep freed frame buffers in the process instead of handing them back to the kernel.

Every batch allocates and frees tensors of hundreds of megabytes (a batch of 1080p frames in
float32 is 100 MB). glibc serves blocks that large with mmap and returns them with munmap, so
the next batch page-faults the same memory back in: on a 2-core CPU that was half the run time,
spent in the kernel. Raising glibc's mmap and trim thresholds keeps the memory in the heap for
reuse. Peak memory is unchanged (the blocks are reused, not added); only its return to the
kernel is deferred to the end of the process. Does nothing where glibc is not the allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_LARGEST = 2**31 - 1


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc malloc once per process; True when it took effect."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, _LARGEST) and mallopt(_M_TRIM_THRESHOLD, _LARGEST))
