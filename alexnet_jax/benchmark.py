"""`--mode=benchmark`: seconds per batch for the forward pass and the full training
step (forward, backward, SGD-momentum update), as the classic AlexNet timing
notebooks measured, done properly: random images of the configured size,
compilation and warm-up excluded, every step timed to completion
(`block_until_ready`), mean +/- std and median over `benchmark.steps` steps.

Achieved GFLOP/s count 2 FLOPs per multiply-add of `summary.layer_table`; a
training step is counted as 3x the forward (forward + two backward products).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from alexnet_jax import summary
from alexnet_jax.devices import parallel
from alexnet_jax.runtime import results_io, startup
from alexnet_jax.runtime.timing import time_calls
from alexnet_jax.training import optimizers, restore, step_functions


def _with_rates(stats: dict, batch_size: int, flops_per_batch: float) -> dict:
  stats = dict(stats)
  stats['images_per_s'] = batch_size / stats['mean_s']
  stats['gflops_per_s'] = flops_per_batch / stats['mean_s'] / 1e9
  return stats


def random_step_inputs(config, placement, compiled):
  """A training step's arguments on random images of the configured size: the
  initial state, a device batch, a key and the learning rate. Shared by the
  experiments that time or profile the compiled step (experiments/)."""
  size, channels = config.data.image_size, config.data.channels
  params = restore.initial_params(config)
  state = placement.put_tree(optimizers.create_train_state(params, compiled.optimizer))
  batch_size = config.benchmark.batch_size
  batch = placement.put_batch({
      'image': np.random.default_rng(0).normal(size=(batch_size, size, size, channels))
               .astype(np.float32),
      'label': np.arange(batch_size) % config.model.num_classes})
  return state, batch, jax.random.key(0), jnp.asarray(config.optimizer.learning_rate, jnp.float32)


def measure(config) -> dict:
  """Runs the measurement on the configured device layout; returns benchmark.json's content."""

  setup = startup.setup()  # as main does; the XLA settings count if nothing was compiled yet
  bench = config.benchmark
  batch_size = bench.batch_size
  layout = parallel.layout_from_config(config)
  placement = parallel.Placement(layout)
  image_shape = (config.data.image_size, config.data.image_size, config.data.channels)
  macs_per_image = summary.layer_table(config)['total_macs']
  compiled = step_functions.CompiledSteps(config, placement)
  rng = jax.random.key(config.seed)  # the params' key, reused as the step's dropout key
  params = restore.initial_params(config)
  state = placement.put_tree(optimizers.create_train_state(params, compiled.optimizer))
  images = jax.random.normal(jax.random.key(1), (batch_size, *image_shape), jnp.float32)
  labels = jax.random.randint(jax.random.key(2), (batch_size,), 0, config.model.num_classes)
  host_batch = {'image': np.asarray(images), 'label': np.asarray(labels)}
  # Transfers are not timed: the pipeline overlaps them.
  device_batch = placement.put_batch(host_batch)

  model = compiled.model
  forward = placement.wrap_step(lambda p, b: model.apply({'params': p}, b['image'], train=False),
                                ('device', 'batch'))
  forward_stats = time_calls(lambda: forward(state.params, device_batch).block_until_ready(),
                             warmup_steps=bench.warmup_steps, steps=bench.steps)

  learning_rate = jnp.asarray(config.optimizer.learning_rate, jnp.float32)
  holder = {'state': state}

  def one_step():
    holder['state'], metrics = compiled.train_step(holder['state'], device_batch, rng,
                                                   learning_rate)
    jax.block_until_ready((holder['state'], metrics))

  step_stats = time_calls(one_step, warmup_steps=bench.warmup_steps, steps=bench.steps)
  forward_flops = 2.0 * macs_per_image * batch_size
  result = {
      'variant': config.model.variant,
      'batch_size': batch_size,
      'image_size': config.data.image_size,
      'channels': config.data.channels,
      'dtype': config.model.dtype,
      'columns': config.model.columns,
      'conv_chunk': config.model.conv_chunk,
      'devices': layout.num_devices,
      'layout': layout.as_dict(),
      'platform': jax.devices()[0].platform,
      'device_kind': jax.devices()[0].device_kind,
      'host_cpus': os.cpu_count(),
      'jax_version': jax.__version__,
      'host_memory_retained': setup['host_memory_retained'],
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
      'xla_cpu_settings_applied': setup['xla_settings_in_effect'],
      'macs_per_image': macs_per_image,
      'forward': _with_rates(forward_stats, batch_size, forward_flops),
      'train_step': _with_rates(step_stats, batch_size, 3 * forward_flops),
  }
  result['gflops_per_s'] = result['train_step']['gflops_per_s']
  return result


def format_result(result: dict) -> str:
  lines = [f"benchmark: {result['variant']} {result['image_size']}x{result['image_size']}, "
           f"batch {result['batch_size']}, {result['dtype']}, {result['devices']} "
           f"{result['platform']} device(s), layout {result['layout']['data']}x"
           f"{result['layout']['model']} (data x model, {result['layout']['backend']})"]
  for key in ('forward', 'train_step'):
    s = result[key]
    lines.append(f"  {key:<10} {s['mean_s'] * 1e3:9.1f} +/- {s['std_s'] * 1e3:6.1f} ms "
                 f"(median {s['median_s'] * 1e3:.1f} ms)  {s['images_per_s']:9.1f} images/s  "
                 f"{s['gflops_per_s']:7.1f} GFLOP/s")
  return '\n'.join(lines)


def run(config, workdir: str) -> dict:
  """`--mode=benchmark`: prints the figures and writes `workdir/benchmark.json`."""
  result = measure(config)
  results_io.show_and_write(format_result(result), workdir, 'benchmark.json', result)
  return result
