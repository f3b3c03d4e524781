"""What a training workdir may hold and who may write it: one run per directory.

* `lock(DIR)`: one training process per workdir. An `fcntl.flock` on `DIR/.lock`
  (which holds the host and PID of its holder) is released by the kernel when the
  process ends, however it ends, so a killed run never leaves a stale lock; a
  second process stops with one line naming the holder.
* `check_resume(config, DIR)`: a workdir's stored `config.json` (or, without one,
  its newest checkpoint's config) is compared with the new config before anything
  is restored or written. Fields in `MAY_CHANGE` (how long to train, how often to
  log, evaluate and checkpoint, where the data lies, the device layout) may differ
  on resume; any other difference means another experiment, and is refused with
  one line naming each key. `config.resume='restart'` moves the previous run into
  `DIR/previous_runs/<UTC time>/` instead (nothing is deleted).
* `default_for(config_arg)`: the workdir of a command without `--workdir`:
  `runs/<config file stem>[_<preset>]`.
"""

import datetime
import errno
import fcntl
import json
import os
import socket

from alexnet_jax.config import default
from alexnet_jax.errors import ConfigError, WorkdirBusyError
from alexnet_jax.runtime.console import LOG
from alexnet_jax.training import run_files

# Config fields that may differ between a run and its resumption (dotted prefixes).
MAY_CHANGE = ('mode', 'resume', 'num_epochs', 'num_train_steps', 'stop_at_train_error',
              'log_every_steps',
              'eval_every_steps', 'eval_batch_size', 'checkpoint', 'eval', 'parallel',
              'distributed', 'benchmark', 'ablation', 'data.prefetch', 'data.num_workers',
              'data.worker_processes', 'data.in_memory_max_bytes', 'data.data_dir',
              'data.arrays_dir',
              'data.on_device', 'data.on_device_max_bytes', 'steps_per_dispatch',
              'model.conv_chunk')
PREVIOUS_RUNS = 'previous_runs'
LOCK = '.lock'
KEPT_ON_RESTART = (PREVIOUS_RUNS, LOCK, LOG)  # what a restart leaves in place


def default_for(config_arg: str) -> str:
  """`runs/<stem>[_<preset>]` for `--config=configs/<stem>.py[:<preset>]`; a preset that
  is a path (`configs/run.py:DIR`, a run directory's own config) is that directory."""
  path, _, preset = config_arg.partition(':')
  if os.sep in preset:
    return preset
  stem = os.path.splitext(os.path.basename(path))[0]
  return os.path.join('runs', f'{stem}_{preset}' if preset else stem)


class Lock:
  """The exclusive lock of one workdir, held until `release()` or the process ends."""

  def __init__(self, workdir: str):
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, LOCK)
    self.file = open(self.path, 'a+b', buffering=0)  # unbuffered: no write is pending
    try:
      fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
      if error.errno not in (errno.EAGAIN, errno.EACCES):
        raise
      holder = self._holder() or 'unknown'
      self.file.close()
      raise WorkdirBusyError(
          f'another process is training in {workdir} ({holder}); wait for it to end, or '
          'train in another --workdir') from None
    previous = self._holder()
    if previous:  # the holder ended without releasing (killed): its lock is gone with it
      print(f'warning: taking over the lock of {workdir} from {previous}, which is no longer '
            'running', flush=True)
    self.file.seek(0)
    self.file.truncate()
    try:
      self.file.write(f'host {socket.gethostname()} pid {os.getpid()}\n'.encode())
    except OSError:  # a full disk: the lock holds all the same, without its holder's name
      pass

  def _holder(self) -> str:
    self.file.seek(0)
    return self.file.read().decode(errors='replace').strip()

  def release(self):
    if self.file.closed:
      return
    self.file.truncate(0)  # an empty lock file: released cleanly
    fcntl.flock(self.file, fcntl.LOCK_UN)
    self.file.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.release()


def _flatten(tree, prefix=''):
  flat = {}
  for key, value in tree.items():
    path = f'{prefix}{key}'
    if isinstance(value, dict) and value:
      flat.update(_flatten(value, path + '.'))
    else:
      flat[path] = value
  return flat


def may_change(key: str) -> bool:
  return any(key == p or key.startswith(p + '.') for p in MAY_CHANGE)


def _neutral_defaults() -> dict:
  """alexnet_jax/config/default.py's values: a field added to the code after a run was stored
  (absent from its config.json) changes nothing when it holds its default."""
  return _flatten(json.loads(default.get_config().to_json_best_effort()))


def differences(stored: dict, current: dict) -> list:
  """[(key, stored value, current value)] of the fields that may not change on resume;
  a key missing on one side reads as '<absent>', except a field added to the code
  since the run was stored that holds its default (e.g. a new option, still off)."""
  old, new = _flatten(stored), _flatten(current)
  absent = '<absent>'
  defaults = _neutral_defaults()

  def added_at_default(key):
    return key not in old and key in defaults and new.get(key, absent) == defaults[key]

  return [(key, old.get(key, absent), new.get(key, absent))
          for key in sorted(set(old) | set(new))
          if not may_change(key) and old.get(key, absent) != new.get(key, absent)
          and not added_at_default(key)]


def stored_config(workdir: str):
  """The config a workdir's run was started with: `config.json`, or the newest
  checkpoint's (a run killed before... or from an older version); None if none."""
  path = os.path.join(workdir, run_files.CONFIG)
  if os.path.exists(path):
    try:
      with open(path) as f:
        return json.load(f)
    except ValueError:
      pass  # unreadable: fall back to the checkpoints' copy
  for directory in (run_files.CHECKPOINTS, run_files.BEST_CHECKPOINTS):
    steps = _steps(os.path.join(workdir, directory))
    for step in sorted(steps, reverse=True):
      meta = os.path.join(workdir, directory, str(step), 'meta', 'metadata')
      try:
        with open(meta) as f:
          return json.load(f)['config']
      except (OSError, ValueError, KeyError):
        continue
  return None


def _steps(directory):
  try:
    return [int(name) for name in os.listdir(directory) if name.isdigit()]
  except OSError:
    return []


def holds_run(workdir: str) -> bool:
  """Whether `workdir` holds (part of) a training run: its config or checkpoints."""
  return any(os.path.exists(os.path.join(workdir, name))
             for name in (run_files.CONFIG, run_files.METRICS, run_files.CHECKPOINTS,
                          run_files.BEST_CHECKPOINTS))


def check_resume(config, workdir: str):
  """Refuses (ConfigError, one line) to resume a run whose config differs in a field
  that may not change; does nothing for a new or matching workdir. Reads only."""
  if config.get('resume', 'auto') == 'restart' or not holds_run(workdir):
    return
  stored = stored_config(workdir)
  if stored is None:
    return  # checkpoints without a readable config: checkpoints.py checks their shapes
  current = json.loads(config.to_json_best_effort())
  differing = differences(stored, current)
  if differing:
    changes = '; '.join(f'{key}: {old!r} -> {new!r}' for key, old, new in differing)
    raise ConfigError(
        f'{workdir} holds a run with another config ({changes}); train in a new '
        f'--workdir, or add --config.resume=restart to move that run to '
        f'{os.path.join(workdir, PREVIOUS_RUNS)}/ and start over')


def set_aside(workdir: str) -> str:
  """Moves the previous run's files into `DIR/previous_runs/<UTC time>/` (renames in
  one filesystem: nothing is copied or deleted). Returns that directory, or None
  when there was nothing to move."""
  names = [n for n in sorted(os.listdir(workdir)) if n not in KEPT_ON_RESTART]
  if not names:
    return None
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
  target = os.path.join(workdir, PREVIOUS_RUNS, stamp)
  suffix = 1
  while os.path.exists(target):
    suffix += 1
    target = os.path.join(workdir, PREVIOUS_RUNS, f'{stamp}_{suffix}')
  os.makedirs(target)
  for name in names:
    os.rename(os.path.join(workdir, name), os.path.join(target, name))
  return target


def prepare(config, workdir: str):
  """Before a training run writes anything: takes the workdir's lock, checks that a
  previous run may be resumed with `config` (or sets it aside on
  `config.resume='restart'`). Returns the Lock."""
  lock = Lock(workdir)
  try:
    check_resume(config, workdir)
    if config.get('resume', 'auto') == 'restart':
      moved = set_aside(workdir)
      if moved:
        print(f'previous run moved to {moved}', flush=True)
  except BaseException:
    lock.release()
    raise
  return lock
