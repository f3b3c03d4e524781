"""Where a run's metric records go: metrics.jsonl and TensorBoard event files,
behind one interface (`write(record)`, `close()`), as in CommonLoopUtils.

A record is a dict with 'step' and 'split' ('train', 'train_epoch', 'eval');
its other numbers are the values. On resume, each writer first drops what a
killed run wrote after the checkpoint it resumes from, so that every step is
held once.
"""

import json
import os

from alexnet_jax.runtime import optional, results_io
from alexnet_jax.training import event_files, run_files


class _FlushedFile:
  """A writer's open file (`self.file` at `self.path`): each write is flushed at once,
  so a killed run leaves what it logged, and a failed write or close raises OSError
  naming the file, which the training loop reports in one line."""

  def _write(self, data):
    try:
      self.file.write(data)
      self.file.flush()
    except OSError as error:
      raise OSError(error.errno, error.strerror, self.path) from None

  def close(self):
    try:
      self.file.close()
    except OSError as error:
      raise OSError(error.errno, error.strerror, self.path) from None


class JsonlWriter(_FlushedFile):
  """metrics.jsonl: one JSON object per line (the report reads it)."""

  def __init__(self, workdir, resume_step):
    self.path = os.path.join(workdir, run_files.METRICS)
    if os.path.exists(self.path):
      kept = [line for line in open(self.path).read().splitlines()
              if _line_step(line) is not None and _line_step(line) <= resume_step]
      results_io.write_text_atomic(self.path, ''.join(line + '\n' for line in kept))
    self.file = open(self.path, 'a')

  def write(self, record):
    self._write(json.dumps(record) + '\n')


class TensorBoardWriter(_FlushedFile):
  """TensorBoard scalars under `<split>/<key>`, one event per record, written through
  `event_files` (no TensorFlow) to a new event file per process."""

  def __init__(self, workdir, resume_step):
    directory = os.path.join(workdir, run_files.TENSORBOARD)
    purge_events(directory, resume_step)
    os.makedirs(directory, exist_ok=True)
    self.path = event_files.new_file_name(directory)
    self.file = open(self.path, 'wb')
    self._append(event_files.version_event())

  def write(self, record):
    scalars = {f"{record['split']}/{key}": value for key, value in record.items()
               if key not in ('step', 'split') and isinstance(value, (int, float))}
    if scalars:
      self._append(event_files.scalars_event(record['step'], scalars))

  def _append(self, event):
    self._write(event_files.encode_record(event.SerializeToString()))


class MultiWriter:
  """Writes each record to every writer; closes them all, raising the first error."""

  def __init__(self, writers):
    self.writers = list(writers)

  def write(self, record):
    for writer in self.writers:
      writer.write(record)

  def close(self):
    error = None
    for writer in self.writers:
      try:
        writer.close()
      except Exception as e:  # close the others, then report the first failure
        error = error or e
    if error is not None:
      raise error


class NullWriter:
  """What processes other than the first write: nothing."""

  def write(self, record):
    pass

  def close(self):
    pass


def create(workdir, resume_step, primary=True):
  """The writers of a run: JSONL and TensorBoard on the primary process, else none.
  Where the tensorboard package is not installed (a GPU machine with JAX alone),
  metrics.jsonl is written without the TensorBoard events, and a line says so."""
  if not primary:
    return NullWriter()
  writers = [JsonlWriter(workdir, resume_step)]
  if tensorboard_available():
    writers.append(TensorBoardWriter(workdir, resume_step))
  else:
    print('tensorboard is not installed: no TensorBoard events (metrics.jsonl has every '
          'record)', flush=True)
  return MultiWriter(writers)


def tensorboard_available() -> bool:
  return optional.installed('tensorboard')


def process_spans(workdir) -> list:
  """(first, last) event wall time of each TensorBoard event file in `workdir`, in the
  order the files were begun: one file per training process (a resumed run has one
  per process). [] where there are no events (or no tensorboard package to read them)."""
  if not tensorboard_available():
    return []
  spans = []
  for path in event_files.paths_in(os.path.join(workdir, run_files.TENSORBOARD)):
    times = [event_files.parse_event(data).wall_time
             for data, _ in event_files.read_records(path)[0]]
    if times:
      spans.append((min(times), max(times)))
  return sorted(spans)


def earlier_processes_s(workdir, started_at) -> float:
  """The time that earlier processes spent training this run (a run stopped and resumed
  from its checkpoint), from its TensorBoard events: for each event file begun before
  `started_at`, its last event's wall time minus its first's. It leaves out each
  process's start-up and what it did after its last event; 0 where there are no events
  (or no tensorboard package to read them)."""
  return sum(last - first for first, last in process_spans(workdir) if first < started_at)


def purge_events(tensorboard_dir, resume_step):
  """Drops the TensorBoard events of steps after `resume_step` (a killed run logged
  them; the resumed run logs them again), so that each step is held once, as in
  metrics.jsonl, and a record a killed run left half-written. Each event file is
  rewritten whole (atomically), or left as it is."""
  for path in event_files.paths_in(tensorboard_dir):
    records, truncated = event_files.read_records(path)
    kept = [framed for data, framed in records
            if event_files.parse_event(data).step <= resume_step]
    if len(kept) < len(records) or truncated:
      results_io.write_bytes_atomic(path, b''.join(kept))


def _line_step(line):
  try:
    return int(json.loads(line)['step'])
  except (ValueError, KeyError, TypeError):
    return None
