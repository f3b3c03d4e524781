"""Keeps freed host memory in the process for reuse instead of returning it to the OS.

XLA:CPU allocates an executable's temporaries (a training step's activations and
gradients) anew on every execution. glibc serves large blocks with `mmap` and
unmaps them on `free`, so each step page-faults all of it in again as fresh zeroed
pages: memory traffic and kernel time that do no work. With mmap disabled and
trimming raised, the freed blocks stay in the heap and the next step reuses them.
The cost is that the process keeps its peak footprint until it exits, as a long
training run does anyway.

Trimming is switched off, not just raised: the largest threshold `mallopt` takes is
2 GiB, and the paper net at batch 128 frees more than that at the end of a step, so
glibc gave it back and the next step faulted all of it in again.

It also keeps every thread on the main heap (one arena). XLA runs operations on
worker threads, and glibc gives such threads their own arenas, whose heaps cannot
grow past 64 MiB: a larger block (the paper net's fc6 kernel and its gradient are
72 MiB per column) is then mmap'd and unmapped on every allocation whatever the
settings above say, and every step faults it in again. It must be set before the
worker threads first allocate, so `runtime.setup()` calls this first.

`tests/test_host_memory.py` checks, in fresh processes, that a large output is
reused instead of faulted in on every execution (and that without the setting it
is not). `--mode=benchmark` shows the effect on the step; the measurements are in
docs/performance_log.md.
"""

import ctypes
import ctypes.util
import sys

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_TRIM_THRESHOLD_BYTES = -1  # mallopt(3): -1 disables trimming completely


def retain_freed_memory() -> bool:
  """Tells glibc's malloc to keep freed memory (see module docstring). Returns
  whether it took effect: False off Linux/glibc (macOS, musl), where it does nothing."""
  if not sys.platform.startswith('linux'):
    return False
  try:
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return False
  mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
  mallopt.restype = ctypes.c_int
  return (bool(mallopt(_M_ARENA_MAX, 1)) and bool(mallopt(_M_MMAP_MAX, 0))
          and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)))
