"""Runs in a subprocess with forced CPU devices (set before JAX is imported):
compares layouts against the single-device two-column network and prints JSON.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 \
        PYTHONPATH=. python tests/parallel_worker.py small 1 1x2:pmap 2x2:shard_map

compares, for each `data x model : backend` layout, the logits, metrics and
the parameters and optimizer state after N SGD steps (with dropout on; after
one step they carry the gradients) with the single-device run, and prints one
line `RESULT {"layout": ..., "max_abs_diff": {...}, "max_abs": {...}}` each.
"""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

from alexnet_jax.config import default
from alexnet_jax.devices import parallel
from alexnet_jax.models import alexnet
from alexnet_jax.training import optimizers, step_functions


def make_config(variant):
  config = default.get_config('paper' if variant == 'paper' else None)
  config.model.num_classes = 10
  config.optimizer.name = 'sgd'
  config.optimizer.learning_rate = 0.01
  config.model.init = 'he'
  if variant in ('small', 'small_chunked', 'small_lrn_across', 'small_no_conv3'):
    config.data.image_size, config.data.channels = 16, 3
    config.model.width_multiplier = 0.5
  if variant == 'small_chunked':  # conv layers over slices of 3 images (the last one shorter)
    config.model.conv_chunk = 3
  if variant == 'small_lrn_across':  # LRN over both columns' maps (Caffe's)
    config.model.lrn_across_columns = True
  if variant == 'small_no_conv3':  # conv4 takes over conv3's exchange (the depth ablation)
    config.model.removed_layers = ('conv3',)
  return config


def max_diff(a, b):
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def max_abs(a):
  return max(float(np.max(np.abs(np.asarray(x)))) for x in jax.tree.leaves(a))


def main(variant, steps, layout_texts):
  config = make_config(variant)
  size, channels = config.data.image_size, config.data.channels
  batch_size = 8
  model = alexnet.create_model(config.model)
  optimizer = optimizers.create_optimizer(config.optimizer)
  params = alexnet.init_params(model, jax.random.key(0), (size, size, channels))
  state = optimizers.create_train_state(params, optimizer)
  rng = jax.random.key(7)

  def batch_for(step):
    key = jax.random.fold_in(jax.random.key(3), step)
    images = jax.random.normal(key, (batch_size, size, size, channels))
    labels = jax.random.randint(jax.random.fold_in(key, 1), (batch_size,), 0, 10)
    return {'image': np.asarray(images), 'label': np.asarray(labels),
            'example_id': np.arange(step * batch_size, (step + 1) * batch_size)}

  # One device: the reference.
  ref_step = jax.jit(step_functions.make_train_step(model, optimizer))
  ref_state, ref_metrics = state, None
  for step in range(steps):
    ref_state, ref_metrics = ref_step(ref_state, batch_for(step), rng)
  ref_logits = model.apply({'params': ref_state.params}, batch_for(0)['image'])

  for layout_text in layout_texts:
    shape, backend = layout_text.split(':')
    data, model_devices = (int(v) for v in shape.split('x'))
    config.parallel.model_devices = model_devices
    config.parallel.data_devices = data
    config.parallel.backend = backend
    layout = parallel.layout_from_config(config)
    result = compare(parallel.Placement(layout), config, state, rng, steps, batch_for,
                     ref_state, ref_metrics, ref_logits)
    print('RESULT ' + json.dumps({'layout': layout_text, **result}), flush=True)


def compare(placement, config, state, rng, steps, batch_for, ref_state, ref_metrics, ref_logits):
  layout = placement.layout
  optimizer = optimizers.create_optimizer(config.optimizer)
  params = state.params
  device_model = alexnet.create_model(config.model, collectives=placement.model_collectives)
  p_step = placement.train_step(step_functions.make_train_step(device_model, optimizer,
                                                               collectives=placement.collectives))
  forward = placement.wrap_step(lambda p, b: device_model.apply({'params': p}, b['image']),
                                ('device', 'batch'))
  device_state = placement.put_tree(state)
  metrics = None
  for step in range(steps):
    device_state, metrics = p_step(device_state, placement.put_batch(batch_for(step)), rng,
                                   jnp.float32(config.optimizer.learning_rate))
  full_state = placement.get_tree(device_state)
  logits_rows = forward(device_state.params, placement.put_batch({'image': batch_for(0)['image']}))
  per_replica = [np.asarray(logits_rows[d * layout.model]) for d in range(layout.data)]
  logits = np.concatenate(per_replica)
  columns_agree = max(max_diff(logits_rows[d * layout.model], logits_rows[d * layout.model + m])
                      for d in range(layout.data) for m in range(layout.model))

  metrics = placement.from_device(metrics)
  keys = ('loss_sum', 'top1_errors', 'count')
  result = {
      'max_abs_diff': {
          'params': max_diff(full_state.params, ref_state.params),
          'opt_state': max_diff(full_state.opt_state, ref_state.opt_state),
          'logits': max_diff(logits, ref_logits),
          'metrics': max_diff({k: metrics[k] for k in keys}, {k: ref_metrics[k] for k in keys}),
          'columns_agree': columns_agree,
          'update': max_diff(jax.tree.map(jnp.subtract, full_state.params, params),
                             jax.tree.map(jnp.subtract, ref_state.params, params)),
      },
      'max_abs': {
          'params': max_abs(ref_state.params),
          'logits': max_abs(ref_logits),
          'update': max_abs(jax.tree.map(jnp.subtract, ref_state.params, params)),
      },
      'step': int(placement.from_device(device_state.step)),
      'devices': layout.num_devices,
  }
  return result


if __name__ == '__main__':
  main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
