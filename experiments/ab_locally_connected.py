"""Formulations of the locally-connected layer (alexnet_jax.ops.locally_connected) timed
against each other in one process on XLA:CPU, forward and backward (gradients with
respect to the input and the kernel), jitted, alternated round by round (A, B, C, ...,
then in reverse order) so that the machine's drift hits every formulation alike.

    python -m experiments.ab_locally_connected --out=experiments/results/ab_locally_connected

Shapes: the r540 draft of cuda-convnet's 11pct net (`cc_11pct_r540`) at batch 128,
`[local3]` 6x6x64 -> 32 filters, 3x3, padding 1, and `[local4]` 6x6x32 -> 32, 3x3,
padding 1 (`LAYERS`). Before timing, every formulation's output and both gradients
are checked against the module's `locally_connected`. Each sample records the
wall clock and the process's CPU time (all threads): on a shared machine the CPU
time moves less with other processes' load, which the JSON records too
(load averages before and after). The project's XLA:CPU settings
(alexnet_jax.runtime.xla_flags) are applied, as in main.
"""

import datetime
import json
import os
import platform
import statistics
import sys
import time

from alexnet_jax.runtime import startup

startup.setup()  # before JAX compiles anything

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jaxlib  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from jax import lax  # noqa: E402

from alexnet_jax.ops import locally_connected as lc  # noqa: E402
from alexnet_jax.runtime import machine, results_io  # noqa: E402

# name: (N, H, W, C, F, K, padding)
LAYERS = {
    'local3': (128, 6, 6, 64, 32, 3, 1),
    'local4': (128, 6, 6, 32, 32, 3, 1),
}
NHWC_LOCAL = ('NHWC', 'HWIO', 'NHWC')


def stacked_slices_einsum(x, kernel, padding):
  """The first version: (N, OH, OW, K, K, C) patches from K*K slices (lc.patches), one
  einsum."""
  return jnp.einsum('npqijc,pqijcf->npqf', lc.patches(x, kernel.shape[2], padding), kernel)


def _cij_kernel(kernel):
  """(OH, OW, C*K*K, F): the kernel in the (c, i, j) patch order of lax's patches."""
  out_h, out_w, k, _, c, f = kernel.shape
  return kernel.transpose(0, 1, 4, 2, 3, 5).reshape(out_h, out_w, c * k * k, f)


def lax_local(x, kernel, padding):
  """lax.conv_general_dilated_local, NHWC/HWIO: rhs (OH, OW, C*K*K, F), patch order
  (c, i, j)."""
  k = kernel.shape[2]
  return lax.conv_general_dilated_local(x, _cij_kernel(kernel), (1, 1), [(padding, padding)] * 2,
                                        (k, k), dimension_numbers=NHWC_LOCAL)


def lax_patches_einsum(x, kernel, padding):
  """lax.conv_general_dilated_patches (a depthwise convolution with 0/1 filters) + einsum."""
  k = kernel.shape[2]
  patches = lax.conv_general_dilated_patches(x, (k, k), (1, 1), [(padding, padding)] * 2,
                                             dimension_numbers=NHWC_LOCAL)
  return jnp.einsum('npqd,pqdf->npqf', patches, _cij_kernel(kernel))


def _position_major_patches(x, k, padding, out_h, out_w):
  """(OH*OW, N, K*K*C): the input moved to (H, W, N, C) first, so that the K*K slices
  are stacked with the positions leading and no patch-sized transpose is needed."""
  n, _, _, c = x.shape
  xt = jnp.pad(x.transpose(1, 2, 0, 3), ((padding, padding), (padding, padding), (0, 0), (0, 0)))
  taps = [xt[i:i + out_h, j:j + out_w] for i in range(k) for j in range(k)]
  return jnp.stack(taps, axis=3).reshape(out_h * out_w, n, k * k * c)


def position_bmm(x, kernel, padding):
  """Batched matmul over positions: (OH*OW, N, K*K*C) @ (OH*OW, K*K*C, F)."""
  out_h, out_w, k, _, c, f = kernel.shape
  patches = _position_major_patches(x, k, padding, out_h, out_w)
  y = lax.dot_general(patches, kernel.reshape(out_h * out_w, k * k * c, f),
                      (((2,), (1,)), ((0,), (0,))))
  return y.reshape(out_h, out_w, x.shape[0], f).transpose(2, 0, 1, 3)


def position_bmm_transposed(x, kernel, padding):
  """As position_bmm, the product computed as (OH*OW, F, N) = kernel^T @ patches^T."""
  out_h, out_w, k, _, c, f = kernel.shape
  patches = _position_major_patches(x, k, padding, out_h, out_w)
  y = lax.dot_general(kernel.reshape(out_h * out_w, k * k * c, f), patches,
                      (((1,), (2,)), ((0,), (0,))))
  return y.reshape(out_h, out_w, f, x.shape[0]).transpose(3, 0, 1, 2)


def _gathered_patches(x, k, padding, out_h, out_w):
  """_position_major_patches as one lax.gather: the (N, C) slab at each of the
  (OH, OW, K, K) window taps of the (H, W, N, C) input, in one pass."""
  n, _, _, c = x.shape
  xt = jnp.pad(x.transpose(1, 2, 0, 3), ((padding, padding), (padding, padding), (0, 0), (0, 0)))
  rows = np.arange(out_h)[:, None, None, None] + np.arange(k)[None, None, :, None]
  cols = np.arange(out_w)[None, :, None, None] + np.arange(k)[None, None, None, :]
  starts = np.stack(np.broadcast_arrays(rows, cols), axis=-1).astype(np.int32)
  numbers = lax.GatherDimensionNumbers(offset_dims=(2, 5), collapsed_slice_dims=(0, 1),
                                       start_index_map=(0, 1))
  patches = lax.gather(xt, jnp.asarray(starts), numbers, (1, 1, n, c),
                       mode=lax.GatherScatterMode.PROMISE_IN_BOUNDS)
  return patches.reshape(out_h * out_w, n, k * k * c)


def _bmm(patches, kernel, n):
  out_h, out_w, k, _, c, f = kernel.shape
  y = lax.dot_general(patches, kernel.reshape(out_h * out_w, k * k * c, f),
                      (((2,), (1,)), ((0,), (0,))))
  return y.reshape(out_h, out_w, n, f).transpose(2, 0, 1, 3)


def gather_bmm(x, kernel, padding):
  """position_bmm with the patches from one gather (its gradient a scatter-add)."""
  out_h, out_w, k, _, _, _ = kernel.shape
  return _bmm(_gathered_patches(x, k, padding, out_h, out_w), kernel, x.shape[0])


def _gather_slices_jvp(k, padding, out_h, out_w, primals, tangents):
  (x,), (t,) = primals, tangents
  return (_gathered_patches(x, k, padding, out_h, out_w),
          _position_major_patches(t, k, padding, out_h, out_w))


_gather_slices_patches = jax.custom_jvp(_gathered_patches, nondiff_argnums=(1, 2, 3, 4))
_gather_slices_patches.defjvp(_gather_slices_jvp)


def gather_slices_bmm(x, kernel, padding):
  """gather_bmm whose patches are differentiated as the K*K slices (custom_jvp), so
  that their gradient is pads and adds instead of the gather's scatter-add (the
  formulation alexnet_jax.ops.locally_connected keeps)."""
  out_h, out_w, k, _, _, _ = kernel.shape
  return _bmm(_gather_slices_patches(x, k, padding, out_h, out_w), kernel, x.shape[0])


def tap_sum_bmm(x, kernel, padding):
  """No patches: the sum over the K*K taps of batched matmuls over positions,
  (OH*OW, N, C) @ (OH*OW, C, F) each."""
  out_h, out_w, k, _, _, _ = kernel.shape
  xt = jnp.pad(x.transpose(1, 2, 0, 3), ((padding, padding), (padding, padding), (0, 0), (0, 0)))
  y = sum(jnp.einsum('pqnc,pqcf->pqnf', xt[i:i + out_h, j:j + out_w], kernel[:, :, i, j])
          for i in range(k) for j in range(k))
  return y.transpose(2, 0, 1, 3)


def multiply_reduce(x, kernel, padding):
  """No matmul: broadcast product of patches and kernel, summed (a VPU formulation)."""
  patches = lc.patches(x, kernel.shape[2], padding)
  return jnp.sum(patches[..., None] * kernel[None], axis=(3, 4, 5))


FORMULATIONS = {fn.__name__: fn for fn in (
    stacked_slices_einsum, lax_local, lax_patches_einsum, position_bmm,
    position_bmm_transposed, gather_bmm, gather_slices_bmm, tap_sum_bmm, multiply_reduce)}

flags.DEFINE_integer('rounds', 20, 'Timed rounds; each times every formulation once per layer.')
flags.DEFINE_integer('calls', 5, 'Calls per timed sample (the sample is their mean).')
flags.DEFINE_string('formulations', ','.join(FORMULATIONS), 'Comma-separated names.')
flags.DEFINE_string('layers', ','.join(LAYERS), 'Comma-separated names from LAYERS.')
flags.DEFINE_string('out', None, 'Directory for ab_locally_connected.json (optional).')
FLAGS = flags.FLAGS


def _inputs(layer):
  n, h, w, c, f, k, padding = LAYERS[layer]
  out_h, out_w = lc.output_size(h, k, padding), lc.output_size(w, k, padding)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(n, h, w, c)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(out_h, out_w, k, k, c, f)) * 0.05, jnp.float32)
  cotangent = jnp.asarray(rng.normal(size=(n, out_h, out_w, f)), jnp.float32)
  return x, kernel, cotangent, padding


def _compile(fn, padding, x, kernel, cotangent):
  """Forward+backward and forward alone, jitted and compiled for these arrays."""
  def forward_backward(x, kernel, cotangent):
    y, vjp = jax.vjp(lambda a, b: fn(a, b, padding), x, kernel)
    return (y, *vjp(cotangent))

  step = jax.jit(forward_backward).lower(x, kernel, cotangent).compile()
  forward = jax.jit(lambda a, b: fn(a, b, padding)).lower(x, kernel).compile()
  return step, forward


def _check_same(results, reference, what):
  for got, expected in zip(results, reference):
    scale = float(jnp.max(jnp.abs(expected)))
    error = float(jnp.max(jnp.abs(got - expected)))
    if error > 1e-5 * scale:
      raise AssertionError(f'{what}: max error {error:.3g} against a scale of {scale:.3g}')


def _sample_s(fn, args, calls):
  """(wall, CPU) seconds per call, the mean of `calls` back-to-back calls. The
  process's CPU time (all its threads) is less moved than the wall clock by other
  processes on the machine."""
  wall, cpu = time.perf_counter(), time.process_time()
  for _ in range(calls):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


def _machine():
  return {'cpu': machine.cpu_model(), 'cores': os.cpu_count(), 'platform': platform.platform()}


def main(argv):
  del argv
  names = FLAGS.formulations.split(',')
  layers = FLAGS.layers.split(',')
  unknown = [n for n in names if n not in FORMULATIONS] + [n for n in layers if n not in LAYERS]
  if unknown:
    raise app.UsageError(f'unknown names {unknown}; known: {sorted(FORMULATIONS)}, {sorted(LAYERS)}')
  compiled, args = {}, {}
  for layer in layers:
    x, kernel, cotangent, padding = _inputs(layer)
    args[layer] = {'step': (x, kernel, cotangent), 'forward': (x, kernel)}
    module_step, _ = _compile(lc.locally_connected, padding, x, kernel, cotangent)
    reference = module_step(x, kernel, cotangent)
    for name in names:
      step, forward = _compile(FORMULATIONS[name], padding, x, kernel, cotangent)
      _check_same(step(x, kernel, cotangent), reference, f'{layer} {name}')
      compiled[layer, name] = {'step': step, 'forward': forward}
  for (layer, _), fns in compiled.items():  # warm-up
    for kind, fn in fns.items():
      _sample_s(fn, args[layer][kind], FLAGS.calls)
  load_before = os.getloadavg()
  kinds = {'forward_backward': 'step', 'forward': 'forward'}
  times = {key: {f'{kind}_{clock}_s': [] for kind in kinds for clock in ('wall', 'cpu')}
           for key in compiled}
  order = list(compiled)
  for round_index in range(FLAGS.rounds):
    for key in order if round_index % 2 == 0 else order[::-1]:
      for kind, fn in kinds.items():
        wall, cpu = _sample_s(compiled[key][fn], args[key[0]][fn], FLAGS.calls)
        times[key][f'{kind}_wall_s'].append(wall)
        times[key][f'{kind}_cpu_s'].append(cpu)
    print(f'round {round_index + 1}/{FLAGS.rounds}', flush=True)
  load_after = os.getloadavg()
  report = {
      'date_utc': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'jax_version': jax.__version__, 'jaxlib_version': jaxlib.__version__,
      'backend': jax.default_backend(), 'machine': _machine(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
      'load_average_1_5_15_before': load_before, 'load_average_1_5_15_after': load_after,
      'rounds': FLAGS.rounds, 'calls_per_sample': FLAGS.calls, 'command': ' '.join(sys.argv),
      'method': 'each sample is the mean of `calls` back-to-back calls of the jitted '
                'function, wall clock and the process CPU time (all threads); '
                'formulations alternate within each round, in reverse order every other '
                'round; medians over rounds',
      'layers': {layer: dict(zip(('batch', 'height', 'width', 'channels', 'filters', 'kernel',
                                  'padding'), LAYERS[layer])) for layer in layers},
      'results': {layer: {name: {kind: {'median_s': statistics.median(values),
                                        'min_s': min(values), 'all_s': values}
                                 for kind, values in times[layer, name].items()}
                          for name in names} for layer in layers},
  }
  baseline = names[0]
  report['speedup_over_first'] = {
      'first': baseline,
      'note': 'median over rounds of (first formulation / this one), same round',
      **{layer: {name: {kind: statistics.median(
          b / a for a, b in zip(times[layer, name][kind], times[layer, baseline][kind]))
          for kind in ('forward_backward_wall_s', 'forward_backward_cpu_s')}
          for name in names} for layer in layers}}
  for layer in layers:
    results = report['results'][layer]
    print(f'{layer}, median ms: forward+backward wall, CPU; forward wall, CPU; '
          f'forward+backward speedup over {baseline} (wall, CPU)')
    for name in sorted(names, key=lambda n: results[n]['forward_backward_wall_s']['median_s']):
      print(f'  {name:<26}' + ''.join(
          f" {results[name][f'{kind}_{clock}_s']['median_s'] * 1e3:8.3f}"
          for kind in kinds for clock in ('wall', 'cpu')) + ''.join(
          f'   {report["speedup_over_first"][layer][name][kind]:5.2f}'
          for kind in ('forward_backward_wall_s', 'forward_backward_cpu_s')))
  print(f'load average before {load_before}, after {load_after}')
  if FLAGS.out:
    path = os.path.join(FLAGS.out, 'ab_locally_connected.json')
    results_io.write_json_atomic(path, report)
    print(json.dumps({'wrote': path}))


if __name__ == '__main__':
  app.run(main)
