"""Training batches made by Grain's worker processes: the candidate that was measured
against `alexnet_jax/data/workers.py` (issue 34) and not adopted; kept so that
`python -m experiments.pipeline_throughput --grain` can measure both side by side.

A `grain.MapDataset` of steps, mapped by the project's own `TrainBatches` (its
per-example decoding and augmentation, one thread per process), spread over N
spawned processes by `mp_prefetch` (step s to process (s - start_step) % N) and
served in order: the batches are the in-process ones for the same (seed, step)
(tests/test_input_pipeline.py), and a worker's ConfigError reaches the caller as
itself. Each batch's images are written straight into a Grain SharedMemoryArray,
so nothing is copied; but Grain hands every element over in a new shared-memory
segment, which the main process unlinks when it is done with it, so every batch
zero-fills and faults in fresh pages, where workers.py reuses its slots: the
cost is in docs/performance_log.md (2026-12-05).
Needs `pip install grain` (tested with 0.2.18); not a dependency of the library.
"""

import pickle
import signal
import traceback

import numpy as np
from absl import flags

from alexnet_jax.data import input_pipeline
from alexnet_jax.errors import UserError

# The end of Grain's range of steps: never reached.
ENDLESS = 2**62


class StepBatches:
  """Grain's map, in each worker process: step -> the local batch of that step,
  made by the worker's own `TrainBatches` (built on the first step, as Grain
  pickles the map into the workers), its images written into shared memory."""

  def __init__(self, config, stats, shard):
    self.config, self.stats, self.shard = config, stats, shard
    self._batches = None

  def __getstate__(self):
    return {**self.__dict__, '_batches': None}

  def __call__(self, step):
    import grain.multiprocessing  # deferred: Grain imports JAX (seconds)
    try:
      if self._batches is None:
        self._batches = input_pipeline.TrainBatches(self.config, stats=self.stats, threads=1,
                                                    **self.shard)
      shapes = input_pipeline.train_batch_shapes(self.config, self.shard['process_count'])
      (image_shape, image_dtype), (label_shape, _), (id_shape, _) = (
          shapes[key] for key in ('image', 'label', 'example_id'))
      return self._batches(int(step), out={
          'image': grain.multiprocessing.SharedMemoryArray(image_shape, image_dtype),
          'label': np.empty(label_shape, np.int32), 'example_id': np.empty(id_shape, np.int64)})
    except Exception as error:
      raise _portable(error) from None


def _portable(error):
  """An exception the main process can re-raise (an unpicklable one would be lost
  in Grain's queue): UserErrors as they are, anything else as a RuntimeError
  carrying the worker's traceback."""
  if isinstance(error, UserError):
    try:
      pickle.loads(pickle.dumps(error))
      return error
    except Exception:
      pass
  return RuntimeError('in a worker process:\n' + traceback.format_exc())


def _ignore_interrupts(worker_index, worker_count):
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle


def grain_batches(config, stats, processes, *, start_step=0, process_index=0, process_count=1):
  """Grain's iterator over the local batches of steps start_step, start_step + 1, ...
  made by `processes` worker processes; `close()` stops them."""
  import grain  # deferred: Grain imports JAX (seconds)
  if not flags.FLAGS.is_parsed():  # Grain reads its absl flags when it starts processes
    flags.FLAGS.mark_as_parsed()  # a test or a script with argparse: their defaults
  shard = {'process_index': process_index, 'process_count': process_count}
  steps = grain.MapDataset.range(start_step, ENDLESS).map(StepBatches(config, stats, shard))
  steps = steps.to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
  return iter(steps.mp_prefetch(grain.MultiprocessingOptions(num_workers=processes),
                                worker_init_fn=_ignore_interrupts))
