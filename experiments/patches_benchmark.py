"""How fast XLA:CPU builds im2col patches, the three ways conv.py could build them:
one stack of size*size strided slices (the straightforward way), the two-pass
`conv.patches` (columns, then rows), and for conv1 the space-to-depth
`conv.blocked_patches`. Each is checked equal to the straightforward one (the
blocked patches through their product with the kernel) and timed alone, jitted,
median of alternated calls.

    python experiments/patches_benchmark.py --batch_size=32

Timings of a standalone call include the first touch of its freshly allocated output;
inside a training step that cost depends on the allocator (alexnet_jax/host_memory.py).
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from alexnet_jax import conv  # noqa: E402


def single_stack(x, size, stride, padding, out_h, out_w):
  n, _, _, channels = x.shape
  padded = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  windows = [lax.slice(padded, (0, i, j, 0),
                       (n, i + stride * (out_h - 1) + 1, j + stride * (out_w - 1) + 1, channels),
                       (1, stride, stride, 1))
             for i in range(size) for j in range(size)]
  return jnp.stack(windows, axis=3).reshape(n * out_h * out_w, size * size * channels)


def alternated(functions: dict, args, steps: int) -> dict:
  """Median ms of each function, calls alternated so machine drift hits all alike."""
  for f in functions.values():
    jax.block_until_ready(f(*args))
  times = {name: [] for name in functions}
  for _ in range(steps):
    for name, f in functions.items():
      start = time.perf_counter()
      jax.block_until_ready(f(*args))
      times[name].append(time.perf_counter() - start)
  return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--steps', type=int, default=7)
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  n = args.batch_size
  image = jnp.asarray(rng.normal(size=(n, 227, 227, 3)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(11, 11, 3, 48)), jnp.float32)
  expected = single_stack(image, 11, 4, 0, 55, 55) @ kernel.reshape(-1, 48)
  got = conv.blocked_patches(image, 11, 4, 0, 55, 55) @ conv.blocked_kernel(kernel, 4).reshape(-1, 48)
  assert float(jnp.max(jnp.abs(got - expected)) / jnp.max(jnp.abs(expected))) < 1e-5
  times = alternated({
      'single stack': jax.jit(lambda x: single_stack(x, 11, 4, 0, 55, 55)),
      'two-pass': jax.jit(lambda x: conv.patches(x, 11, 4, 0, 55, 55)),
      'blocked (space-to-depth)': jax.jit(lambda x: conv.blocked_patches(x, 11, 4, 0, 55, 55)),
  }, (image,), args.steps)
  print(f'conv1 patches, batch {n}: ' + ', '.join(f'{k} {v:.1f} ms' for k, v in times.items()))
  for name, shape, size, padding in (('conv2', (n, 27, 27, 48), 5, 2),
                                      ('conv3', (n, 13, 13, 256), 3, 1),
                                      ('conv4', (n, 13, 13, 192), 3, 1)):
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    out = shape[1]
    assert jnp.array_equal(single_stack(x, size, 1, padding, out, out),
                           conv.patches(x, size, 1, padding, out, out))
    times = alternated({
        'single stack': jax.jit(lambda x: single_stack(x, size, 1, padding, out, out)),
        'two-pass': jax.jit(lambda x: conv.patches(x, size, 1, padding, out, out)),
    }, (x,), args.steps)
    print(f'{name} patches, batch {n}: ' + ', '.join(f'{k} {v:.1f} ms' for k, v in times.items()))


if __name__ == '__main__':
  main()
