"""Whether an optional package can be imported, without importing it.

A JAX-only host (the lent GPU machine: JAX, Flax, Optax and Orbax, no TensorFlow) may
lack a package that a full install brings. What needs such a package and is not the
point of the command (TensorBoard events beside metrics.jsonl, the ablation report's
plots, the figures beside a JSON record) is skipped there with one line, and the rest is
written, rather than a finished sweep ending in a traceback.
"""

import importlib.util


def installed(module: str) -> bool:
  try:
    return importlib.util.find_spec(module) is not None
  except ValueError:  # sys.modules[module] is None: made unimportable
    return False
