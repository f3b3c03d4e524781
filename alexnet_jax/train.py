"""Training state, the paper's optimizer, and the pure train and eval steps.

`train_step(state, batch, rng) -> (state, metrics)` and
`eval_step(params, batch) -> metrics` are plain functions of arrays; they are
wrapped by jit/pmap/shard_map in one place (parallel.py). Collectives, where
the layout has them, name their axes with `parallel`'s constants.
"""

import errno
import json
import math
import os
import time
from typing import Any, Optional

import flax
import jax
import jax.numpy as jnp
import optax

from alexnet_jax.validation import ConfigError, UserError


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def paper_sgd(learning_rate, momentum=0.9, weight_decay=5e-4):
  """The paper's update rule (section 5), exactly:

      v <- momentum * v - weight_decay * lr * w - lr * dL/dw;   w <- w + v

  As an optax chain: add weight_decay * w to the gradient, scale by -lr, then
  accumulate a momentum trace of the already-scaled step. The order matters
  only when the learning rate changes: like the paper, the velocity keeps the
  steps taken at the old rate (optax.sgd would rescale the whole trace).
  """
  return optax.chain(
      optax.add_decayed_weights(weight_decay),
      optax.scale_by_learning_rate(learning_rate),
      optax.trace(decay=momentum, nesterov=False),
  )


def create_optimizer(optimizer_config, learning_rate=None, model_variant=None):
  """The optimizer named by `config.optimizer`, with the learning rate injected as a
  hyperparameter so a schedule or plateau rule can set it between steps.
  `cuda_convnet` (cuda_convnet.cuda_convnet_sgd) reads its per-layer weight decay
  and bias rates from the layer file of `model_variant`."""
  lr = optimizer_config.learning_rate if learning_rate is None else learning_rate
  if optimizer_config.name == 'sgd':
    return optax.inject_hyperparams(paper_sgd)(
        learning_rate=lr, momentum=optimizer_config.momentum,
        weight_decay=optimizer_config.weight_decay)
  if optimizer_config.name == 'cuda_convnet':
    from alexnet_jax import cuda_convnet
    rules = cuda_convnet.update_rules(model_variant, optimizer_config.layer_weight_decay)
    return optax.inject_hyperparams(cuda_convnet.cuda_convnet_sgd, static_args=('rules',))(
        learning_rate=lr, momentum=optimizer_config.momentum, rules=rules)
  if optimizer_config.name == 'adam':
    return optax.inject_hyperparams(optax.adamw)(
        learning_rate=lr, weight_decay=optimizer_config.weight_decay)
  raise ValueError(f'config.optimizer.name={optimizer_config.name!r}: '
                   'choose sgd, adam or cuda_convnet')


def create_train_state(params, optimizer) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=optimizer.init(params))


def _label_rank(logits, labels):
  """The label's position in `lax.top_k(logits, num_classes)` order (descending,
  ties to the lower class index; unlike top_k, 0.0 and -0.0 tie), counted instead
  of sorted: top_k sorts all 1000 classes on CPU (the paper net's step at batch
  32: 496 -> 489 ms without it, alternated in one process). A NaN label logit
  ranks last, so a diverged network never counts as correct."""
  label_logits = jnp.take_along_axis(logits, labels[:, None], axis=-1)
  classes = jnp.arange(logits.shape[-1])
  ahead = (logits > label_logits) | ((logits == label_logits) & (classes < labels[:, None]))
  rank = jnp.sum(ahead, axis=-1)
  return jnp.where(jnp.isnan(label_logits[:, 0]), logits.shape[-1], rank)


def classification_metrics(logits, labels, mask=None):
  """Summed cross-entropy, top-1 and top-5 errors (sums, plus the count), so that
  means over devices and partial batches are exact."""
  if mask is None:
    mask = jnp.ones(labels.shape, jnp.float32)
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  rank = _label_rank(logits, labels)
  in_top_1 = rank == 0
  in_top_k = rank < 5
  return {
      'loss_sum': jnp.sum(loss * mask),
      'top1_errors': jnp.sum((~in_top_1) * mask),
      'top5_errors': jnp.sum((~in_top_k) * mask),
      'count': jnp.sum(mask),
  }


def _apply_optimizer(optimizer, grads, opt_state, params):
  """`optimizer.update` and `optax.apply_updates`, computed under a vmap over an
  added leading axis of size 1: the same arithmetic, arranged for XLA:CPU.

  Why: the step runs inside pmap/shard_map, which hand each device its block
  without the device axis and put the axis back on the outputs (reshapes that
  XLA treats as free bitcasts). When the new parameters and momentum are such
  bitcasts, XLA:CPU fuses the momentum computation into both outputs, computing
  it twice, and copies the old parameters and momentum first so that neither
  in-place write clobbers the other's input: 12 passes over every parameter-
  sized array instead of 7 (61M parameters, 244 MB each). With the axis added
  here the reshapes cancel and the momentum is computed once. Measured on the
  2-core development VM (paper net, batch 32, alternated in one process):
  496 -> 481 ms per step, 471 ms together with xla_flags' copy-insertion setting.
  """
  def update(grads, opt_state, params):
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  with_axis = lambda tree: jax.tree.map(lambda x: x[None], tree)
  params, opt_state = jax.vmap(update)(with_axis(grads), with_axis(opt_state), with_axis(params))
  return jax.tree.map(lambda x: x[0], (params, opt_state))


def make_train_step(model, optimizer, *, collectives=None):
  """Builds `train_step(state, batch, rng, learning_rate=None) -> (state, metrics)`
  for one device; `learning_rate` (set by the host's schedule) replaces the
  optimizer's injected one when given.

  `batch` has 'image', 'label' and optionally 'example_id' (global indices of
  the examples, which key the dropout masks so that they do not depend on the
  device layout). With `collectives` (a `parallel.Collectives`), this is the
  per-device step of a data x model layout: gradients and metric sums are
  summed over the data axis, and under model parallelism every model device
  computes the same loss, so it is divided by the model axis size (the
  all_gather's transpose sums the columns' cotangents) and the gradients of
  the replicated parameters (fc8) are summed over the model axis.
  """

  def train_step(state: TrainState, batch, rng, learning_rate=None):
    if learning_rate is not None:
      state = state.replace(opt_state=_with_learning_rate(state.opt_state, learning_rate))
    local_batch = batch['label'].shape[0]
    example_ids = batch.get('example_id')
    if example_ids is None:
      offset = 0 if collectives is None else collectives.data_index() * local_batch
      example_ids = offset + jnp.arange(local_batch)
    dropout_rng = jax.random.fold_in(rng, state.step)

    def loss_fn(params):
      logits = model.apply({'params': params}, batch['image'], train=True,
                           dropout_rng=dropout_rng, example_ids=example_ids)
      metrics = classification_metrics(logits, batch['label'])
      if collectives is None:
        return metrics['loss_sum'] / metrics['count'], metrics
      count = collectives.sum_over_data(metrics['count'])
      return metrics['loss_sum'] / count / collectives.model_size, metrics

    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params)
    if collectives is not None:
      grads = collectives.reduce_gradients(grads)
      metrics = collectives.sum_over_data(metrics)
    params, opt_state = _apply_optimizer(optimizer, grads, state.opt_state, state.params)
    metrics['learning_rate'] = opt_state.hyperparams['learning_rate']
    return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return train_step


def make_eval_step(model, *, collectives=None):
  """Builds `eval_step(params, batch) -> metric sums`; batch may carry a 'mask'."""

  def eval_step(params, batch):
    images = batch['image']
    if images.ndim == 5:  # the paper's 10 views: average the softmax outputs
      views = images.shape[1]
      logits = model.apply({'params': params}, images.reshape(-1, *images.shape[2:]),
                           train=False)
      probs = jax.nn.softmax(logits).reshape(images.shape[0], views, -1).mean(axis=1)
      logits = jnp.log(probs)
    else:
      logits = model.apply({'params': params}, images, train=False)
    metrics = classification_metrics(logits, batch['label'], batch.get('mask'))
    if collectives is not None:
      metrics = collectives.sum_over_data(metrics)
    return metrics

  return eval_step


def forward_fn(model):
  """Inference logits, `forward(params, images)` (used by the benchmark)."""
  return lambda params, images: model.apply({'params': params}, images, train=False)


# ---------------------------------------------------------------------------
# The training loop.
# ---------------------------------------------------------------------------


class LearningRateSchedule:
  """The learning rate of each step, set from the host between steps.

  `plateau` (the paper, section 5): divide by `factor`'s inverse (10) when the
  validation top-1 error has not improved for `patience` evaluations, at most
  `max_reductions` (3) times. `constant`, `step` (x0.1 at `boundaries`, given
  as fractions of training) and `cosine` serve small experiments.
  """

  def __init__(self, config, total_steps):
    self.config = config.schedule
    self.base = config.optimizer.learning_rate
    self.total_steps = max(1, total_steps)
    self.state = {'reductions': 0, 'best_error': None, 'evals_since_best': 0}

  def __call__(self, step):
    name = self.config.name
    if name == 'plateau':
      return self.base * self.config.factor ** self.state['reductions']
    if name == 'constant':
      return self.base
    if name == 'step':
      passed = sum(step >= b * self.total_steps for b in self.config.boundaries)
      return self.base * self.config.factor ** passed
    if name == 'cosine':
      return self.base * 0.5 * (1 + math.cos(math.pi * min(step, self.total_steps)
                                             / self.total_steps))
    raise ValueError(f'config.schedule.name={name!r}')

  def observe(self, eval_error):
    """Feeds a validation error; returns True when it is the best so far."""
    state = self.state
    if state['best_error'] is None or eval_error < state['best_error']:
      state['best_error'], state['evals_since_best'] = eval_error, 0
      return True
    state['evals_since_best'] += 1
    if (self.config.name == 'plateau' and state['evals_since_best'] >= self.config.patience
        and state['reductions'] < self.config.max_reductions):
      state['reductions'] += 1
      state['evals_since_best'] = 0
      print(f'learning rate divided by {1 / self.config.factor:g} '
            f'(reduction {state["reductions"]} of {self.config.max_reductions})', flush=True)
    return False


class NonFiniteLossError(UserError, FloatingPointError):
  pass


class WriteError(UserError):
  """A metrics or result file could not be written (no space, permission denied)."""


def _summarize(sums, count_key='count'):
  count = max(float(sums[count_key]), 1.0)
  return {'loss': float(sums['loss_sum']) / count,
          'top1_error': float(sums['top1_errors']) / count,
          'top5_error': float(sums['top5_errors']) / count}


def _write_epoch_record(writer, sums, done, steps_per_epoch) -> float:
  """Writes the epoch's mean training error (split 'train_epoch'), as cuda-convnet
  printed it: averaged over the epoch's batches while the weights changed, the
  quantity of the paper's Figure 1. After a resume in mid-epoch it covers the
  steps since the resume. Returns the top-1 error."""
  record = {'step': done, 'split': 'train_epoch', 'epoch': done // steps_per_epoch,
            **_summarize(sums)}
  writer.write(record)
  return record['top1_error']


def evaluate(eval_fn, batches):
  """Top-1/top-5 error and loss over every example of `batches` (masked padding);
  `eval_fn(batch)` returns the metric sums of one batch."""
  totals = None
  for batch in batches:
    sums = jax.device_get(eval_fn(batch))
    totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
  result = _summarize(totals)
  result['num_examples'] = int(totals['count'])
  return result


class MetricsWriter:
  """metrics.jsonl (one JSON object per line) and TensorBoard event files."""

  def __init__(self, workdir, resume_step):
    from alexnet_jax import results_io
    self.path = os.path.join(workdir, 'metrics.jsonl')
    if os.path.exists(self.path):
      # Drop what a killed run logged after its last checkpoint: it is redone now.
      kept = [line for line in open(self.path).read().splitlines()
              if _line_step(line) is not None and _line_step(line) <= resume_step]
      results_io.write_text_atomic(self.path, ''.join(line + '\n' for line in kept))
    self.file = open(self.path, 'a')
    import tensorflow as tf  # a dependency already (TFDS); writes TensorBoard event files
    self.tf = tf
    tensorboard_dir = os.path.join(workdir, 'tensorboard')
    purge_events(tensorboard_dir, resume_step)
    self.tensorboard = tf.summary.create_file_writer(tensorboard_dir)

  def write(self, record):
    try:
      self.file.write(json.dumps(record) + '\n')
      self.file.flush()
    except OSError as error:
      raise OSError(error.errno, error.strerror, self.path) from None
    with self.tensorboard.as_default():
      for key, value in record.items():
        if key not in ('step', 'split') and isinstance(value, (int, float)):
          self.tf.summary.scalar(f"{record['split']}/{key}", value, step=record['step'])

  def close(self):
    try:
      self.file.close()
    except OSError as error:
      raise OSError(error.errno, error.strerror, self.path) from None
    finally:
      self.tensorboard.close()


def purge_events(tensorboard_dir, resume_step):
  """Drops the TensorBoard events of steps after `resume_step` (a killed run logged
  them; the resumed run logs them again), so that each step is held once, as in
  metrics.jsonl. Each event file is rewritten whole, or left as it is."""
  import tensorflow as tf
  if not os.path.isdir(tensorboard_dir):
    return
  for name in sorted(os.listdir(tensorboard_dir)):
    path = os.path.join(tensorboard_dir, name)
    if not name.startswith('events.out.tfevents') or not os.path.isfile(path):
      continue
    records, truncated = [], False
    try:
      for record in tf.compat.v1.io.tf_record_iterator(path):
        records.append(record)
    except tf.errors.DataLossError:  # a run killed while writing its last event
      truncated = True
    kept = [r for r in records if tf.compat.v1.Event.FromString(r).step <= resume_step]
    if len(kept) == len(records) and not truncated:
      continue
    with tf.io.TFRecordWriter(path + '.tmp') as writer:
      for record in kept:
        writer.write(record)
    os.replace(path + '.tmp', path)


class NullWriter:
  """What processes other than the first write: nothing."""

  def write(self, record):
    pass

  def close(self):
    pass


def _line_step(line):
  try:
    return int(json.loads(line)['step'])
  except (ValueError, KeyError, TypeError):
    return None


def steps_for(config, num_train_examples):
  steps_per_epoch = max(1, num_train_examples // config.batch_size)
  if config.num_train_steps > 0:
    return steps_per_epoch, config.num_train_steps
  return steps_per_epoch, max(1, int(round(config.num_epochs * steps_per_epoch)))


# Failed writes reported as one line (WriteError) rather than a traceback.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains `config` in `workdir`, resuming from its latest good checkpoint.

  Returns the final evaluation. Writes config.json, metrics.jsonl, TensorBoard
  events and checkpoints; stops with NonFiniteLossError at a NaN/inf loss.
  Before anything is written it takes the workdir's lock and checks that a run
  already there may be resumed with this config (workdir.py); a failed write
  stops it with WriteError or checkpoints.CheckpointWriteError (one line).
  """
  from alexnet_jax import checkpoints, parallel, validation
  from alexnet_jax import workdir as workdirs

  layout = parallel.layout_from_config(config)  # fails early on a layout that cannot work
  info = validation.validate_dataset(config)  # fails early, with how to get the data
  validation.check_num_classes(config, info)
  primary = jax.process_index() == 0  # the one process that writes result files
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


def initial_params_from(path: str, fresh_params, config):
  """`fresh_params` with every layer taken from the run or imported-weights directory
  `path` (its latest checkpoint) where the shapes agree; the others (a classifier for
  another number of classes) keep their fresh initialization, and are named. The
  source must be the same network: same variant and columns."""
  from alexnet_jax import api
  try:
    source = api.load(path)
  except ValueError as error:
    raise ConfigError(f'config.init_from={path!r}: {error}') from None
  for key in ('variant', 'columns'):
    if source.config.model[key] != config.model[key]:
      raise ConfigError(f'config.init_from={path!r} holds a {key} {source.config.model[key]!r} '
                        f'network, this config a {config.model[key]!r} one')
  loaded = {jax.tree_util.keystr(p): v
            for p, v in jax.tree_util.tree_leaves_with_path(source.params)}
  kept_fresh = []

  def pick(path, fresh):
    name = jax.tree_util.keystr(path)
    value = loaded.get(name)
    if value is None or value.shape != fresh.shape:
      kept_fresh.append(name)
      return fresh
    return jnp.asarray(value, fresh.dtype)

  params = jax.tree_util.tree_map_with_path(pick, fresh_params)
  print(f'initialized from {source.checkpoint}'
        + (f'; fresh: {", ".join(kept_fresh)}' if kept_fresh else ''), flush=True)
  return params


def _train(config, workdir, layout, info, primary):
  from tqdm import tqdm

  from alexnet_jax import checkpoints, input_pipeline, models, parallel, results_io

  multi_host = jax.process_count() > 1
  start_time = time.time()
  if primary:
    results_io.write_json_atomic(os.path.join(workdir, 'config.json'),
                                 checkpoints.config_json(config))

  steps_per_epoch, total_steps = steps_for(config, info['num_train_examples'])
  eval_every = config.eval_every_steps if config.eval_every_steps > 0 else steps_per_epoch
  model = models.create_model(config.model)
  optimizer = create_optimizer(config.optimizer, model_variant=config.model.variant)
  image_shape = (config.data.image_size, config.data.image_size, config.data.channels)
  params = models.init_params(model, jax.random.key(config.seed), image_shape)
  if config.get('init_from'):
    params = initial_params_from(config.init_from, params, config)
  state = create_train_state(params, optimizer)  # the full tree (checkpoints hold this form)
  if multi_host:  # orbax writes host-local trees from numpy, once, on process 0
    state = jax.device_get(state)
  schedule = LearningRateSchedule(config, total_steps)

  checkpointer = checkpoints.Checkpointer(workdir, keep=config.checkpoint.keep,
                                          async_save=config.checkpoint.async_save)
  restored = checkpointer.restore_latest(checkpoints.abstract(state))
  start_step = 0
  if restored is not None:
    items, meta = restored
    state = TrainState(step=jnp.asarray(meta['step'], jnp.int32), params=items['params'],
                       opt_state=items['opt_state'])
    schedule.state = meta['schedule']
    start_step = int(meta['step'])
    if meta.get('stopped_at_train_error'):  # it stopped early: nothing is left to train
      total_steps = start_step
    print(f'resuming from step {start_step} ({workdir}/checkpoints/{start_step})', flush=True)

  rng = jax.random.key(config.seed + 1)
  par = parallel.Parallel(layout)
  steps = Steps(config, par)
  device_state = par.put_tree(state)
  if layout.num_devices > 1:
    print(f'devices: {layout.describe()}', flush=True)
  shard = {'process_index': jax.process_index(), 'process_count': jax.process_count()}
  train_iter = input_pipeline.create_train_iterator(config, start_step=start_step, **shard)
  writer = MetricsWriter(workdir, start_step) if primary else NullWriter()

  def meta(step):
    return {'step': step, 'data_iterator': {'step': step}, 'seed': config.seed,
            'schedule': schedule.state, 'config': checkpoints.config_json(config),
            'stopped_at_train_error': stopped}

  def run_eval(step):
    result = evaluate(steps.eval_fn(device_state.params),
                      input_pipeline.create_eval_iterator(config, **shard))
    record = {'step': step, 'split': 'eval', 'epoch': step / steps_per_epoch, **result}
    writer.write(record)
    best = schedule.observe(result['top1_error'])
    if primary:
      tqdm.write(f"eval step {step} (epoch {step / steps_per_epoch:.2f}): top-1 error "
                 f"{result['top1_error']:.2%}, top-5 {result['top5_error']:.2%}, "
                 f"loss {result['loss']:.4f} over {result['num_examples']} examples")
    return record, best

  interval, interval_losses, interval_start = None, [], time.time()
  epoch_sums, stopped = None, False
  target = config.get('stop_at_train_error', 0.0)
  last_eval = None
  progress = tqdm(total=total_steps, initial=start_step, unit='step', dynamic_ncols=True,
                  desc=f'train {config.data.name}', disable=not primary)
  try:
    for step in range(start_step, total_steps):
      batch = next(train_iter)
      lr = schedule(step)
      device_state, metrics = steps.train(device_state, batch, rng, lr)
      interval_losses.append(metrics['loss_sum'])  # one row per device, read at log time
      interval = metrics if interval is None else jax.tree.map(jnp.add, interval, metrics)
      epoch_sums = metrics if epoch_sums is None else jax.tree.map(jnp.add, epoch_sums, metrics)
      done = step + 1
      progress.update(1)
      if done % steps_per_epoch == 0:
        epoch_error = _write_epoch_record(writer, par.row(epoch_sums), done, steps_per_epoch)
        epoch_sums = None
        if target and epoch_error <= target:
          stopped = True
          tqdm.write(f'epoch {done // steps_per_epoch}: mean training error {epoch_error:.2%} '
                     f'<= config.stop_at_train_error={target:g}; stopping')
      last = done == total_steps or stopped
      if done % config.log_every_steps == 0 or last or done % eval_every == 0:
        losses = [par.row(loss) for loss in interval_losses]
        bad = [i for i, loss in enumerate(losses) if not math.isfinite(float(loss))]
        if bad:
          raise NonFiniteLossError(
              f'loss is {float(losses[bad[0]])} at step {done - len(losses) + bad[0] + 1}; '
              f'stopping (the last good checkpoint stays in {workdir}/checkpoints)')
        sums = par.row(interval)
        elapsed = time.time() - interval_start
        record = {'step': done, 'split': 'train', 'epoch': done / steps_per_epoch,
                  **_summarize(sums), 'learning_rate': float(lr),
                  'images_per_s': float(sums['count']) / max(elapsed, 1e-9)}
        writer.write(record)
        progress.set_postfix(loss=f"{record['loss']:.3f}", err=f"{record['top1_error']:.3f}")
        interval, interval_losses, interval_start = None, [], time.time()
      best = False
      if done % eval_every == 0 or last:
        last_eval, best = run_eval(done)
      if done % config.checkpoint.every_steps == 0 or last or best:
        full = par.get_tree(device_state, None if multi_host else jax.local_devices()[0])
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


def _close(*resources, quietly=False):
  for resource in resources:
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


def _with_learning_rate(opt_state, learning_rate):
  hyperparams = dict(opt_state.hyperparams)
  hyperparams['learning_rate'] = jnp.asarray(learning_rate, jnp.float32)
  return opt_state._replace(hyperparams=hyperparams)


class Steps:
  """The train and eval steps of `config` over a device layout (parallel.py),
  with the host-side transfers: full host trees in, full host trees out."""

  def __init__(self, config, par):
    from alexnet_jax import models
    self.par = par
    self.model = models.create_model(config.model, collectives=par.model_collectives)
    self.optimizer = create_optimizer(config.optimizer, model_variant=config.model.variant)
    self._train = par.train_step(make_train_step(self.model, self.optimizer,
                                                 collectives=par.collectives))
    self._eval = par.eval_step(make_eval_step(self.model, collectives=par.collectives))

  def train(self, device_state, batch, rng, learning_rate):
    """One step; returns (device state, device metrics) without waiting for them."""
    return self._train(device_state, self.par.put_batch(batch), rng,
                       jnp.asarray(learning_rate, jnp.float32))

  def eval_fn(self, device_params):
    return lambda batch: self.par.row(self._eval(device_params, self.par.put_batch(batch)))
