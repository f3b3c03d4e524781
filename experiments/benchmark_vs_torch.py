"""alexnet_jax against PyTorch on the same machine: the paper's two-column net, 227x227,
float32, forward and full training step (forward, backward, SGD-momentum update with
weight decay), images/s, ratios, peak memory, and each figure as a fraction of the
machine's measured float32 matrix-multiply peak.

    python -m experiments.benchmark_vs_torch --out=experiments/results/vs_torch_cpu
    python -m experiments.benchmark_vs_torch --tiny --out=/tmp/vs_torch   # seconds; CI

Every measurement runs in its own subprocess (so peak memory is that framework's alone),
and the frameworks alternate round by round so that drift of the machine (other tenants,
thermal state) hits both. The JAX figure is exactly `--mode=benchmark`'s measurement
(alexnet_jax.benchmark.measure). The PyTorch net is built here: grouped convolutions for
conv2/4/5 (groups=2, the columns), `nn.LocalResponseNorm` with the paper's constants
converted by `lrn.to_torch`, dropout on fc6/fc7 outputs, channels_last, eager and
`torch.compile`. PyTorch is optional: without it only the JAX side and the GEMM peak
are measured. Writes `benchmark_vs_torch.json` and `benchmark_vs_torch.md` in --out.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from alexnet_jax.runtime.timing import time_calls

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------
# Workers (one measurement per process).
# ---------------------------------------------------------------------------


def _peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_gemm(size, steps, library):
  """The best of `steps` float32 size^3 matrix products in `library` (jax | torch)."""
  if library == 'torch':
    import torch
    a, b = torch.randn(size, size), torch.randn(size, size)
    matmul = lambda: torch.mm(a, b)  # noqa: E731
  else:
    import jax
    import jax.numpy as jnp
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
    product = jax.jit(jnp.dot)
    matmul = lambda: product(a, b).block_until_ready()  # noqa: E731
  best = time_calls(matmul, warmup_steps=1, steps=steps)['min_s']
  return {'size': size, 'library': library, 'best_s': best,
          'gflops_per_s': 2 * size ** 3 / best / 1e9}


def worker_jax(batch_size, image_size, steps, warmup):
  from alexnet_jax import benchmark
  from configs import benchmark as benchmark_config
  config = benchmark_config.get_config()
  config.benchmark.batch_size = batch_size
  config.benchmark.steps = steps
  config.benchmark.warmup_steps = warmup
  config.data.image_size = image_size
  result = benchmark.measure(config)
  return {'forward_s': result['forward']['median_s'], 'train_step_s': result['train_step']['median_s'],
          'forward_std_s': result['forward']['std_s'], 'train_step_std_s': result['train_step']['std_s'],
          'macs_per_image': result['macs_per_image'], 'version': result['jax_version'],
          'host_memory_retained': result['host_memory_retained'],
          'xla_flags': result['xla_flags'], 'conv_chunk': result['conv_chunk'],
          'xla_cpu_settings_applied': result['xla_cpu_settings_applied'],
          'jaxlib_version': __import__('jaxlib').__version__}


def torch_alexnet(num_classes=1000):
  """The paper's network in PyTorch: two columns as groups=2 convolutions."""
  import torch.nn as nn

  from alexnet_jax.ops import lrn
  lrn_args = lrn.to_torch(lrn.LRNParams())
  return nn.Sequential(
      nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.LocalResponseNorm(**lrn_args),
      nn.MaxPool2d(3, 2),
      nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), nn.LocalResponseNorm(**lrn_args),
      nn.MaxPool2d(3, 2),
      nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
      nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
      nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),
      nn.Flatten(),
      nn.Linear(256 * 6 * 6, 4096), nn.ReLU(), nn.Dropout(0.5),
      nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
      nn.Linear(4096, num_classes),
  )


def worker_torch(batch_size, image_size, steps, warmup, compiled):
  import torch

  from alexnet_jax.runtime import host_memory
  retained = host_memory.retain_freed_memory()  # the same allocator setting as the JAX side
  torch.manual_seed(0)
  model = torch_alexnet().to(memory_format=torch.channels_last)
  optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
  images = torch.randn(batch_size, 3, image_size, image_size).to(memory_format=torch.channels_last)
  labels = torch.randint(0, 1000, (batch_size,))
  loss_fn = torch.nn.CrossEntropyLoss()

  def forward():
    model.eval()
    with torch.no_grad():
      return model(images)

  def train_step():
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss

  if compiled:
    forward = torch.compile(forward)
    train_step = torch.compile(train_step)

  forward_stats = time_calls(forward, warmup_steps=warmup, steps=steps)
  step_stats = time_calls(train_step, warmup_steps=warmup, steps=steps)
  return {'forward_s': forward_stats['median_s'], 'train_step_s': step_stats['median_s'],
          'forward_std_s': forward_stats['std_s'], 'train_step_std_s': step_stats['std_s'],
          'threads': torch.get_num_threads(), 'version': torch.__version__,
          'host_memory_retained': retained}


def run_worker(args):
  if args.worker.startswith('gemm_'):
    result = worker_gemm(args.gemm_size, args.steps, args.worker[len('gemm_'):])
  elif args.worker == 'jax':
    result = worker_jax(args.batch_size, args.image_size, args.steps, args.warmup)
  else:
    result = worker_torch(args.batch_size, args.image_size, args.steps, args.warmup,
                          compiled=args.worker == 'torch_compile')
  result['peak_rss_mb'] = _peak_rss_mb()
  print('RESULT ' + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------
# The driver.
# ---------------------------------------------------------------------------


def spawn(worker, **kwargs):
  command = [sys.executable, '-m', 'experiments.benchmark_vs_torch', f'--worker={worker}']
  command += [f'--{key}={value}' for key, value in kwargs.items()]
  done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
  lines = [l for l in done.stdout.splitlines() if l.startswith('RESULT ')]
  if done.returncode != 0 or not lines:
    raise RuntimeError(f'{worker} failed:\n{done.stderr[-3000:]}')
  return json.loads(lines[-1][len('RESULT '):])


def torch_available() -> bool:
  try:
    import torch  # noqa: F401
    return True
  except ImportError:
    return False


def summarize(runs, macs_per_image, batch_size, peak_gflops):
  """Best median over rounds (the least disturbed round) for each figure."""
  result = {}
  for key in ('forward', 'train_step'):
    seconds = min(run[f'{key}_s'] for run in runs)
    flops = 2.0 * macs_per_image * batch_size * (3 if key == 'train_step' else 1)
    result[key] = {'seconds': seconds, 'images_per_s': batch_size / seconds,
                   'gflops_per_s': flops / seconds / 1e9,
                   'fraction_of_gemm_peak': flops / seconds / 1e9 / peak_gflops,
                   'rounds_s': [run[f'{key}_s'] for run in runs]}
  result['peak_rss_mb'] = max(run['peak_rss_mb'] for run in runs)
  result['version'] = runs[0]['version']
  return result


def markdown(report) -> str:
  lines = [f"Machine: {report['machine']}; {report['date']}; GEMM peak "
           f"{report['gemm']['gflops_per_s']:.0f} GFLOP/s (float32 {report['gemm']['size']}^3, "
           f"{report['gemm']['library']}).",
           'Software: Python {python}, jax {jax} (jaxlib {jaxlib}), torch {torch}; XLA_FLAGS '
           '`{xla_flags}` (project settings in effect: {xla_cpu_settings_applied}).'.format(
               **report['software']),
           '', '| batch | framework | forward img/s | train step img/s | step ms | step / GEMM peak '
           '| peak RSS MB | JAX / this (fwd, step) |', '|---|---|---|---|---|---|---|---|']
  for batch in report['batches']:
    jax_result = batch['frameworks']['alexnet_jax']
    for name, r in batch['frameworks'].items():
      ratio = '' if name == 'alexnet_jax' else (
          f"{jax_result['forward']['images_per_s'] / r['forward']['images_per_s']:.2f}x, "
          f"{jax_result['train_step']['images_per_s'] / r['train_step']['images_per_s']:.2f}x")
      lines.append(f"| {batch['batch_size']} | {name} | {r['forward']['images_per_s']:.1f} | "
                   f"{r['train_step']['images_per_s']:.1f} | {r['train_step']['seconds'] * 1e3:.0f} | "
                   f"{r['train_step']['fraction_of_gemm_peak']:.1%} | {r['peak_rss_mb']:.0f} | {ratio} |")
  return '\n'.join(lines) + '\n'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)
  parser.add_argument('--out', default='/tmp/benchmark_vs_torch')
  parser.add_argument('--batch_sizes', default='32,128')
  parser.add_argument('--batch_size', type=int, default=32, help=argparse.SUPPRESS)
  parser.add_argument('--image_size', type=int, default=227)
  parser.add_argument('--steps', type=int, default=5)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--gemm_size', type=int, default=4096)
  parser.add_argument('--torch_modes', default='eager,compile')
  parser.add_argument('--tiny', action='store_true',
                      help='batch 2, 2 steps, 1 round, eager PyTorch only: proves it runs')
  args = parser.parse_args()
  if args.worker:
    return run_worker(args)
  if args.tiny:
    args.batch_sizes, args.steps, args.warmup, args.rounds = '2', 2, 1, 1
    args.gemm_size, args.torch_modes = 512, 'eager'

  have_torch = torch_available()
  if not have_torch:
    print('PyTorch is not installed: measuring alexnet_jax and the GEMM peak only '
          '(pip install torch for the comparison)', flush=True)
  # The machine's float32 GEMM peak: the faster library's best large product.
  gemms = [spawn(f'gemm_{library}', gemm_size=args.gemm_size, steps=max(args.steps, 3))
           for _ in range(args.rounds) for library in (('jax', 'torch') if have_torch else ('jax',))]
  gemm = dict(max(gemms, key=lambda r: r['gflops_per_s']))
  gemm['all'] = gemms
  print('GEMM: ' + ', '.join(f"{g['library']} {g['gflops_per_s']:.1f}" for g in gemms)
        + ' GFLOP/s', flush=True)
  workers = ['jax'] + ([f'torch_{mode}' for mode in args.torch_modes.split(',')]
                       if have_torch else [])
  names = {'jax': 'alexnet_jax', 'torch_eager': 'torch eager', 'torch_compile': 'torch.compile'}
  batches = []
  for batch_size in (int(b) for b in args.batch_sizes.split(',')):
    runs = {worker: [] for worker in workers}
    for round_index in range(args.rounds):
      for worker in workers:  # alternate frameworks within every round
        run = spawn(worker, batch_size=batch_size, image_size=args.image_size,
                    steps=args.steps, warmup=args.warmup)
        runs[worker].append(run)
        print(f"batch {batch_size} round {round_index + 1}: {names[worker]:<14} forward "
              f"{run['forward_s'] * 1e3:8.1f} ms  train step {run['train_step_s'] * 1e3:8.1f} ms",
              flush=True)
    macs = runs['jax'][0]['macs_per_image']
    batches.append({'batch_size': batch_size, 'frameworks': {
        names[w]: summarize(runs[w], macs, batch_size, gemm['gflops_per_s']) for w in workers}})

  first_jax = batches[0]['frameworks']['alexnet_jax']
  jax_run = runs['jax'][0]
  software = {'python': sys.version.split()[0], 'jax': first_jax['version'],
              'jaxlib': jax_run['jaxlib_version'],
              'torch': (batches[0]['frameworks'].get('torch eager')
                        or batches[0]['frameworks'].get('torch.compile') or {}).get('version'),
              'xla_flags': jax_run['xla_flags'],
              'xla_cpu_settings_applied': jax_run['xla_cpu_settings_applied']}
  report = {'machine': f"{os.cpu_count()} CPUs, {sys.platform}", 'date': time.strftime('%Y-%m-%d'),
            'software': software,
            'image_size': args.image_size, 'dtype': 'float32', 'variant': 'paper',
            'steps': args.steps, 'rounds': args.rounds, 'gemm': gemm, 'batches': batches,
            'command': ' '.join(sys.argv)}
  from alexnet_jax.runtime import results_io
  os.makedirs(args.out, exist_ok=True)
  results_io.write_json_atomic(os.path.join(args.out, 'benchmark_vs_torch.json'), report)
  table = markdown(report)
  results_io.write_text_atomic(os.path.join(args.out, 'benchmark_vs_torch.md'), table)
  print(table)
  print(f"wrote {os.path.join(args.out, 'benchmark_vs_torch.json')} and .md")


if __name__ == '__main__':
  main()
