"""The training state and the optimizers: the paper's SGD rule, cuda-convnet's
per-layer rule (rates and decay from the layer files in models/cuda_convnet.py)
and Adam, each with an injected learning rate."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from alexnet_jax.models import cuda_convnet

# config.optimizer.name -> what create_optimizer builds (validation reads the names).
OPTIMIZERS = ('sgd', 'adam', 'cuda_convnet')


@flax.struct.dataclass
class TrainState:
  """What a step carries and a checkpoint holds."""
  step: jax.Array
  params: Any
  opt_state: Any


def create_train_state(params, optimizer) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=optimizer.init(params))


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


def _per_layer_step(rules: tuple, learning_rate, bias_learning_rate):
  """g -> -epsW * (g + wc * w) for kernels and -epsB * g for biases, by layer name, with
  epsB = (epsB/epsW of the file) * bias_learning_rate. The layer is the parameter's
  parent key, so a column's layers ('column0'/'conv1'/...) follow their file's rule."""
  by_name = {name: (decay, bias_multiplier) for name, decay, bias_multiplier in rules}

  def update_fn(updates, state, params):
    def one(path, g, w):
      layer, kind = path[-2].key, path[-1].key
      decay, bias_multiplier = by_name[layer]
      if kind == 'bias':
        return -(bias_multiplier * bias_learning_rate) * g
      return -learning_rate * (g + decay * w)
    return jax.tree_util.tree_map_with_path(one, updates, params), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def cuda_convnet_sgd(learning_rate, momentum=0.9, rules: tuple = (), bias_learning_rate=None):
  """cuda-convnet's rule with `learning_rate` as epsW (see the module docstring):

      v <- momentum * v - lr_layer * (dL/dw + wc_layer * w);   w <- w + v

  with lr_layer = epsW for weights and epsB = 2 epsW for biases (no decay), where the
  biases' epsW is `bias_learning_rate`: the 11pct header's rate drops lower "learning
  rates (epsW)" only, so a schedule that sets `learning_rate` leaves epsB where it
  started when `bias_learning_rate` is the starting epsW (None: the biases follow
  `learning_rate`, as the runs committed before 2026-12-04 did). Like
  `paper_sgd`, the velocity keeps the steps taken at an old rate when the
  rate drops, as cuda-convnet's `inc` does."""
  return optax.chain(
      _per_layer_step(rules, learning_rate,
                      learning_rate if bias_learning_rate is None else bias_learning_rate),
      optax.trace(decay=momentum, nesterov=False),
  )


def create_optimizer(optimizer_config, learning_rate=None, model_variant=None):
  """The optimizer named by `config.optimizer`, with the learning rate injected as a
  hyperparameter so a schedule or plateau rule can set it between steps.
  `cuda_convnet` (cuda_convnet_sgd below) reads its per-layer weight decay
  and bias rates from the layer file of `model_variant`."""
  lr = optimizer_config.learning_rate if learning_rate is None else learning_rate
  if optimizer_config.name == 'sgd':
    return optax.inject_hyperparams(paper_sgd)(
        learning_rate=lr, momentum=optimizer_config.momentum,
        weight_decay=optimizer_config.weight_decay)
  if optimizer_config.name == 'cuda_convnet':
    rules = cuda_convnet.update_rules(model_variant, optimizer_config.layer_weight_decay)
    # The schedule sets `learning_rate` (epsW); epsB keeps its starting value unless
    # `bias_rate_drops` (cuda_convnet_sgd below).
    bias = ({} if optimizer_config.get('bias_rate_drops', False)
            else {'bias_learning_rate': optimizer_config.learning_rate})
    return optax.inject_hyperparams(cuda_convnet_sgd, static_args=('rules',))(
        learning_rate=lr, momentum=optimizer_config.momentum, rules=rules, **bias)
  if optimizer_config.name == 'adam':
    return optax.inject_hyperparams(optax.adamw)(
        learning_rate=lr, weight_decay=optimizer_config.weight_decay)
  raise ValueError(f'config.optimizer.name={optimizer_config.name!r}: '
                   f'choose one of {", ".join(OPTIMIZERS)}')


def with_learning_rate(opt_state, learning_rate):
  """`opt_state` with its injected learning rate replaced (the host's schedule sets
  it between steps; `optax.inject_hyperparams` keeps it in the state)."""
  hyperparams = dict(opt_state.hyperparams)
  hyperparams['learning_rate'] = jnp.asarray(learning_rate, jnp.float32)
  return opt_state._replace(hyperparams=hyperparams)
