"""The iterators the training loop and evaluation read: this process's slice of each
training batch (made here, prefetched by a thread, or made ahead by worker
processes) and every evaluation example once, the last batch padded and masked.
What a batch holds is input_pipeline's (a pure function of (seed, step))."""

import os
import queue
import threading

import numpy as np

from alexnet_jax.data import input_pipeline, workers


def worker_process_count(config) -> int:
  """`data.worker_processes`: 0 makes batches in this process, -1 one process per core."""
  count = config.data.get('worker_processes', 0)  # absent from configs stored before it
  if count == -1:
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  return count


class TrainIterator:
  """Endless iterator of this process's slice of each global training batch.

  Its state is the next step (`get_state()` -> {'step': int}, JSON-serialisable);
  `set_state` jumps there. Batches are prefetched by a background thread, or made
  ahead by `data.worker_processes` worker processes (workers.py).
  """

  def __init__(self, config, *, process_index=0, process_count=1, start_step=0, batches=None):
    """`batches` (optional): a callable step -> local batch that replaces the configured
    dataset's (e.g. TrainBatches over arrays already in memory, as the GPU check uses), so a
    caller with its own source gets the same prefetching; it is always called in this
    process, never by worker processes."""
    input_pipeline.local_batch_size(config, process_count)
    self.config = config
    self._shard = {'process_index': process_index, 'process_count': process_count}
    self.prefetch = max(0, config.data.prefetch)
    self.workers = self._batches = None
    processes = worker_process_count(config) if batches is None else 0
    if processes:
      self.workers = workers.BatchWorkers(config, input_pipeline.dataset_statistics(config),
                                          processes, start_step=start_step, **self._shard)
      self.step = start_step
    else:
      self._batches = (batches if batches is not None
                       else input_pipeline.TrainBatches(config, **self._shard))
      self._start(start_step)

  def batch(self, step):
    """The local batch of step `step` (deterministic), made in this process."""
    if self._batches is None:
      self._batches = input_pipeline.TrainBatches(self.config, **self._shard)
    return self._batches(step)

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
    if self.workers is not None:
      item = next(self.workers)
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
    if self.workers is not None:
      self.workers.seek(int(state['step']))
      self.step = int(state['step'])
      return
    self.close()
    self._start(int(state['step']))

  def close(self):
    if self.workers is not None:
      self.workers.close()
    else:
      self._stop.set()


def create_train_iterator(config, *, process_index=0, process_count=1, start_step=0):
  return TrainIterator(config, process_index=process_index, process_count=process_count,
                       start_step=start_step)


def eval_examples(length: int, max_examples: int) -> np.ndarray:
  """The indices an evaluation of a split of `length` examples covers: all of them, or
  with `max_examples` (`config.eval.max_examples`) below that a sample drawn with a fixed
  seed, sorted, so that every run and every process evaluates the same examples."""
  if not 0 < max_examples < length:
    return np.arange(length)
  return np.sort(np.random.default_rng(0).choice(length, max_examples, replace=False))


def create_eval_iterator(config, *, process_index=0, process_count=1, split=None):
  """Every eval example (of `eval_examples`) exactly once: fixed-size batches, the last
  one padded, with 'mask' 1 for real examples and 0 for padding (cf. flax#263)."""
  split = split or config.data.eval_split
  source = input_pipeline.open_source(config, split)
  examples = eval_examples(source.length, (config.get('eval') or {}).get('max_examples', 0))
  preprocessor = input_pipeline.Preprocessor(config, input_pipeline.dataset_statistics(config))
  batch_size = config.eval_batch_size
  if batch_size % process_count:
    raise ValueError(f'config.eval_batch_size={batch_size} is not divisible by the '
                     f'{process_count} processes')
  local = batch_size // process_count
  for start in range(0, len(examples), batch_size):
    positions = np.arange(start, start + batch_size)[process_index * local:
                                                     (process_index + 1) * local]
    mask = positions < len(examples)
    indices = examples[np.where(mask, positions, 0)]
    images, labels = source.get(indices)
    yield {'image': preprocessor.eval(images), 'label': labels.astype(np.int32),
           'mask': mask.astype(np.float32)}
