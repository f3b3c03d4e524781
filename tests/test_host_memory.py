"""retain_freed_memory reaches glibc's mallopt on Linux and is a no-op elsewhere, and
it keeps large XLA buffers from being faulted in anew on every execution."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from alexnet_jax.runtime import host_memory

_GLIBC = sys.platform.startswith('linux') and platform.libc_ver()[0] == 'glibc'
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs a jitted elementwise op with an 80 MiB output (above the 64 MiB heap limit of
# glibc's per-thread arenas) and prints the page faults of the quietest of 6 rounds
# of 5 later executions. With the setting, the heap still grows now and then while
# frees lag behind under load (measured beside another test run), so a round may
# fault; the quietest one shows the steady state.
_FAULTS = textwrap.dedent('''
    import resource, sys
    from alexnet_jax.runtime import host_memory
    if sys.argv[1] == 'retain':
        assert host_memory.retain_freed_memory()
    import jax, jax.numpy as jnp
    f = jax.jit(lambda w: w * 1.0001)
    w = jnp.ones((20 * 2 ** 20,), jnp.float32)
    for _ in range(15):  # the heap reaches its steady size within ~10 executions
        f(w).block_until_ready()
    rounds = []
    for _ in range(6):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            f(w).block_until_ready()
        rounds.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(min(rounds))
''')


def _faults(mode: str) -> int:
  result = subprocess.run([sys.executable, '-c', _FAULTS, mode], capture_output=True, text=True,
                          cwd=_REPO, timeout=300, check=True)
  return int(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _GLIBC, reason='mallopt is glibc-only')
def test_takes_effect_on_glibc():
  assert host_memory.retain_freed_memory() is True


@pytest.mark.skipif(not _GLIBC, reason='mallopt is glibc-only')
def test_large_outputs_reuse_memory_instead_of_faulting_it_in():
  pages_per_output = 80 * 2 ** 20 // os.sysconf('SC_PAGE_SIZE')
  # Without the setting, every execution faults its output in again (the check
  # that this test can fail); with it, five executions fault in less than one output.
  assert _faults('default') > 3 * pages_per_output
  assert _faults('retain') < pages_per_output


def test_does_nothing_off_linux(monkeypatch):
  monkeypatch.setattr(host_memory.sys, 'platform', 'darwin')
  assert host_memory.retain_freed_memory() is False
