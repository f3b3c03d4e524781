"""The pure train and eval steps, their metrics, and their compiled wrapper.

`train_step(state, batch, rng) -> (state, metrics)` and
`eval_step(params, batch) -> metrics` are plain functions of arrays; they are
wrapped by jit/pmap/shard_map in one place (parallel.py), and `CompiledSteps`
holds them compiled for one layout. Collectives, where the layout has them, name
their axes with `parallel`'s constants.
"""

import jax
import jax.numpy as jnp
import optax

from alexnet_jax.models import alexnet
from alexnet_jax.training import optimizers


def _label_rank(logits, labels):
  """The label's position in `lax.top_k(logits, num_classes)` order (descending,
  ties to the lower class index; unlike top_k, 0.0 and -0.0 tie), counted instead
  of sorted: top_k sorts all 1000 classes on CPU, and the step is measurably
  faster without it (docs/performance_log.md). A NaN label logit
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


def summarize(sums, count_key='count'):
  """Mean loss, top-1 and top-5 errors from the sums of classification_metrics."""
  count = max(float(sums[count_key]), 1.0)
  return {'loss': float(sums['loss_sum']) / count,
          'top1_error': float(sums['top1_errors']) / count,
          'top5_error': float(sums['top5_errors']) / count}


def add_sums(totals, sums):
  """`totals` plus one batch's metric sums (fetched to the host); `sums` when `totals`
  is None (the first batch)."""
  sums = jax.device_get(sums)
  return sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)


def scores(totals) -> dict:
  """Top-1/top-5 error and loss of summed metrics, with the number of examples."""
  result = summarize(totals)
  result['num_examples'] = int(totals['count'])
  return result


def evaluate(eval_fn, batches):
  """Top-1/top-5 error and loss over every example of `batches` (masked padding);
  `eval_fn(batch)` returns the metric sums of one batch."""
  totals = None
  for batch in batches:
    totals = add_sums(totals, eval_fn(batch))
  return scores(totals)


def apply_optimizer(optimizer, grads, opt_state, params):
  """`optimizer.update` and `optax.apply_updates`, computed under a vmap over an
  added leading axis of size 1: the same arithmetic, arranged for XLA:CPU.

  Why: the step runs inside pmap/shard_map, which hand each device its block
  without the device axis and put the axis back on the outputs (reshapes that
  XLA treats as free bitcasts). When the new parameters and momentum are such
  bitcasts, XLA:CPU fuses the momentum computation into both outputs, computing
  it twice, and copies the old parameters and momentum first so that neither
  in-place write clobbers the other's input: 12 passes over every parameter-
  sized array instead of 7 (61M parameters, 244 MB each). With the axis added
  here the reshapes cancel and the momentum is computed once (the gain is in
  docs/performance_log.md). tests/test_train.py checks that the compiled step
  copies no parameter-sized buffer.
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

  def train_step(state: optimizers.TrainState, batch, rng, learning_rate=None):
    if learning_rate is not None:
      state = state.replace(opt_state=optimizers.with_learning_rate(state.opt_state, learning_rate))
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
    params, opt_state = apply_optimizer(optimizer, grads, state.opt_state, state.params)
    metrics['learning_rate'] = opt_state.hyperparams['learning_rate']
    new_state = optimizers.TrainState(step=state.step + 1, params=params, opt_state=opt_state)
    return new_state, metrics

  return train_step


def make_dispatch(train_step, make_batch, *, collectives=None):
  """Builds the per-device `dispatch(state, data, permutations, first_epoch, rng,
  learning_rates) -> (state, metrics)`: len(learning_rates) training steps in one
  `lax.scan`, each making its own batch on the device (`make_batch`, a
  device_data.BatchMaker, for the step `state.step`) before `train_step` (make_train_step's).

  Why: one dispatch per step costs the host a launch and a transfer for every step,
  which on a GPU takes longer than a small net's step; a scan runs K steps per launch.
  On XLA:CPU the scan's while loop runs its body many times slower than the same step
  outside a loop (docs/performance_log.md), so K > 1 is for accelerators, and K = 1
  compiles no loop.
  The metrics are summed over the K steps (what the loop's MetricWindow would sum),
  with each step's own loss sum kept in 'step_losses' [K], so that a NaN is still
  reported with its step."""
  replicas = 1 if collectives is None else collectives.layout.data

  def dispatch(state, data, permutations, first_epoch, rng, learning_rates):
    replica = 0 if collectives is None else collectives.data_index()

    def one_step(state, learning_rate):
      batch = make_batch(data, permutations, first_epoch, state.step, replica, replicas)
      # The rate replaces the state's, which varies over the devices under shard_map: a
      # scan's carry must keep its type, so the rate is made to vary alike (+ 0 * old).
      old = state.opt_state.hyperparams['learning_rate']
      return train_step(state, batch, rng, learning_rate + 0 * old)

    if learning_rates.shape[0] == 1:  # no loop: XLA:CPU runs a while loop's body far slower
      state, metrics = one_step(state, learning_rates[0])
      stacked = jax.tree.map(lambda x: x[None], metrics)
    else:
      state, stacked = jax.lax.scan(one_step, state, learning_rates)
    metrics = jax.tree.map(lambda x: jnp.sum(x, axis=0), stacked)
    metrics['step_losses'] = stacked['loss_sum']
    return state, metrics

  return dispatch


def eval_outputs(model, params, images):
  """(logits, class probabilities) of an evaluation batch. For the paper's 10 views
  (images [N, 10, H, W, C]) the views' softmax outputs are averaged, as in section 4.1,
  and the logits are their log, so that the metrics score the averaged prediction."""
  if images.ndim == 5:
    views = images.shape[1]
    logits = model.apply({'params': params}, images.reshape(-1, *images.shape[2:]),
                         train=False)
    probs = jax.nn.softmax(logits).reshape(images.shape[0], views, -1).mean(axis=1)
    return jnp.log(probs), probs
  logits = model.apply({'params': params}, images, train=False)
  return logits, jax.nn.softmax(logits)


def make_eval_step(model, *, collectives=None):
  """Builds `eval_step(params, batch) -> metric sums`; batch may carry a 'mask'."""

  def eval_step(params, batch):
    logits, _ = eval_outputs(model, params, batch['image'])
    metrics = classification_metrics(logits, batch['label'], batch.get('mask'))
    if collectives is not None:
      metrics = collectives.sum_over_data(metrics)
    return metrics

  return eval_step


class CompiledSteps:
  """The train and eval steps of `config` compiled for a device layout (parallel.py),
  with the host-side transfers: full host trees in, full host trees out.

  `train_step` and `eval_step` are the compiled per-layout functions of device
  arrays (what benchmarks time and lower); `train` and `eval_fn` add the
  transfers. `optimizer` is built once here and shared with whoever initializes
  the state. The model here carries the layout's collectives, so parameters are
  initialized from `alexnet.create_model(config.model)`, the same network without
  them.
  """

  def __init__(self, config, placement):
    self.placement = placement
    self.model = alexnet.create_model(config.model, collectives=placement.model_collectives)
    self.optimizer = optimizers.create_optimizer(config.optimizer,
                                                 model_variant=config.model.variant)
    self.train_step = placement.train_step(make_train_step(self.model, self.optimizer,
                                                           collectives=placement.collectives))
    self.eval_step = placement.eval_step(
        make_eval_step(self.model, collectives=placement.collectives))
    self._dispatches = {}  # BatchMaker -> compiled dispatch (`dispatch`)

  def dispatch(self, make_batch):
    """The compiled `dispatch(device state, data, permutations, first_epoch, rng,
    learning_rates)` of make_dispatch over the layout (data, permutations, first_epoch,
    rng and the rates replicated; the state donated). One compilation per number of
    steps (len(learning_rates))."""
    if make_batch not in self._dispatches:
      per_device = make_dispatch(make_train_step(self.model, self.optimizer,
                                                 collectives=self.placement.collectives),
                                 make_batch, collectives=self.placement.collectives)
      self._dispatches[make_batch] = self.placement.wrap_step(
          per_device, ('device',) + ('replicated',) * 5, donate_first=True)
    return self._dispatches[make_batch]

  def train_on_device(self, device_state, device_data, first_step, rng, learning_rates):
    """len(learning_rates) steps from `first_step` on device-resident data
    (device_data.DeviceData); returns (device state, device metrics) without waiting."""
    first_epoch = device_data.first_epoch(first_step)
    return self.dispatch(device_data.make_batch)(
        device_state, device_data.arrays, device_data.permutations(first_epoch),
        jnp.asarray(first_epoch, jnp.int32), rng, jnp.asarray(learning_rates, jnp.float32))

  def train(self, device_state, batch, rng, learning_rate):
    """One step; returns (device state, device metrics) without waiting for them."""
    return self.train_step(device_state, self.placement.put_batch(batch), rng,
                           jnp.asarray(learning_rate, jnp.float32))

  def eval_fn(self, device_params):
    placement = self.placement
    return lambda batch: placement.from_device(
        self.eval_step(device_params, placement.put_batch(batch)))
