"""cuda-convnet's CIFAR-10 nets (cc_11pct, cc_11pct_r540, cc_13pct, cc_18pct) at batch 128: the
alexnet_jax training step against the same nets in PyTorch, eager and torch.compile
(experiments.cuda_convnet_torch; tests/test_cuda_convnet_torch.py proves equal logits
and equal updates), and the input pipeline's batch preparation for the 24x24
cifar-cropped setting.

    python -m experiments.benchmark_cuda_convnet_vs_torch --rounds=7 --calls=5 \
        --out=experiments/results/cuda_convnet_vs_torch

`--frameworks=alexnet_jax` times the JAX step alone and imports no torch, so the same
command compares JAX versions (one Python per version) where torch is not installed.

Everything runs in ONE process and the measurements alternate round by round (in
reverse order every other round), so that drift of a shared machine hits every
framework alike; figures are medians over rounds and ratios are medians of the
same-round ratios. The JAX step is the training loop's: `step_functions.make_train_step` with
`optimizers.create_optimizer` (cuda_convnet_sgd), jitted with the state donated, the
project's XLA:CPU settings applied. torch runs NCHW with `torch.set_num_threads` set to
the machine's cores, as XLA:CPU uses them all. The pipeline figure is
`iterators.TrainIterator.batch` (decode, random 24x24 crop, flip, mean
subtraction for 128 images) on the prepared cifar10 in the TFDS data_dir; seconds per
epoch "with the pipeline" add it serially to each step (what a step costs when the
prefetch thread finds no idle core), "without" is the step alone.
"""

import argparse
import datetime
import os
import statistics
import sys
import time

from alexnet_jax import errors
from alexnet_jax.runtime import startup

XLA_SETTINGS_IN_EFFECT = startup.setup()['xla_settings_in_effect']  # before JAX compiles

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jaxlib  # noqa: E402
import numpy as np  # noqa: E402

from alexnet_jax.config import presets  # noqa: E402
from alexnet_jax.data import iterators
from alexnet_jax.models import alexnet, cuda_convnet
from alexnet_jax.runtime import machine as runtime_machine
from alexnet_jax.runtime import results_io
from alexnet_jax.training import optimizers, step_functions

EPOCH_IMAGES = 50_000
FRAMEWORKS = ('alexnet_jax', 'torch_eager', 'torch_compile')


def cuda_convnet_config(variant, batch_size):
  config = presets.base_config('cuda_convnet')
  config.model.variant = variant
  config.batch_size = batch_size
  return config


def jax_step(config, images, labels):
  """One training step of the training loop as a no-argument call that blocks."""
  variant = config.model.variant
  model = alexnet.create_model(config.model)
  optimizer = optimizers.create_optimizer(config.optimizer, model_variant=variant)
  step = jax.jit(step_functions.make_train_step(model, optimizer), donate_argnums=(0,))
  params = alexnet.init_params(model, jax.random.key(0), images.shape[1:])
  holder = {'state': optimizers.create_train_state(params, optimizer)}
  batch = jax.device_put({'image': images, 'label': labels})
  rng = jax.random.key(1)
  learning_rate = jnp.asarray(config.optimizer.learning_rate, jnp.float32)

  def run():
    holder['state'], metrics = step(holder['state'], batch, rng, learning_rate)
    jax.block_until_ready((holder['state'], metrics))
  return run


def torch_step(config, images, labels, compiled):
  import torch

  from experiments import cuda_convnet_torch
  torch.manual_seed(0)
  net = cuda_convnet_torch.CudaConvnet(config.model.variant)
  optimizer = cuda_convnet_torch.create_optimizer(net, config.optimizer.learning_rate,
                                                  config.optimizer.momentum)
  images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
  labels = torch.from_numpy(labels).long()

  step = cuda_convnet_torch.training_step(net, optimizer, images, labels)
  return torch.compile(step) if compiled else step


def pipeline_batch(config):
  """`TrainIterator.batch` as a call, or (None, why) when cifar10 is not prepared."""
  config = cuda_convnet_config(config.model.variant, config.batch_size)
  config.data.prefetch = 0
  try:
    iterator = iterators.TrainIterator(config)
  except errors.DatasetNotFoundError as error:
    return None, str(error)
  counter = iter(range(10 ** 9))
  return (lambda: iterator.batch(next(counter))), None


def sample_s(fn, calls):
  start = time.perf_counter()
  for _ in range(calls):
    fn()
  return (time.perf_counter() - start) / calls


def alternate_rounds(calls: dict, rounds: int, per_sample: int, after_round=None) -> dict:
  """{key: seconds per call, one sample (the mean of `per_sample` calls) per round}: every
  call once per round, in reverse order every other round, so that drift of a shared
  machine hits each alike; `after_round(index, times)` reports progress."""
  times = {key: [] for key in calls}
  order = list(calls)
  for round_index in range(rounds):
    for key in order if round_index % 2 == 0 else order[::-1]:
      times[key].append(sample_s(calls[key], per_sample))
    if after_round:
      after_round(round_index, times)
  return times


def machine():
  return f'{os.cpu_count()}-core {runtime_machine.cpu_model()}'


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--variants', default='cc_11pct,cc_11pct_r540,cc_13pct,cc_18pct')
  parser.add_argument('--batch_size', type=int, default=128)
  parser.add_argument('--rounds', type=int, default=7)
  parser.add_argument('--calls', type=int, default=5, help='steps per timed sample (their mean)')
  parser.add_argument('--warmup', type=int, default=3)
  parser.add_argument('--frameworks', default=','.join(FRAMEWORKS))
  parser.add_argument('--machine_note', default='',
                      help="e.g. 'shared with two training lanes'")
  parser.add_argument('--out', default='/tmp/cuda_convnet_vs_torch')
  args = parser.parse_args(argv)
  variants, frameworks = args.variants.split(','), args.frameworks.split(',')
  for flag, given, known in (('--variants', variants, tuple(cuda_convnet.NETS)),
                             ('--frameworks', frameworks, FRAMEWORKS)):
    unknown = [name for name in given if name not in known]
    if unknown:
      parser.error(f'{flag}: unknown {",".join(unknown)}; choose from {",".join(known)}')
  torch = None
  if any(name.startswith('torch') for name in frameworks):
    import torch
    torch.set_num_threads(os.cpu_count())

  rng = np.random.default_rng(0)
  images = np.asarray(rng.normal(0, 50, (args.batch_size, 24, 24, 3)), np.float32)
  labels = np.asarray(rng.integers(0, 10, args.batch_size), np.int32)
  calls, compile_s = {}, {}
  for variant in variants:
    config = cuda_convnet_config(variant, args.batch_size)
    makers = {'alexnet_jax': lambda: jax_step(config, images, labels),
              'torch_eager': lambda: torch_step(config, images, labels, compiled=False),
              'torch_compile': lambda: torch_step(config, images, labels, compiled=True)}
    for name in frameworks:
      start = time.perf_counter()
      fn = makers[name]()
      for _ in range(args.warmup):
        fn()
      compile_s[variant, name] = time.perf_counter() - start
      calls[variant, name] = fn
      print(f'{variant} {name}: built and warmed up in {compile_s[variant, name]:.1f} s', flush=True)
  prepare, pipeline_note = pipeline_batch(cuda_convnet_config(variants[0], args.batch_size))
  if prepare is None:
    print(f'input pipeline not measured: {pipeline_note}', flush=True)
  else:
    for _ in range(2):
      prepare()
    calls['pipeline', 'batch'] = prepare

  load_before = os.getloadavg()
  times = alternate_rounds(calls, args.rounds, args.calls, lambda index, times: print(
      f'round {index + 1}/{args.rounds}: ' + ', '.join(
          f'{v}/{f} {times[v, f][-1] * 1e3:.1f}' for v, f in times) + ' ms', flush=True))
  load_after = os.getloadavg()

  pipeline_s = statistics.median(times['pipeline', 'batch']) if prepare else None
  results = {}
  for variant in variants:
    entry = {}
    for name in frameworks:
      step_s = statistics.median(times[variant, name])
      entry[name] = {
          'step_ms': step_s * 1e3, 'step_ms_rounds': [t * 1e3 for t in times[variant, name]],
          'images_per_s': args.batch_size / step_s,
          'epoch_s': EPOCH_IMAGES / args.batch_size * step_s,
          'epoch_s_with_pipeline': (EPOCH_IMAGES / args.batch_size * (step_s + pipeline_s)
                                    if pipeline_s else None),
          'build_and_warmup_s': compile_s[variant, name]}
    if 'alexnet_jax' in frameworks:
      entry['speedup_of_jax'] = {
          name: statistics.median(b / a for a, b in zip(times[variant, 'alexnet_jax'],
                                                        times[variant, name]))
          for name in frameworks if name != 'alexnet_jax'}
      if pipeline_s:
        entry['speedup_of_jax_with_pipeline'] = {
            name: (entry[name]['step_ms'] / 1e3 + pipeline_s)
            / (entry['alexnet_jax']['step_ms'] / 1e3 + pipeline_s)
            for name in frameworks if name != 'alexnet_jax'}
    results[variant] = entry

  report = {
      'date_utc': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'machine': machine() + (f', {args.machine_note}' if args.machine_note else ''),
      'load_average_1_5_15_before': load_before, 'load_average_1_5_15_after': load_after,
      'jax_version': jax.__version__, 'jaxlib_version': jaxlib.__version__,
      'torch_version': torch and torch.__version__,
      'torch_threads': torch and torch.get_num_threads(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''), 'xla_settings_in_effect': XLA_SETTINGS_IN_EFFECT,
      'batch_size': args.batch_size, 'image_size': 24, 'dtype': 'float32',
      'rounds': args.rounds, 'calls_per_sample': args.calls, 'epoch_images': EPOCH_IMAGES,
      'method': 'one process; each sample the mean of `calls` steps (wall clock, blocking); '
                'every framework and the pipeline once per round, in reverse order every '
                'other round; medians over rounds; speedups the median of same-round ratios',
      'pipeline': ({'batch_ms': pipeline_s * 1e3,
                    'batch_ms_rounds': [t * 1e3 for t in times['pipeline', 'batch']],
                    'what': 'iterators.TrainIterator.batch, cifar10 train, 24x24 random '
                            'crop + flip + cuda_convnet normalization, no prefetch'}
                   if pipeline_s else {'skipped': pipeline_note}),
      'results': results, 'command': ' '.join(sys.argv),
  }
  os.makedirs(args.out, exist_ok=True)
  path = os.path.join(args.out, 'results.json')
  results_io.write_json_atomic(path, report)
  print("\n| variant | framework | ms/step | images/s | s/epoch | s/epoch with pipeline "
        "| JAX speedup |\n|---|---|---|---|---|---|---|")
  for variant, entry in results.items():
    for name in frameworks:
      r = entry[name]
      speedup = entry.get('speedup_of_jax', {}).get(name)
      with_pipeline = r['epoch_s_with_pipeline']
      print(f"| {variant} | {name} | {r['step_ms']:.1f} | {r['images_per_s']:.0f} | "
            f"{r['epoch_s']:.1f} | {'' if with_pipeline is None else f'{with_pipeline:.1f}'} | "
            f"{'' if speedup is None else f'{speedup:.2f}x'} |")
  if pipeline_s:
    print(f'pipeline: {pipeline_s * 1e3:.1f} ms per batch of {args.batch_size}')
  print(f'load average before {load_before}, after {load_after}; wrote {path}')
  return report


if __name__ == '__main__':
  main()
