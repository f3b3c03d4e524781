"""Training batches made by worker processes, so that decoding and augmentation
scale with the host's cores (`config.data.worker_processes`).

Each of N spawned processes holds its own `input_pipeline.TrainBatches` (its own
reader of the array_record files) and makes whole steps: step s goes to worker
s % N, which writes the batch into a slot of shared memory (a file in /dev/shm),
and the main process hands the slot out as NumPy arrays without copying it. So

* the batches are exactly the in-process ones: the batch of step s is the same
  pure function of (seed, s), computed elsewhere (tests/test_input_pipeline.py
  checks equality, across a resume);
* resuming or seeking to step s only changes where dispatching starts;
* with several hosts, each host's workers make only that host's slice.

A slot goes back to the pool when the last array viewing it is garbage
collected, so a batch stays valid however long the caller (or JAX, which may
alias host memory on CPU) keeps it; the pool grows if the caller keeps many.
Workers are started with 'spawn', as forking a process that runs JAX's and
TensorFlow's threads can deadlock, and each decodes with one thread.

Why not Grain's multiprocessing (`mp_prefetch`, measured against this pool with
the same batches: experiments/grain_loader.py): Grain hands each batch over in a
new shared-memory segment, so every batch zero-fills and faults in fresh pages,
where the slots here are reused; that cost a fifth of the 256x256 store's rate
per core (docs/performance_log.md, 2026-12-05). Throughput, both:
`python -m experiments.pipeline_throughput --grain`.
"""

import collections
import ctypes
import mmap
import multiprocessing
import os
import pickle
import queue
import shutil
import signal
import tempfile
import traceback
import weakref

import numpy as np

from alexnet_jax.data import input_pipeline
from alexnet_jax.errors import UserError

ALIGN = 64  # bytes; each array of a slot starts on a cache line


def slot_layout(shapes: dict):
  """[(key, shape, dtype, byte offset)] and the byte size of one slot."""
  layout, offset = [], 0
  for key, (shape, dtype) in shapes.items():
    layout.append((key, shape, np.dtype(dtype), offset))
    offset += -(-int(np.prod(shape)) * np.dtype(dtype).itemsize // ALIGN) * ALIGN
  return layout, offset


class Slot:
  """One batch's worth of shared memory: a file in `directory`, mapped here."""

  def __init__(self, directory, index, layout, size):
    self.path = os.path.join(directory, f'slot{index}')
    self.layout, self.size = layout, size
    with open(self.path, 'wb') as f:
      f.truncate(size)
    with open(self.path, 'r+b') as f:
      self.memory = mmap.mmap(f.fileno(), size)

  def arrays(self, on_release):
    """Fresh arrays over the slot; `on_release(self)` runs once none is referenced."""
    holder = (ctypes.c_char * self.size).from_buffer(self.memory)
    weakref.finalize(holder, on_release, self)
    return _views(holder, self.layout)


def _views(buffer, layout):
  return {key: np.frombuffer(buffer, dtype, int(np.prod(shape)), offset).reshape(shape)
          for key, shape, dtype, offset in layout}


def _portable(error):
  """An exception the main process can re-raise: UserErrors (one line for the user)
  as they are, anything else as a RuntimeError carrying the worker's traceback."""
  if isinstance(error, UserError):
    try:
      pickle.dumps(error)
      return error
    except Exception:
      pass
  return RuntimeError('in a worker process:\n' + traceback.format_exc())


def _work(config, stats, shard, layout, size, tasks, results):
  """A worker process: makes the batch of each (step, slot path) task in `tasks`."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
  try:
    batches, failure = input_pipeline.TrainBatches(config, stats=stats, threads=1, **shard), None
  except Exception as error:  # reported with the first task
    batches, failure = None, _portable(error)
  mapped = {}
  while True:
    task = tasks.get()
    if task is None:
      return
    step, path = task
    if failure is not None:
      results.put((step, failure))
      continue
    try:
      if path not in mapped:
        with open(path, 'r+b') as f:
          mapped[path] = _views(mmap.mmap(f.fileno(), size), layout)
      batches(step, out=mapped[path])
      results.put((step, None))
    except Exception as error:
      results.put((step, _portable(error)))


class BatchWorkers:
  """Iterator over the local batches of steps start_step, start_step + 1, ...,
  made by `processes` worker processes, up to `processes * max(2, data.prefetch)`
  steps ahead."""

  def __init__(self, config, stats, processes, *, process_index=0, process_count=1,
               start_step=0):
    shapes = input_pipeline.train_batch_shapes(config, process_count)
    self.layout, self.size = slot_layout(shapes)
    self.depth = processes * max(2, config.data.prefetch)
    shm = '/dev/shm' if os.path.isdir('/dev/shm') else None
    self.directory = tempfile.mkdtemp(prefix='alexnet_jax_batches_', dir=shm)
    context = multiprocessing.get_context('spawn')
    self.tasks = [context.Queue() for _ in range(processes)]
    self.results = [context.Queue() for _ in range(processes)]
    shard = {'process_index': process_index, 'process_count': process_count}
    self.processes = [
        context.Process(target=_work, daemon=True, name=f'alexnet_jax batch worker {i}',
                        args=(config, stats, shard, self.layout, self.size, self.tasks[i],
                              self.results[i]))
        for i in range(processes)]
    self._finalizer = weakref.finalize(self, _shut_down, self.processes, self.tasks,
                                       self.directory)
    for process in self.processes:
      process.start()
    self.slots = 0
    self.free = collections.deque()  # appended to by finalizers, from any thread
    self.in_flight = {}  # step -> Slot
    self.step = self.next_dispatch = start_step
    self._dispatch()

  def _slot(self):
    try:
      return self.free.popleft()
    except IndexError:
      self.slots += 1
      return Slot(self.directory, self.slots, self.layout, self.size)

  def _dispatch(self):
    while self.next_dispatch < self.step + self.depth:
      step, slot = self.next_dispatch, self._slot()
      self.tasks[step % len(self.processes)].put((step, slot.path))
      self.in_flight[step] = slot
      self.next_dispatch += 1

  def _result(self, step):
    """Waits for `step`'s batch: each worker answers its tasks in order."""
    worker = step % len(self.processes)
    while True:
      try:
        done, error = self.results[worker].get(timeout=1.0)
        break
      except queue.Empty:
        process = self.processes[worker]
        if not process.is_alive():
          raise RuntimeError(f'{process.name} (pid {process.pid}) exited with code '
                             f'{process.exitcode} while making step {step}') from None
    assert done == step, (done, step)
    return self.in_flight.pop(step), error

  def __iter__(self):
    return self

  def __next__(self):
    slot, error = self._result(self.step)
    if error is not None:
      self.free.append(slot)
      raise error
    batch = slot.arrays(self.free.append)
    self.step += 1
    self._dispatch()
    return batch

  def seek(self, step):
    """Continue with the batch of `step` (what a resume does)."""
    for pending in sorted(self.in_flight):
      slot, _ = self._result(pending)
      self.free.append(slot)
    self.step = self.next_dispatch = step
    self._dispatch()

  def close(self):
    self._finalizer()


def _shut_down(processes, tasks, directory):
  for process, task_queue in zip(processes, tasks):
    if process.is_alive():
      task_queue.put(None)
  for process in processes:
    process.join(timeout=5)
    if process.is_alive():
      process.terminate()
      process.join()
  shutil.rmtree(directory, ignore_errors=True)  # live batches keep their mapped memory
