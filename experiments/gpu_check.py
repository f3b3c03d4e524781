"""The GPU check: training throughput of cuda-convnet's CIFAR-10 nets and the paper net on
one GPU, alexnet_jax against the same nets in PyTorch, in one command of a few minutes.

    python -m experiments.gpu_check --out=DIR      # writes DIR/gpu_check.json, DIR/gpu_check.md

What it measures (images/s of training, batch 128 unless said; synthetic CIFAR-shaped
uint8 data, 50,000 images, so that the GPU machine needs neither TensorFlow nor the
dataset; the report records whether TensorFlow or TFDS was imported by the first group's
JAX part (before torch.compile, which probes for them) and by the end, and
tests/test_gpu_check.py checks that neither was):

* per cuda-convnet net (cc_11pct, cc_13pct, cc_18pct):
  - `jax_host_fed`: the training loop's host path: input_pipeline.TrainBatches makes each
    batch on the host (random 24x24 crops, flips, mean subtraction) in a thread two
    batches ahead, and every step is one dispatch with its batch sent over;
  - `jax_on_device_k1`: data/device_data.py, the images on the GPU, each batch cut and
    augmented inside the step, one step per dispatch;
  - `jax_on_device_kK`: the same with K steps per dispatch (a lax.scan; --steps_per_dispatch);
  - `jax_step`: the step alone on one fixed batch already on the device (no data work);
  - `torch_eager`, `torch_compile`: experiments/cuda_convnet_torch.py's nets (equal
    logits and updates: tests/test_cuda_convnet_torch.py), channels-last, on one fixed
    batch already on the GPU (no data work: torch's figures carry none of it);
* the paper net at batch 128 and 256: `jax_step` against `torch_eager` and
  `torch_compile` (experiments/benchmark_vs_torch.torch_alexnet, channels-last).

Precision, equal on both sides: float32 parameters and activations; JAX at its default
matmul precision, with which XLA:GPU runs float32 convolutions and matmuls on TF32 tensor
cores; torch with `allow_tf32` on for cuBLAS and cuDNN. Both records say so. The share of
peak is the training FLOPs (3x the forward pass's 2 x MACs, summary.layer_table) per
second over the GPU's dense TF32 tensor peak (PEAK_TF32, when the GPU is known).

Each figure is the throughput of a timed window of at least --min_time seconds after
warm-up (compilation) calls, ended by a device synchronization. A --budget_s deadline
skips (and records as skipped) what would run past it. The groups run in the order of the
goals they serve (the first net, then the paper net at its first batch, then the rest), and
the JSON and Markdown are rewritten after each (`"complete": false` until the last), so a
command stopped at the device's time limit still brings back what it measured.
"""

import argparse
import datetime
import functools
import json
import os
import platform
import subprocess
import sys
import time

from alexnet_jax.runtime import startup  # noqa: E402

startup.setup()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jaxlib  # noqa: E402
import numpy as np  # noqa: E402

from alexnet_jax import summary  # noqa: E402
from alexnet_jax.config import default, presets  # noqa: E402
from alexnet_jax.data import device_data, input_pipeline, iterators  # noqa: E402
from alexnet_jax.devices import parallel  # noqa: E402
from alexnet_jax.models import alexnet  # noqa: E402
from alexnet_jax.runtime import machine, results_io  # noqa: E402
from alexnet_jax.training import optimizers, step_functions  # noqa: E402

NETS = ('cc_11pct', 'cc_13pct', 'cc_18pct')
# Dense TF32 tensor-core peaks (FLOP/s), NVIDIA's datasheets (SXM parts; half the
# "with sparsity" figure).
PEAK_TF32 = {'H200': 494.7e12, 'H100': 494.7e12, 'A100': 156e12}


class Deadline:
  def __init__(self, budget_s):
    self.end = time.monotonic() + budget_s

  def passed(self):
    return time.monotonic() > self.end


def timed(run, images_per_call, sync, min_time, warmup=2):
  """Images/s of `run()` over a window of >= min_time s (and >= 3 calls) after warm-up."""
  for _ in range(warmup):
    run()
  sync()
  calls, start = 0, time.perf_counter()
  while calls < 3 or time.perf_counter() - start < min_time:
    run()
    calls += 1
  sync()
  elapsed = time.perf_counter() - start
  return {'images_per_s': calls * images_per_call / elapsed, 'calls': calls,
          'seconds': elapsed}


# -- JAX ---------------------------------------------------------------------


def cuda_convnet_config(variant, batch_size):
  config = presets.base_config('cuda_convnet')
  config.model.variant = variant
  config.batch_size = batch_size
  return config


def synthetic_cifar(examples, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.integers(0, 256, (examples, 32, 32, 3), dtype=np.uint8),
          rng.integers(0, 10, examples).astype(np.int32))


def statistics_of(images):
  """What input_pipeline.dataset_statistics computes, from the arrays (pixels in [0, 1])."""
  sample = images[:10000].astype(np.float64) / 255.0
  pixels = sample.reshape(-1, 3)
  eigval, eigvec = np.linalg.eigh(np.cov(pixels.T))
  order = np.argsort(eigval)[::-1]
  return {'pixel_mean': sample.mean(0).tolist(), 'channel_mean': pixels.mean(0).tolist(),
          'eigval': eigval[order].tolist(), 'eigvec': eigvec[:, order].tolist()}


class JaxTrainer:
  """The training loop's compiled pieces for `config` on one device."""

  def __init__(self, config, image_shape):
    self.config = config
    self.placement = parallel.Placement(parallel.layout_from_config(config, 1))
    self.compiled = step_functions.CompiledSteps(config, self.placement)
    params = alexnet.init_params(alexnet.create_model(config.model), jax.random.key(0),
                                 image_shape)
    self.state = self.placement.put_tree(
        optimizers.create_train_state(params, self.compiled.optimizer))
    self.rng = jax.random.key(1)
    self.rate = config.optimizer.learning_rate
    self.step = 0

  def sync(self):
    jax.block_until_ready(self.state)

  def fixed_batch(self, batch):
    device_batch = self.placement.put_batch(batch)
    rate = jnp.asarray(self.rate, jnp.float32)

    def run():
      self.state, _ = self.compiled.train_step(self.state, device_batch, self.rng, rate)
    return run

  def host_fed(self, batches):
    """One dispatch per step, batches made ahead by the training loop's iterator (its
    prefetch thread, config.data.prefetch batches ahead)."""
    ahead = iterators.TrainIterator(self.config, batches=batches)

    def run():
      self.state, _ = self.compiled.train(self.state, next(ahead), self.rng, self.rate)
    return run, ahead.close

  def on_device(self, data, steps):
    rates = [self.rate] * steps

    def run():
      self.state, _ = self.compiled.train_on_device(self.state, data, self.step, self.rng,
                                                    rates)
      self.step += steps
    return run


def jax_cuda_convnet(variant, args, images, labels, stats, deadline, rows):
  config = cuda_convnet_config(variant, args.batch_size)
  config.data.on_device = True
  shape = (config.data.image_size, config.data.image_size, 3)
  batch = args.batch_size
  source = input_pipeline.ArraySource(images, labels)
  preprocessor = input_pipeline.Preprocessor(config, stats)

  def record(path, measure, per_call):
    if deadline.passed():
      rows.append({'net': variant, 'batch': batch, 'path': path, 'skipped': 'budget'})
      return
    trainer = JaxTrainer(config, shape)
    run, cleanup = measure(trainer)
    try:
      result = timed(run, per_call, trainer.sync, args.min_time)
    finally:
      cleanup()
    rows.append({'net': variant, 'batch': batch, 'path': path, **result})
    print(f'{variant} b{batch} {path}: {result["images_per_s"]:,.0f} images/s', flush=True)

  host_batches = input_pipeline.TrainBatches(config, stats=stats, source=source)
  fixed = host_batches(0)
  k = args.steps_per_dispatch

  def device_data_for(trainer, steps):
    replicated = jax.sharding.NamedSharding(trainer.placement.mesh, jax.sharding.PartitionSpec())
    return device_data.DeviceData(config, images, labels, preprocessor,
                                  lambda tree: jax.device_put(tree, replicated),
                                  steps_per_dispatch=steps)

  record('jax_step', lambda t: (t.fixed_batch(fixed), lambda: None), batch)
  record('jax_host_fed', lambda t: t.host_fed(host_batches), batch)
  record('jax_on_device_k1', lambda t: (t.on_device(device_data_for(t, 1), 1), lambda: None),
         batch)
  record(f'jax_on_device_k{k}', lambda t: (t.on_device(device_data_for(t, k), k),
                                           lambda: None), batch * k)


def jax_paper(batch, args, deadline, rows):
  if deadline.passed():
    rows.append({'net': 'paper', 'batch': batch, 'path': 'jax_step', 'skipped': 'budget'})
    return
  config = default.get_config('paper')
  config.batch_size = batch
  size = config.data.image_size
  trainer = JaxTrainer(config, (size, size, 3))
  rng = np.random.default_rng(0)
  run = trainer.fixed_batch({'image': rng.normal(size=(batch, size, size, 3)).astype(np.float32),
                             'label': (np.arange(batch) % 1000).astype(np.int32)})
  result = timed(run, batch, trainer.sync, args.min_time)
  rows.append({'net': 'paper', 'batch': batch, 'path': 'jax_step', **result})
  print(f'paper b{batch} jax_step: {result["images_per_s"]:,.0f} images/s', flush=True)


# -- PyTorch -----------------------------------------------------------------


def torch_rows(net_name, batch, args, deadline, rows):
  """torch eager and compiled training steps on one fixed batch on the GPU (or CPU)."""
  if not args.torch_modes:
    return
  try:
    import torch
  except ImportError:
    rows.append({'net': net_name, 'batch': batch, 'path': 'torch', 'skipped': 'no torch'})
    return
  device = 'cuda' if torch.cuda.is_available() else 'cpu'
  torch.backends.cuda.matmul.allow_tf32 = True
  torch.backends.cudnn.allow_tf32 = True
  torch.backends.cudnn.benchmark = True
  for mode in args.torch_modes:
    path = f'torch_{mode}'
    if deadline.passed():
      rows.append({'net': net_name, 'batch': batch, 'path': path, 'skipped': 'budget'})
      continue
    torch.manual_seed(0)
    from experiments import cuda_convnet_torch  # deferred: imports torch
    if net_name == 'paper':
      from experiments.benchmark_vs_torch import torch_alexnet
      net = torch_alexnet().to(device).to(memory_format=torch.channels_last)
      optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
      size, classes = 227, 1000
    else:
      net = cuda_convnet_torch.CudaConvnet(net_name).to(device).to(
          memory_format=torch.channels_last)
      optimizer = cuda_convnet_torch.create_optimizer(net, 0.001, 0.9)
      size, classes = 24, 10
    images = torch.randn(batch, 3, size, size, device=device).to(
        memory_format=torch.channels_last)
    labels = torch.randint(0, classes, (batch,), device=device)

    step = cuda_convnet_torch.training_step(net, optimizer, images, labels)
    run = step if mode == 'eager' else torch.compile(step, mode=None if mode == 'compile'
                                                     else mode.replace('_', '-'))
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    result = timed(run, batch, sync, args.min_time, warmup=3)
    rows.append({'net': net_name, 'batch': batch, 'path': path, **result})
    print(f'{net_name} b{batch} {path}: {result["images_per_s"]:,.0f} images/s', flush=True)


# -- the report --------------------------------------------------------------


def environment():
  info = {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
          'python': platform.python_version(), 'jax': jax.__version__,
          'jaxlib': jaxlib.__version__,
          'backend': jax.default_backend(), 'device_kind': jax.devices()[0].device_kind,
          'host_cpu': machine.cpu_model(), 'host_cpus': os.cpu_count(),
          'precision': 'float32 parameters and activations; JAX default matmul precision '
                       '(TF32 tensor cores on XLA:GPU); torch allow_tf32 on (cuBLAS, cuDNN)'}
  try:
    smi = subprocess.run(['nvidia-smi', '--query-gpu=name,driver_version,memory.total',
                          '--format=csv,noheader'], capture_output=True, text=True, timeout=30)
    info['nvidia_smi'] = smi.stdout.strip()
  except (OSError, subprocess.SubprocessError):
    info['nvidia_smi'] = None
  try:
    import torch
    info['torch'] = torch.__version__
    info['torch_cuda'] = torch.version.cuda
    info['cudnn'] = torch.backends.cudnn.version()
  except ImportError:
    info['torch'] = None
  return info


@functools.lru_cache(maxsize=None)  # the report is rewritten after every group
def flops_per_image(net, batch):
  if net == 'paper':
    config = default.get_config('paper')
  else:
    config = cuda_convnet_config(net, batch)
  return 3 * 2 * summary.layer_table(config)['total_macs']


def imported_tensorflow():
  return sorted(name for name in ('tensorflow', 'tensorflow_datasets') if name in sys.modules)


def write_report(out, environment_info, rows, args, argv, complete):
  """gpu_check.json and .md from the rows so far, each replaced whole (a command killed
  at its time limit still brings back every group it finished)."""
  peak = peak_of(environment_info['device_kind'])
  best_torch = {}
  for row in rows:
    if 'skipped' in row:
      continue
    row['flops_per_image'] = flops_per_image(row['net'], row['batch'])
    row['share_of_peak'] = (row['images_per_s'] * row['flops_per_image'] / peak if peak
                            else None)
    if row['path'].startswith('torch'):
      key = f"{row['net']}/{row['batch']}"
      best_torch[key] = max(best_torch.get(key, 0.0), row['images_per_s'])
  report = {'environment': environment_info, 'peak_tf32_flops': peak, 'rows': rows,
            'best_torch': best_torch, 'complete': complete,
            'argv': sys.argv[1:] if argv is None else list(argv),
            'settings': {k: v for k, v in vars(args).items() if k != 'out'}}
  results_io.write_json_atomic(os.path.join(out, 'gpu_check.json'), report)
  results_io.write_text_atomic(os.path.join(out, 'gpu_check.md'), markdown(report))
  return report


def peak_of(device_kind):
  return next((peak for name, peak in PEAK_TF32.items() if name in device_kind), None)


def markdown(report):
  env = report['environment']
  lines = [f"# GPU check, {env['date']}", '',
           f"{env.get('nvidia_smi') or env['device_kind']}; jax {env['jax']} "
           f"({env['backend']}), torch {env.get('torch')} (CUDA {env.get('torch_cuda')}, "
           f"cuDNN {env.get('cudnn')}), Python {env['python']}. {env['precision']}.", '',
           '| net | batch | path | images/s | x best torch | share of TF32 peak |',
           '| --- | ---: | --- | ---: | ---: | ---: |']
  for row in report['rows']:
    if 'skipped' in row:
      lines.append(f"| {row['net']} | {row['batch']} | {row['path']} | skipped "
                   f"({row['skipped']}) | | |")
      continue
    torch_best = report['best_torch'].get(f"{row['net']}/{row['batch']}")
    ratio = f"{row['images_per_s'] / torch_best:.2f}" if torch_best else ''
    share = f"{row['share_of_peak']:.1%}" if row.get('share_of_peak') is not None else ''
    lines.append(f"| {row['net']} | {row['batch']} | {row['path']} | "
                 f"{row['images_per_s']:,.0f} | {ratio} | {share} |")
  if not report.get('complete', True):
    lines += ['', 'Partial: the command ended (or was stopped) before the rows above were all '
              'measured.']
  lines += ['', 'Command: `python -m experiments.gpu_check ' + ' '.join(report['argv']) + '`']
  return '\n'.join(lines) + '\n'


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--out', required=True, help='folder for gpu_check.json and .md')
  parser.add_argument('--nets', default=','.join(NETS))
  parser.add_argument('--batch_size', type=int, default=128)
  parser.add_argument('--paper_batches', default='128,256', help="'' to skip the paper net")
  parser.add_argument('--steps_per_dispatch', type=int, default=100)
  parser.add_argument('--examples', type=int, default=50000, help='synthetic training images')
  parser.add_argument('--torch_modes', default='eager,compile',
                      help='eager, compile, reduce_overhead, max_autotune (comma-separated)')
  parser.add_argument('--min_time', type=float, default=2.0, help='seconds per timed window')
  parser.add_argument('--budget_s', type=float, default=420.0,
                      help='skip what starts after this many seconds')
  args = parser.parse_args(argv)
  args.torch_modes = [m for m in args.torch_modes.split(',') if m]
  nets = [n for n in args.nets.split(',') if n]
  unknown = [n for n in nets if n not in NETS]
  if unknown:
    print(f'gpu_check: unknown net {unknown[0]!r}; choose from {", ".join(NETS)}', file=sys.stderr)
    return 2
  paper_batches = [int(b) for b in args.paper_batches.split(',') if b]
  os.makedirs(args.out, exist_ok=True)
  deadline = Deadline(args.budget_s)
  environment_info = environment()
  print(json.dumps(environment_info), flush=True)
  images, labels = synthetic_cifar(args.examples)
  stats = statistics_of(images)
  rows = []
  # The goals' rows first (the first cuda-convnet net, cc_11pct by default, and the paper
  # net at its first batch), each JAX path beside PyTorch's, so that the budget or a killed
  # command cuts the least important rows; the report is rewritten after each group.
  cc = [(net, args.batch_size) for net in nets]
  paper = [('paper', batch) for batch in paper_batches]
  for net, batch in cc[:1] + paper[:1] + cc[1:] + paper[1:]:
    if net == 'paper':
      jax_paper(batch, args, deadline, rows)
    else:
      jax_cuda_convnet(net, args, images, labels, stats, deadline, rows)
    if 'jax_part_imported' not in environment_info:
      # Before the first torch.compile, whose compiler probes for TensorFlow among others.
      environment_info['jax_part_imported'] = imported_tensorflow()
    torch_rows(net, batch, args, deadline, rows)
    write_report(args.out, environment_info, rows, args, argv, complete=False)
  environment_info['imported_at_end'] = imported_tensorflow()
  report = write_report(args.out, environment_info, rows, args, argv, complete=True)
  print(markdown(report), flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
