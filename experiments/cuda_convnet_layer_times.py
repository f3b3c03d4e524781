"""Per-layer training cost of cuda-convnet's CIFAR-10 nets, each layer compiled alone, in
JAX and in PyTorch (eager and torch.compile), at the shapes of one batch.

    python -m experiments.cuda_convnet_layer_times --variant=cc_18pct --rounds=5 --calls=10 \
        --out=experiments/results/cuda_convnet_layer_times

Why: under XLA:CPU's thunk runtime a profiler trace gives each convolution its launch
only (experiments/profile_step.py), so a training step's time cannot be split by layer
from a trace. Here every layer of the file is its own program: its forward, and the
gradient of sum(y * g) for a fixed random g (forward and backward), with respect to its
parameters and, but for the first layer (training needs no gradient for the images), its
input. JAX runs `cuda_convnet.LayerRange` (the model's own layer code) jitted; torch the
same layer of experiments.cuda_convnet_torch (its ReLU included), NCHW, with
`torch.set_num_threads` at the machine's cores as XLA:CPU uses them all. Everything runs in
one process and alternates round by round (reversed every other round); figures are medians
over rounds. The layers' sum exceeds a whole step by what fusion across layers and the update
save: compare layers, not totals. `--frameworks=jax` or `--frameworks=torch_eager,torch_compile`
times one side per process; a process's figures can sit well apart from the next one's on
the same machine (docs/performance_log.md, 2026-12-07), so repeat a run before reading a
difference of a few tens of percent.
"""

import argparse
import datetime
import os
import statistics
import sys

from alexnet_jax.runtime import startup

XLA_SETTINGS_IN_EFFECT = startup.setup()['xla_settings_in_effect']  # before JAX compiles

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from alexnet_jax.models import cuda_convnet  # noqa: E402
from alexnet_jax.runtime import results_io  # noqa: E402
from experiments import benchmark_cuda_convnet_vs_torch  # noqa: E402

FRAMEWORKS = ('jax', 'torch_eager', 'torch_compile')


def jax_layer_calls(variant: str, index: int, x, cotangent_key):
  """(forward, forward and backward, output) of layer `index` alone: no-argument calls
  that block, and the layer's output for the next layer's input."""
  module = cuda_convnet.LayerRange(variant=variant)
  params = module.init(jax.random.key(index), x, index, index + 1).get('params', {})
  forward = jax.jit(lambda p, x: module.apply({'params': p}, x, index, index + 1))
  y = forward(params, x)
  g = jax.random.normal(cotangent_key, y.shape, y.dtype)
  wrt = (0,) if index == 0 else (0, 1)
  # g is an argument, as the next layer's gradient is in training: closed over, it is a
  # constant that XLA may lay out ahead of time (conv1's weight gradient ran 3x faster so).
  gradient = jax.jit(jax.grad(lambda p, x, g: jnp.vdot(forward(p, x), g), argnums=wrt))
  return ((lambda: jax.block_until_ready(forward(params, x))),
          (lambda: jax.block_until_ready(gradient(params, x, g))), y)


def torch_layer_call(net, name: str, x, compiled: bool):
  """Forward and backward of layer `name` (and its ReLU) of the torch net `net`
  (experiments.cuda_convnet_torch.CudaConvnet) on NHWC array `x`."""
  import torch

  modules = [module for key, module in net.layers.named_children()
             if key in (name, f'{name}_relu')]
  layer = torch.nn.Sequential(*modules)
  inputs = torch.from_numpy(np.asarray(x)).permute(0, 3, 1, 2).contiguous()
  first = name == cuda_convnet.NETS[net.variant].layers[0].name
  inputs.requires_grad_(not first)
  g = torch.randn_like(layer(inputs))

  def step():
    (layer(inputs) * g).sum().backward()
  return torch.compile(step) if compiled else step


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--variant', default='cc_18pct', choices=tuple(cuda_convnet.NETS))
  parser.add_argument('--batch_size', type=int, default=128)
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--calls', type=int, default=10, help='calls per timed sample (their mean)')
  parser.add_argument('--warmup', type=int, default=3)
  parser.add_argument('--frameworks', default=','.join(FRAMEWORKS))
  parser.add_argument('--out', default='/tmp/cuda_convnet_layer_times')
  args = parser.parse_args(argv)
  frameworks = args.frameworks.split(',')
  unknown = sorted(set(frameworks) - set(FRAMEWORKS))
  if unknown or not frameworks:
    parser.error(f'--frameworks: {",".join(unknown) or "none"}; choose from '
                 f'{",".join(FRAMEWORKS)}')
  torch_net = None
  if any(name.startswith('torch') for name in frameworks):
    import torch

    from experiments import cuda_convnet_torch
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    torch_net = cuda_convnet_torch.CudaConvnet(args.variant)

  net = cuda_convnet.NETS[args.variant]
  x = jnp.asarray(np.random.default_rng(0).normal(0, 50, (args.batch_size, net.image_size,
                                                          net.image_size, 3)), jnp.float32)
  calls, layers = {}, []
  for index, layer in enumerate(net.layers):
    forward, train, y = jax_layer_calls(args.variant, index, x, jax.random.key(100 + index))
    if 'jax' in frameworks:
      calls[layer.name, 'jax_forward'], calls[layer.name, 'jax'] = forward, train
    for name in (name for name in frameworks if name != 'jax'):
      calls[layer.name, name] = torch_layer_call(torch_net, layer.name, x,
                                                 compiled=name == 'torch_compile')
    layers.append({'name': layer.name, 'kind': cuda_convnet.kind(layer),
                   'input_shape': list(x.shape[1:]), 'output_shape': list(y.shape[1:])})
    x = y
  for key, fn in calls.items():
    for _ in range(args.warmup):
      fn()
  print(f'{args.variant}: {len(layers)} layers x {len(calls) // len(layers)} calls built',
        flush=True)

  load_before = os.getloadavg()
  times = benchmark_cuda_convnet_vs_torch.alternate_rounds(
      calls, args.rounds, args.calls,
      lambda index, _: print(f'round {index + 1}/{args.rounds}', flush=True))
  load_after = os.getloadavg()

  for layer in layers:
    layer['ms'] = {kind: statistics.median(times[layer['name'], kind]) * 1e3
                   for (name, kind) in calls if name == layer['name']}
  totals = {kind: sum(layer['ms'][kind] for layer in layers) for kind in layers[0]['ms']}
  import jaxlib
  report = {
      'date_utc': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'machine': benchmark_cuda_convnet_vs_torch.machine(),
      'load_average_1_5_15_before': load_before, 'load_average_1_5_15_after': load_after,
      'jax_version': jax.__version__, 'jaxlib_version': jaxlib.__version__,
      'torch_version': (sys.modules['torch'].__version__ if 'torch' in sys.modules else None),
      'xla_settings_in_effect': XLA_SETTINGS_IN_EFFECT,
      'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY', ''),
      'variant': args.variant, 'batch_size': args.batch_size, 'rounds': args.rounds,
      'calls_per_sample': args.calls,
      'what': "'jax_forward': the layer's forward; the others its forward and backward "
              '(gradient of sum(y * g) w.r.t. parameters and input, not the input of the first '
              'layer); ms, medians over rounds',
      'layers': layers, 'totals_ms': totals, 'command': ' '.join(sys.argv),
  }
  os.makedirs(args.out, exist_ok=True)
  path = os.path.join(args.out, f'{args.variant}.json')
  results_io.write_json_atomic(path, report)
  kinds = list(totals)
  ratios = [name for name in ('torch_eager', 'torch_compile') if name in kinds and 'jax' in kinds]
  print(f"\n| layer | output | {' | '.join(kinds)} |"
        + ''.join(f' jax / {name} |' for name in ratios)
        + '\n|' + '---|' * (2 + len(kinds) + len(ratios)))
  for layer in layers + [{'name': 'sum', 'output_shape': [], 'ms': totals}]:
    ratio = ''.join(f" {layer['ms']['jax'] / layer['ms'][name]:.2f} |" for name in ratios)
    print(f"| {layer['name']} | {'x'.join(map(str, layer['output_shape']))} | "
          + ' | '.join(f"{layer['ms'][kind]:.2f}" for kind in kinds) + ' |' + ratio)
  print(f'load average before {load_before}, after {load_after}; wrote {path}')
  return report


if __name__ == '__main__':
  main()
