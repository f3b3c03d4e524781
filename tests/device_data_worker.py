"""Runs device-resident training dispatches (data/device_data.py) on several device
layouts and prints how far each lands from one device's. Run by
tests/test_device_data.py with forced CPU devices:

    XLA_FLAGS=--xla_force_host_platform_device_count=4 \\
        python tests/device_data_worker.py STEPS LAYOUT...   # LAYOUT: 2x1:pmap, 1x2:shard_map, ...

Prints one `RESULT {json}` line per layout: the largest parameter difference from the
one-device run and the parameters' largest magnitude.
"""

import json
import sys

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from alexnet_jax.config import default
from alexnet_jax.data import device_data, input_pipeline
from alexnet_jax.devices import parallel
from alexnet_jax.models import alexnet
from alexnet_jax.training import optimizers, step_functions


def make_config():
  config = default.get_config()
  config.model.width_multiplier = 0.25
  config.model.dropout_rate = 0.5  # masks keyed by the global example index: layout-free
  config.batch_size = 8
  config.data.crop_padding = 2
  return config


def train(config, layout_text, steps):
  shape, _, backend = layout_text.partition(':')
  config.parallel.data_devices, config.parallel.model_devices = (int(v) for v in shape.split('x'))
  config.parallel.backend = backend or 'pmap'
  placement = parallel.Placement(parallel.layout_from_config(config))
  compiled = step_functions.CompiledSteps(config, placement)
  images = np.random.default_rng(0).integers(0, 256, (40, 28, 28, 1), dtype=np.uint8)
  labels = np.random.default_rng(1).integers(0, 10, 40)
  preprocessor = input_pipeline.Preprocessor(config, {'channel_mean': [0.5], 'pixel_mean': None})
  replicated = NamedSharding(placement.mesh, PartitionSpec())
  data = device_data.DeviceData(config, images, labels, preprocessor,
                                lambda tree: jax.device_put(tree, replicated),
                                steps_per_dispatch=steps)
  params = alexnet.init_params(alexnet.create_model(config.model), jax.random.key(0),
                               (28, 28, 1))
  state = placement.put_tree(optimizers.create_train_state(params, compiled.optimizer))
  state, _ = compiled.train_on_device(state, data, 0, jax.random.key(1), [0.01] * steps)
  return placement.get_tree(state.params)


def main(steps, layouts):
  reference = train(make_config(), '1x1:pmap', steps)
  scale = max(float(np.abs(x).max()) for x in jax.tree.leaves(reference))
  for layout in layouts:
    params = train(make_config(), layout, steps)
    diff = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
               for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(params)))
    print('RESULT ' + json.dumps({'layout': layout, 'max_abs_diff': diff, 'max_abs': scale}),
          flush=True)


if __name__ == '__main__':
  main(int(sys.argv[1]), sys.argv[2:])
