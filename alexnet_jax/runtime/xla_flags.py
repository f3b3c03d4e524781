"""The XLA:CPU settings alexnet_jax runs with.

1. YNNPACK for matrix products only (`--xla_cpu_experimental_ynn_fusion_type`).
   jaxlib 0.10's XLA:CPU sends both dots and convolutions to YNNPACK fusions by
   default. For the dots (the fully-connected layers) that is the fast path; for
   convolutions it is not: YNNPACK runs a convolution's input gradient at about
   half the speed of XLA's own (Eigen) convolution, and its weight gradient far
   below GEMM speed, which is what an earlier version of this project worked
   around with im2col matrix products. With YNNPACK kept to dots, XLA's own
   convolutions are faster than those workarounds, in the training step and the
   forward pass alike. `tests/test_xla_flags.py` checks that a convolution leaves
   YNNPACK under this setting (and goes to it without); `python -m
   experiments.ab_xla_options` times the settings side by side in one process.
2. Region analysis in copy insertion
   (`--xla_cpu_copy_insertion_use_region_analysis`, off by default on CPU). The
   training step updates parameters and momentum in place (their buffers are
   donated); without the finer analysis XLA copies every parameter before the
   update because the backward pass also reads it, although the update is
   ordered after those reads: two more passes over 244 MB of parameters per
   step. `tests/test_train.py` checks that the compiled step copies no
   parameter-sized buffer; `python -m experiments.ab_xla_options
   --settings=project,no_region_analysis` times the step with and without it.
GPU backends ignore both flags.

XLA reads XLA_FLAGS once, when it compiles for the first time, so `apply()` must
run before anything is compiled: `runtime.setup()` calls it, first thing in
`main`, the benchmark and the test suite's conftest.

Which jaxlib gets them is decided by what its XLA knows, not by a version list:
XLA aborts the process on a flag or enum value it does not know, so a setting is
applied only where its flag name and value are in the XLA library jaxlib ships
(`known_to_xla`). Whether each still helps on a given jaxlib is measured with
`python -m experiments.ab_xla_options`; the figures per version are in
docs/performance_log.md.
"""

import functools
import glob
import mmap
import os

import jaxlib

SETTINGS = {
    '--xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT',
    '--xla_cpu_copy_insertion_use_region_analysis': 'true',
}
_BOOLEANS = ('true', 'false')


def _xla_library():
  """The largest shared library in jaxlib's package: the one XLA is linked into
  (libjax_common.so in jaxlib 0.10-0.12, xla_extension.so before)."""
  libraries = glob.glob(os.path.join(os.path.dirname(jaxlib.__file__), '*.so'))
  return max(libraries, key=os.path.getsize) if libraries else None


@functools.lru_cache(maxsize=None)
def known_to_xla(flag: str, value: str) -> bool:
  """Whether jaxlib's XLA defines `flag` (and `value`, unless a boolean): both names
  appear in its library as NUL-terminated strings. False when the library cannot be
  read, which leaves the setting out rather than risk an abort."""
  path = _xla_library()
  if path is None:
    return False
  needles = [flag.lstrip('-').encode() + b'\0']
  if value not in _BOOLEANS:
    needles.append(value.encode())
  try:
    with open(path, 'rb') as library, \
        mmap.mmap(library.fileno(), 0, access=mmap.ACCESS_READ) as data:
      return all(data.find(needle) >= 0 for needle in needles)
  except (OSError, ValueError):
    return False


def all_known() -> bool:
  """Whether this jaxlib's XLA knows every flag and value of SETTINGS."""
  return all(known_to_xla(flag, value) for flag, value in SETTINGS.items())


def apply() -> bool:
  """Adds each flag of SETTINGS that this jaxlib's XLA knows to XLA_FLAGS, unless the
  user set that flag to a value of their own. Returns whether all of the project's
  settings are in effect."""
  flags = os.environ.get('XLA_FLAGS', '')
  in_effect = True
  for flag, value in SETTINGS.items():
    if flag in flags:
      in_effect = in_effect and f'{flag}={value}' in flags
    elif known_to_xla(flag, value):
      flags = f'{flags} {flag}={value}'.strip()
    else:
      in_effect = False
  os.environ['XLA_FLAGS'] = flags
  return in_effect
