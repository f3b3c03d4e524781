"""The training loop: resume, step, log, evaluate, checkpoint, stop.

The steps themselves are in step_functions.py (pure functions, compiled per layout), the
optimizers in optimizers.py, the learning-rate schedules in schedules.py and the
metric files in metric_writers.py; this module puts them in order and owns the
run's lifecycle: the workdir check and lock, resuming from the latest good
checkpoint, one-line errors for a non-finite loss or a failed write, and the
final table.
"""

import errno
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec
from tqdm import tqdm

from alexnet_jax import validation
from alexnet_jax.data import device_data, input_pipeline, iterators
from alexnet_jax.devices import distributed, parallel
from alexnet_jax.errors import ConfigError, NonFiniteLossError, WriteError
from alexnet_jax.runtime import machine, results_io
from alexnet_jax.training import checkpoints, metric_writers, optimizers, restore, run_files
from alexnet_jax.training import schedules, step_functions
from alexnet_jax.training import workdir as workdirs


# Failed writes reported as one line (WriteError) rather than a traceback.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


def steps_for(config, num_train_examples):
  """(steps per epoch, total steps) of `config` on a training split of that size."""
  steps_per_epoch = max(1, num_train_examples // config.batch_size)
  if config.num_train_steps > 0:
    return steps_per_epoch, config.num_train_steps
  return steps_per_epoch, max(1, int(round(config.num_epochs * steps_per_epoch)))


class Cadence:
  """What the loop does after step `done`: log the training window, log the epoch's
  mean, evaluate, checkpoint. Evaluations and the last step always close a log
  window, so that the logged windows tile the run."""

  def __init__(self, config, steps_per_epoch, total_steps):
    self.steps_per_epoch = steps_per_epoch
    self.total_steps = total_steps
    self.log_every = config.log_every_steps
    self.eval_every = config.eval_every_steps if config.eval_every_steps > 0 else steps_per_epoch
    self.checkpoint_every = config.checkpoint.every_steps

  def epoch_ends(self, done):
    return done % self.steps_per_epoch == 0

  def log(self, done, last):
    return done % self.log_every == 0 or done % self.eval_every == 0 or last

  def evaluate(self, done, last):
    return done % self.eval_every == 0 or last

  def checkpoint(self, done, last, best):
    return done % self.checkpoint_every == 0 or last or best

  def dispatch_length(self, step, steps_per_dispatch):
    """How many steps the dispatch starting at `step` runs: up to the next multiple
    of `steps_per_dispatch`, and never past an epoch's end (its mean training
    error) or the last step. validation.py makes the log, eval and checkpoint
    cadences multiples of it, so the loop acts only between dispatches."""
    return min(steps_per_dispatch - step % steps_per_dispatch,
               self.steps_per_epoch - step % self.steps_per_epoch,
               self.total_steps - step)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains `config` in `workdir`, resuming from its latest good checkpoint.

  Returns the final evaluation. Writes config.json, metrics.jsonl, TensorBoard
  events and checkpoints; stops with NonFiniteLossError at a NaN/inf loss.
  Before anything is written it takes the workdir's lock and checks that a run
  already there may be resumed with this config (workdir.py); a failed write
  stops it with WriteError or errors.CheckpointWriteError (one line).
  """

  layout = parallel.layout_from_config(config)  # fails early on a layout that cannot work
  info = validation.validate_dataset(config)  # fails early, with how to get the data
  validation.check_num_classes(config, info)
  validation.check_device_data(config, info)
  primary = distributed.is_primary()  # the one process that writes result files
  if primary:
    lock = workdirs.prepare(config, workdir)
  else:
    lock = None
    workdirs.check_resume(config, workdir)
  try:
    return _train(config, workdir, layout, info, primary)
  except OSError as error:
    if error.errno not in WRITE_ERRNOS:
      raise
    raise WriteError(
        f'{error.filename or workdir}: {error.strerror}; the last good checkpoint is '
        f'{checkpoints.newest(workdir)}; free space or fix the permissions, then rerun the '
        'same command to resume from it') from None
  finally:
    if lock is not None:
      lock.release()


def record_machine(workdir: str, start_step: int):
  """Appends this process's machine (runtime/machine.py) to the run's machines.jsonl,
  one line per process that trains it: a resumed run may continue on another machine,
  and another CPU model can round differently."""
  path = os.path.join(workdir, run_files.MACHINES)
  earlier = ''
  if os.path.exists(path):
    with open(path) as f:
      earlier = f.read()
  started = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
  line = json.dumps({'start_step': start_step, 'started': started, **machine.describe()})
  results_io.write_text_atomic(path, earlier + line + '\n')


def load_device_data(config, placement, steps_per_dispatch):
  """The training split placed on the layout's devices (replicated) with what makes
  its batches there (device_data.DeviceData), statistics as the host path's."""
  source = input_pipeline.open_source(config, config.data.train_split)
  images, labels = source.get(np.arange(source.length))  # held in memory when it fits
  preprocessor = input_pipeline.Preprocessor(
      config, input_pipeline.dataset_statistics(config, source))
  replicated = NamedSharding(placement.mesh, PartitionSpec())
  return device_data.DeviceData(config, images, labels, preprocessor,
                                lambda tree: jax.device_put(tree, replicated),
                                steps_per_dispatch=steps_per_dispatch)


def initial_params_from(path: str, fresh_params, config):
  """`fresh_params` with every layer taken from the run or imported-weights directory
  `path` (its latest checkpoint) where the shapes agree; the others (a classifier for
  another number of classes) keep their fresh initialization, and are named. The
  source must be the same network: same variant and columns."""
  try:
    source_config, source_params, _, source_checkpoint = restore.trained_run(path)
  except ValueError as error:
    raise ConfigError(f'config.init_from={path!r}: {error}') from None
  for key in ('variant', 'columns'):
    if source_config.model[key] != config.model[key]:
      raise ConfigError(f'config.init_from={path!r} holds a {key} {source_config.model[key]!r} '
                        f'network, this config a {config.model[key]!r} one')
  loaded = {jax.tree_util.keystr(p): v
            for p, v in jax.tree_util.tree_leaves_with_path(source_params)}
  kept_fresh = []

  def pick(path, fresh):
    name = jax.tree_util.keystr(path)
    value = loaded.get(name)
    if value is None or value.shape != fresh.shape:
      kept_fresh.append(name)
      return fresh
    return jnp.asarray(value, fresh.dtype)

  params = jax.tree_util.tree_map_with_path(pick, fresh_params)
  print(f'initialized from {source_checkpoint}'
        + (f'; fresh: {", ".join(kept_fresh)}' if kept_fresh else ''), flush=True)
  return params


def _train(config, workdir, layout, info, primary):
  multi_host = jax.process_count() > 1
  start_time = time.time()
  if primary:
    results_io.write_json_atomic(os.path.join(workdir, run_files.CONFIG),
                                 checkpoints.config_json(config))
    if config.data.normalization in input_pipeline.STATISTICS_NORMALIZATIONS:
      # With the run, so that alexnet_jax.load and export preprocess as training did on a
      # machine without the dataset (the batches compute them anyway; cached).
      results_io.write_json_atomic(os.path.join(workdir, run_files.STATISTICS),
                                   input_pipeline.dataset_statistics(config))

  steps_per_epoch, total_steps = steps_for(config, info['num_train_examples'])
  placement = parallel.Placement(layout)
  compiled = step_functions.CompiledSteps(config, placement)
  params = restore.initial_params(config)
  if config.get('init_from'):
    params = initial_params_from(config.init_from, params, config)
  # The full tree (checkpoints hold this form).
  state = optimizers.create_train_state(params, compiled.optimizer)
  if multi_host:  # orbax writes host-local trees from numpy, once, on process 0
    state = jax.device_get(state)
  schedule = schedules.LearningRateSchedule(config, total_steps)

  checkpointer = checkpoints.Checkpointer(workdir, keep=config.checkpoint.keep,
                                          async_save=config.checkpoint.async_save)
  restored = checkpointer.restore_latest(checkpoints.abstract(state))
  start_step = 0
  if restored is not None:
    items, meta = restored
    state = optimizers.TrainState(step=jnp.asarray(meta['step'], jnp.int32),
                                  params=items['params'], opt_state=items['opt_state'])
    schedule.state = meta['schedule']
    start_step = int(meta['step'])
    if meta.get('stopped_at_train_error'):  # it stopped early: nothing is left to train
      total_steps = start_step
    print(f'resuming from step {start_step} ({workdir}/checkpoints/{start_step})', flush=True)
  if primary:
    record_machine(workdir, start_step)
  cadence = Cadence(config, steps_per_epoch, total_steps)

  rng = jax.random.key(config.seed + 1)
  device_state = placement.put_tree(state)
  if layout.num_devices > 1:
    print(f'devices: {layout.describe()}', flush=True)
  shard = {'process_index': jax.process_index(), 'process_count': jax.process_count()}
  steps_per_dispatch = config.get('steps_per_dispatch', 1)
  if device_data.wanted(config):
    on_device = load_device_data(config, placement, steps_per_dispatch)
    train_iter = None
  else:
    on_device = None
    train_iter = iterators.create_train_iterator(config, start_step=start_step, **shard)
  writer = metric_writers.create(workdir, start_step, primary)
  target = config.get('stop_at_train_error', 0.0)
  stopped = False

  versions = checkpoints.package_versions()

  def meta(step):
    return {'step': step, 'seed': config.seed, 'schedule': schedule.state,
            'config': checkpoints.config_json(config), 'stopped_at_train_error': stopped,
            'versions': versions}

  def run_eval(step):
    result = step_functions.evaluate(compiled.eval_fn(device_state.params),
                                     iterators.create_eval_iterator(config, **shard))
    record = {'step': step, 'split': 'eval', 'epoch': step / steps_per_epoch, **result}
    writer.write(record)
    best = schedule.observe(result['top1_error'])
    if primary:
      tqdm.write(f"eval step {step} (epoch {step / steps_per_epoch:.2f}): top-1 error "
                 f"{result['top1_error']:.2%}, top-5 {result['top5_error']:.2%}, "
                 f"loss {result['loss']:.4f} over {result['num_examples']} examples")
    return record, best

  window = MetricWindow(placement)  # the training metrics since the last log line
  epoch = MetricWindow(placement, keep_losses=False)  # ... since the epoch began
  last_eval = None
  progress = tqdm(total=total_steps, initial=start_step, unit='step', dynamic_ncols=True,
                  desc=f'train {config.data.name}', disable=not primary)
  try:
    step = start_step
    while step < total_steps:
      steps = cadence.dispatch_length(step, steps_per_dispatch)
      rates = [schedule(s) for s in range(step, step + steps)]  # it changes only at evals
      if on_device is None:
        device_state, metrics = compiled.train(device_state, next(train_iter), rng, rates[0])
      else:
        device_state, metrics = compiled.train_on_device(device_state, on_device, step, rng,
                                                         rates)
      lr = rates[-1]
      window.add(metrics)
      epoch.add(metrics)
      done = step = step + steps
      progress.update(steps)
      if cadence.epoch_ends(done):
        epoch_error = _write_epoch_record(writer, epoch.take(), done, steps_per_epoch)
        if target and epoch_error <= target:
          stopped = True
          tqdm.write(f'epoch {done // steps_per_epoch}: mean training error {epoch_error:.2%} '
                     f'<= config.stop_at_train_error={target:g}; stopping')
      last = done == total_steps or stopped
      if cadence.log(done, last):
        record = window.take_record(done, steps_per_epoch, lr, workdir)
        writer.write(record)
        progress.set_postfix(loss=f"{record['loss']:.3f}", err=f"{record['top1_error']:.3f}")
      best = False
      if cadence.evaluate(done, last):
        last_eval, best = run_eval(done)
      if cadence.checkpoint(done, last, best):
        full = placement.get_tree(device_state, None if multi_host else jax.local_devices()[0])
        checkpointer.save(full, meta(done), best=best)
      if stopped:
        break
    if last_eval is None:  # resumed a finished run: evaluate it (the writer is still open)
      last_eval, _ = run_eval(total_steps)
  except BaseException:
    _close(progress, train_iter, checkpointer, writer, quietly=True)  # keep the first error
    raise
  _close(progress, train_iter, checkpointer, writer)
  if primary:
    print_final_table(last_eval, workdir, time.time() - start_time, checkpointer.last_good())
  return last_eval


class MetricWindow:
  """Sums the device metrics of consecutive steps without waiting for them; read
  (and reset) when a line is logged. With `keep_losses` each step's loss is kept
  apart so that a NaN is reported with the step that produced it; the epoch's
  window only sums."""

  def __init__(self, placement, keep_losses=True):
    self.placement = placement
    self.keep_losses = keep_losses
    self.sums, self.losses, self.start = None, [], time.time()

  def add(self, metrics):
    """Adds one step's metric sums, or one dispatch's (summed over its steps, with
    each step's loss sum in 'step_losses')."""
    metrics = dict(metrics)
    losses = metrics.pop('step_losses', metrics['loss_sum'])
    if self.keep_losses:
      self.losses.append(losses)  # one row per device, read at log time
    self.sums = metrics if self.sums is None else jax.tree.map(jnp.add, self.sums, metrics)

  def take(self):
    sums = self.placement.from_device(self.sums)
    self.sums, self.losses, self.start = None, [], time.time()
    return sums

  def take_record(self, done, steps_per_epoch, lr, workdir):
    """The 'train' record of the window ending at step `done`; NonFiniteLossError
    at its first NaN/inf loss."""
    losses = [float(loss) for losses in self.losses
              for loss in np.ravel(self.placement.from_device(losses))]
    bad = [i for i, loss in enumerate(losses) if not math.isfinite(loss)]
    if bad:
      raise NonFiniteLossError(
          f'loss is {losses[bad[0]]} at step {done - len(losses) + bad[0] + 1}; '
          f'stopping (the last good checkpoint stays in {workdir}/checkpoints)')
    elapsed = time.time() - self.start
    sums = self.take()
    return {'step': done, 'split': 'train', 'epoch': done / steps_per_epoch,
            **step_functions.summarize(sums), 'learning_rate': float(lr),
            'images_per_s': float(sums['count']) / max(elapsed, 1e-9)}


def _write_epoch_record(writer, sums, done, steps_per_epoch) -> float:
  """Writes the epoch's mean training error (split 'train_epoch'), as cuda-convnet
  printed it: averaged over the epoch's batches while the weights changed, the
  quantity of the paper's Figure 1. After a resume in mid-epoch it covers the
  steps since the resume. Returns the top-1 error."""
  record = {'step': done, 'split': 'train_epoch', 'epoch': done // steps_per_epoch,
            **step_functions.summarize(sums)}
  writer.write(record)
  return record['top1_error']


def _close(*resources, quietly=False):
  for resource in resources:
    if resource is None:
      continue
    try:
      resource.close()
    except Exception:
      if not quietly:
        raise


def print_final_table(record, workdir, wall_time_s, checkpoint):
  """The short table the console ends with (the numbers are in metrics.jsonl)."""
  print(f"{'step':>8} {'epoch':>6} {'top-1 err':>10} {'top-5 err':>10} {'loss':>8} "
        f"{'examples':>9} {'wall time':>10}")
  minutes, seconds = divmod(int(round(wall_time_s)), 60)
  print(f"{record['step']:>8} {record['epoch']:>6.2f} {record['top1_error']:>10.2%} "
        f"{record['top5_error']:>10.2%} {record['loss']:>8.4f} {record['num_examples']:>9} "
        f"{f'{minutes}m{seconds:02d}s':>10}")
  print(f'results in {workdir} (metrics.jsonl, tensorboard/); last checkpoint {checkpoint}',
        flush=True)
