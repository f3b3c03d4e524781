"""Training state, the paper's optimizer, and the pure train and eval steps.

`train_step(state, batch, rng) -> (state, metrics)` and
`eval_step(params, batch) -> metrics` are plain functions of arrays; they are
wrapped by jit/pmap/shard_map in one place (parallel.py). Collectives, where
the layout has them, name their axes with `parallel`'s constants.
"""

from typing import Any, Optional

import flax
import jax
import jax.numpy as jnp
import optax


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


def create_optimizer(optimizer_config, learning_rate=None):
  """The optimizer named by `config.optimizer`, with the learning rate injected as a
  hyperparameter so a schedule or plateau rule can set it between steps."""
  lr = optimizer_config.learning_rate if learning_rate is None else learning_rate
  if optimizer_config.name == 'sgd':
    return optax.inject_hyperparams(paper_sgd)(
        learning_rate=lr, momentum=optimizer_config.momentum,
        weight_decay=optimizer_config.weight_decay)
  if optimizer_config.name == 'adam':
    return optax.inject_hyperparams(optax.adamw)(
        learning_rate=lr, weight_decay=optimizer_config.weight_decay)
  raise ValueError(f'config.optimizer.name={optimizer_config.name!r}: choose sgd or adam')


def create_train_state(params, optimizer) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=optimizer.init(params))


def classification_metrics(logits, labels, mask=None):
  """Summed cross-entropy, top-1 and top-5 errors (sums, plus the count), so that
  means over devices and partial batches are exact."""
  if mask is None:
    mask = jnp.ones(labels.shape, jnp.float32)
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  k = min(5, logits.shape[-1])
  top_k = jax.lax.top_k(logits, k)[1]
  in_top_k = jnp.any(top_k == labels[:, None], axis=-1)
  in_top_1 = top_k[:, 0] == labels
  return {
      'loss_sum': jnp.sum(loss * mask),
      'top1_errors': jnp.sum((~in_top_1) * mask),
      'top5_errors': jnp.sum((~in_top_k) * mask),
      'count': jnp.sum(mask),
  }


def make_train_step(model, optimizer, *, data_axis: Optional[str] = None,
                    model_axis_size: int = 1):
  """Builds `train_step(state, batch, rng) -> (state, metrics)` for one device.

  `batch` has 'image', 'label' and optionally 'example_id' (global indices of
  the examples, used for layout-independent dropout masks). With `data_axis`
  set, gradients and metric sums are summed/averaged over that axis.
  `model_axis_size` divides the local loss when every model device computes
  the same loss (the all_gather's transpose sums the columns' cotangents).
  """

  def train_step(state: TrainState, batch, rng):
    example_ids = batch.get('example_id')
    if example_ids is None:
      example_ids = jnp.arange(batch['label'].shape[0])
    dropout_rng = jax.random.fold_in(rng, state.step)

    def loss_fn(params):
      logits = model.apply({'params': params}, batch['image'], train=True,
                           dropout_rng=dropout_rng, example_ids=example_ids)
      metrics = classification_metrics(logits, batch['label'])
      count = metrics['count']
      if data_axis is not None:
        count = jax.lax.psum(count, data_axis)
      return metrics['loss_sum'] / count / model_axis_size, metrics

    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params)
    if data_axis is not None:
      grads = jax.lax.psum(grads, data_axis)
      metrics = jax.lax.psum(metrics, data_axis)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics['learning_rate'] = opt_state.hyperparams['learning_rate']
    return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return train_step


def make_eval_step(model, *, data_axis: Optional[str] = None):
  """Builds `eval_step(params, batch) -> metric sums`; batch may carry a 'mask'."""

  def eval_step(params, batch):
    logits = model.apply({'params': params}, batch['image'], train=False)
    metrics = classification_metrics(logits, batch['label'], batch.get('mask'))
    if data_axis is not None:
      metrics = jax.lax.psum(metrics, data_axis)
    return metrics

  return eval_step


def forward_fn(model):
  """Inference logits, `forward(params, images)` (used by the benchmark)."""
  return lambda params, images: model.apply({'params': params}, images, train=False)
