"""The process setup every entry point makes first: main, the benchmark, the test
suite and the experiments that time JAX.

Two settings must be in place before the work they affect begins, so they are one
call here instead of a sequence each caller must get right:

* host_memory.retain_freed_memory(): glibc keeps freed memory for reuse; must come
  before XLA's worker threads first allocate (see host_memory).
* xla_flags.apply(): the XLA:CPU settings; XLA reads XLA_FLAGS once, when it first
  compiles (see xla_flags).

Two experiments call only one of them, on purpose: ab_xla_options.py compares XLA
settings itself (the flags would bias its baseline), and benchmark_vs_torch.py's
PyTorch worker needs only the allocator setting.
"""

from alexnet_jax.runtime import host_memory, xla_flags


def setup() -> dict:
  """Applies both settings; returns which took effect (benchmarks record it)."""
  return {'host_memory_retained': host_memory.retain_freed_memory(),
          'xla_settings_in_effect': xla_flags.apply()}
