"""The XLA:CPU setting alexnet_jax runs with: YNNPACK for matrix products only.

jaxlib 0.10's XLA:CPU sends both dots and convolutions to YNNPACK fusions by
default. For the dots (the fully-connected layers) that is the fast path; for
convolutions it is not: YNNPACK runs a convolution's input gradient at about half
the speed of XLA's own (Eigen) convolution, and its weight gradient far below GEMM
speed, which is what an earlier version of this project worked around with im2col
matrix products. With YNNPACK kept to dots, XLA's own convolutions are faster than
those workarounds. Measured on the 2-core development VM (jax 0.10.2, 2026-11-25,
batch 32, paper net, variants compiled in one process and timed alternately, 6
rounds): training step 696 -> 577 ms, forward 229 -> 195 ms; conv2 alone, one
column: input gradient 33.8 -> 17.1 ms. The small net (batch 128): step 132 ->
117 ms. GPU backends ignore the flag.

XLA reads XLA_FLAGS once, when it compiles for the first time, so `apply()` must
run before anything is compiled: `main`, the benchmark and the test suite's
conftest call it first thing.
"""

import os

import jaxlib

_FLAG = '--xla_cpu_experimental_ynn_fusion_type'
_VALUE = 'LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT'
# jaxlib versions whose XLA knows the flag (XLA aborts on an unknown one); the
# setting is left out elsewhere rather than risk that.
KNOWN_JAXLIB = ('0.10.',)


def apply() -> bool:
  """Adds the flag to XLA_FLAGS unless the user chose a value of their own.
  Returns whether the project's setting is in effect."""
  flags = os.environ.get('XLA_FLAGS', '')
  if _FLAG in flags:
    return f'{_FLAG}={_VALUE}' in flags
  if not jaxlib.__version__.startswith(KNOWN_JAXLIB):
    return False
  os.environ['XLA_FLAGS'] = f'{flags} {_FLAG}={_VALUE}'.strip()
  return True
