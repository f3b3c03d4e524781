"""The iterators the training loop and evaluation read: this process's slice of each
training batch (made here, prefetched by a thread, or made ahead by Grain's worker
processes) and every evaluation example once, the last batch padded and masked.
What a batch holds is input_pipeline's (a pure function of (seed, step))."""

import os
import pickle
import queue
import signal
import threading
import traceback

import numpy as np
from absl import flags

from alexnet_jax.data import input_pipeline
from alexnet_jax.errors import UserError


def worker_process_count(config) -> int:
  """`data.worker_processes`: 0 makes batches in this process, -1 one process per core."""
  count = config.data.get('worker_processes', 0)  # absent from configs stored before it
  if count == -1:
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  return count


# The end of Grain's range of steps: never reached.
ENDLESS = 2**62


class StepBatches:
  """Grain's map, in each worker process: step -> the local batch of that step,
  made by the worker's own `input_pipeline.TrainBatches` (the project's decoding
  and augmentation, one thread; built on the first step, as Grain pickles the map
  into the workers), its images written straight into shared memory, which Grain
  hands to the main process without copying."""

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
  """An exception the main process can re-raise: UserErrors (one line for the user)
  as they are, anything else as a RuntimeError carrying the worker's traceback."""
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
  """Grain's iterator over the local batches of steps start_step, start_step + 1, ...:
  a `MapDataset` of steps mapped by `StepBatches`, which Grain's `mp_prefetch`
  spreads over `processes` spawned processes (step s to process (s - start_step) % N;
  Grain's buffers hold a few steps of each) and serves in order. Processes are
  spawned, as forking a process that runs JAX's and TensorFlow's threads can
  deadlock, and each makes one step at a time on one thread."""
  import grain  # deferred: Grain imports JAX (seconds)
  if not flags.FLAGS.is_parsed():  # Grain reads its absl flags when it starts processes
    flags.FLAGS.mark_as_parsed()  # a test or a notebook: their defaults
  shard = {'process_index': process_index, 'process_count': process_count}
  steps = grain.MapDataset.range(start_step, ENDLESS).map(StepBatches(config, stats, shard))
  steps = steps.to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
  return iter(steps.mp_prefetch(grain.MultiprocessingOptions(num_workers=processes),
                                worker_init_fn=_ignore_interrupts))


class TrainIterator:
  """Endless iterator of this process's slice of each global training batch.

  Its state is the next step (`get_state()` -> {'step': int}, JSON-serialisable);
  `set_state` jumps there. Batches are prefetched by a background thread, or made
  ahead by `data.worker_processes` of Grain's worker processes (`grain_batches`):
  the same batches, as a batch is a pure function of (seed, step) wherever it is
  made (tests/test_input_pipeline.py checks equality, across a resume).
  """

  def __init__(self, config, *, process_index=0, process_count=1, start_step=0):
    input_pipeline.local_batch_size(config, process_count)
    self.config = config
    self._shard = {'process_index': process_index, 'process_count': process_count}
    self.prefetch = max(0, config.data.prefetch)
    self.processes = worker_process_count(config)
    self.workers = self._batches = self._stats = self._stop = None
    if self.processes:
      self._stats = input_pipeline.dataset_statistics(config)
      self._start_workers(start_step)
    else:
      self._batches = input_pipeline.TrainBatches(config, **self._shard)
      self._start(start_step)

  def batch(self, step):
    """The local batch of step `step` (deterministic), made in this process."""
    if self._batches is None:
      self._batches = input_pipeline.TrainBatches(self.config, **self._shard)
    return self._batches(step)

  def _start_workers(self, step):
    self.step = step
    self.workers = grain_batches(self.config, self._stats, self.processes, start_step=step,
                                 **self._shard)

  def _start(self, step):
    self.step = step
    self._queue = queue.Queue(maxsize=max(1, self.prefetch))
    self._stop = threading.Event()
    if self.prefetch:
      self._thread = threading.Thread(target=self._fill, args=(step, self._stop, self._queue),
                                      daemon=True)
      self._thread.start()

  def _fill(self, step, stop, out):
    while not stop.is_set():
      try:
        item = self.batch(step)
      except Exception as error:  # surfaced in __next__
        item = error
      while not stop.is_set():
        try:
          out.put(item, timeout=0.1)
          break
        except queue.Full:
          continue
      step += 1

  def __iter__(self):
    return self

  def __next__(self):
    if self.processes:
      # Plain arrays: each views its shared memory, freed with the last reference.
      item = {key: np.asarray(value) for key, value in next(self.workers).items()}
    elif self.prefetch:
      item = self._queue.get()
      if isinstance(item, Exception):
        raise item
    else:
      item = self.batch(self.step)
    self.step += 1
    return item

  def get_state(self):
    return {'step': int(self.step)}

  def set_state(self, state):
    """Continues with the batch of `state['step']`; worker processes start again there."""
    self.close()
    if self.processes:
      self._start_workers(int(state['step']))
    else:
      self._start(int(state['step']))

  def close(self):
    if self.workers is not None:
      self.workers.close()
      self.workers = None
    if self._stop is not None:
      self._stop.set()


def create_train_iterator(config, *, process_index=0, process_count=1, start_step=0):
  return TrainIterator(config, process_index=process_index, process_count=process_count,
                       start_step=start_step)


def create_eval_iterator(config, *, process_index=0, process_count=1, split=None):
  """Every eval example exactly once: fixed-size batches, the last one padded,
  with 'mask' 1 for real examples and 0 for padding (cf. flax#263)."""
  split = split or config.data.eval_split
  source = input_pipeline.ImageSource(config, split)
  preprocessor = input_pipeline.Preprocessor(config, input_pipeline.dataset_statistics(config))
  batch_size = config.eval_batch_size
  if batch_size % process_count:
    raise ValueError(f'config.eval_batch_size={batch_size} is not divisible by the '
                     f'{process_count} processes')
  local = batch_size // process_count
  for start in range(0, source.length, batch_size):
    positions = np.arange(start, start + batch_size)[process_index * local:
                                                     (process_index + 1) * local]
    mask = positions < source.length
    indices = np.where(mask, positions, 0)
    images, labels = source.get(indices)
    yield {'image': preprocessor.eval(images), 'label': labels.astype(np.int32),
           'mask': mask.astype(np.float32)}
