"""Speed benchmark of the paper's two-column network, float32, 227x227, batch 32.

    python -m alexnet_jax.main --config=configs/benchmark.py --workdir=/tmp/bench

Writes DIR/benchmark.json. On the 2-core development CPU one training step of
the paper net at batch 32 takes on the order of a second or more; override
`--config.benchmark.batch_size=128` for the paper's batch.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config('paper')
  config.mode = 'benchmark'
  config.benchmark.batch_size = 32
  config.benchmark.warmup_steps = 5  # the host heap settles within a few steps (host_memory)
  config.benchmark.steps = 10
  # CPU cache blocking: conv layers over slices of 16 images (models.AlexNet);
  # the same function. 0 for accelerators, where it would only shrink the work
  # per kernel launch.
  config.model.conv_chunk = 16
  if arg is not None:
    raise ValueError(f"configs/benchmark.py takes no preset, got {arg!r}")
  return config
