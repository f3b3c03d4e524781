"""Wall-clock timing of a blocking call, shared by `--mode=benchmark` and the PyTorch
comparison. Imports nothing heavy, so a PyTorch measurement process that uses it
carries no JAX in its memory figures."""

import statistics
import time


def time_calls(fn, *, warmup_steps: int, steps: int) -> dict:
  """Times `fn()` (which must block until its result is ready) `steps` times."""
  for _ in range(warmup_steps):
    fn()
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return {
      'mean_s': statistics.fmean(times),
      'std_s': statistics.stdev(times),
      'median_s': statistics.median(times),
      'min_s': min(times),
      'steps': steps,
  }
