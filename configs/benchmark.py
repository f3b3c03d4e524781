"""Speed benchmark of the paper's two-column network, float32, 227x227, batch 32.

    python -m alexnet_jax.main --config=configs/benchmark.py --workdir=/tmp/bench
    python -m alexnet_jax.main --config=configs/benchmark.py:accelerator --workdir=/tmp/bench

Writes DIR/benchmark.json. On the 2-core development CPU one training step of
the paper net at batch 32 takes about half a second; override
`--config.benchmark.batch_size=128` for the paper's batch.

Presets: none (CPU) runs the conv layers over slices of 16 images
(`model.conv_chunk`, cache blocking, the same function; the measurements are in
docs/performance_log.md); `accelerator` runs them over the whole batch, as a GPU wants.
"""

from alexnet_jax.config import default

_CONV_CHUNK = {None: 16, 'accelerator': 0}


def get_config(arg=None):
  if arg not in _CONV_CHUNK:
    raise ValueError(f"configs/benchmark.py presets: none or 'accelerator', got {arg!r}")
  config = default.get_config('paper')
  config.mode = 'benchmark'
  config.benchmark.batch_size = 32
  config.benchmark.warmup_steps = 5  # the host heap settles within a few steps (host_memory)
  config.benchmark.steps = 10
  config.model.conv_chunk = _CONV_CHUNK[arg]
  return config
