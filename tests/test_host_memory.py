"""retain_freed_memory reaches glibc's mallopt on Linux and is a no-op elsewhere."""

import platform
import sys

import pytest

from alexnet_jax import host_memory


@pytest.mark.skipif(not sys.platform.startswith('linux') or platform.libc_ver()[0] != 'glibc',
                    reason='mallopt is glibc-only')
def test_takes_effect_on_glibc():
  assert host_memory.retain_freed_memory() is True


def test_does_nothing_off_linux(monkeypatch):
  monkeypatch.setattr(host_memory.sys, 'platform', 'darwin')
  assert host_memory.retain_freed_memory() is False
