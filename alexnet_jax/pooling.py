"""Max-pooling with hand-written forward and backward passes that XLA:CPU runs faster.

The forward pass is `flax.linen.max_pool` computed separably (`_separable`).
In-process A/B against `reduce_window` on the paper net at batch 32 (2 cores, jax
0.10.2, 2026-11-25, two runs of 8 alternated rounds): forward 131.4 -> 130.3 and
135.4 -> 130.4 ms; the train step moved within its noise (458 -> 451, 460 -> 462).

The automatic gradient of a max-pool is a `select_and_scatter`, which XLA:CPU
executes as a slow scalar loop (measured ~74 ms for the small net's first pool at
batch 128, ~67 ms for the paper's pool1 at batch 32). The gradient here is the same
function written as fused elementwise work: for each of the window's offsets, in
the order select_and_scatter visits them, the output gradient goes to the input
that attained the maximum, first one only when several tie, and the strided
contributions are summed back with `lax.pad` (interior padding = stride - 1).
Tests compare it with the automatic gradient, ties included.
"""

import functools

import jax
import jax.numpy as jnp


def _output_and_padding(size, window, stride, padding):
  if padding == 'VALID':
    return (size - window) // stride + 1, 0, 0
  out = -(-size // stride)
  total = max((out - 1) * stride + window - size, 0)
  return out, total // 2, total - total // 2


def _padded(x, window, stride, padding):
  """`x` padded with -inf as the pooling windows need it, with the output size and
  the top and left padding: (padded, out_h, out_w, top, left)."""
  out_h, top, bottom = _output_and_padding(x.shape[1], window, stride, padding)
  out_w, left, right = _output_and_padding(x.shape[2], window, stride, padding)
  if top or bottom or left or right:
    x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=-jnp.inf)
  return x, out_h, out_w, top, left


def _separable(x, window, stride, padding):
  """`flax.linen.max_pool`, computed as the maximum over rows of strided row
  slices, then over columns: a max is exact, so the result is the same, and the
  2 x `window` slices fuse into elementwise loops, where XLA:CPU's 2-D
  `reduce_window` reads every input `window`^2 times."""
  x, out_h, out_w, _, _ = _padded(x, window, stride, padding)
  n, _, _, c = x.shape
  rows = functools.reduce(jnp.maximum, [
      jax.lax.slice(x, (0, d, 0, 0), (n, d + (out_h - 1) * stride + 1, x.shape[2], c),
                    (1, stride, 1, 1)) for d in range(window)])
  return functools.reduce(jnp.maximum, [
      jax.lax.slice(rows, (0, 0, d, 0), (n, out_h, d + (out_w - 1) * stride + 1, c),
                    (1, 1, stride, 1)) for d in range(window)])


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def max_pool(x, window: int, stride: int, padding: str):
  """Max-pools NHWC `x` over `window` x `window` patches every `stride` pixels."""
  return _separable(x, window, stride, padding)


def _forward(x, window, stride, padding):
  y = _separable(x, window, stride, padding)
  return y, (x, y)


def _backward(window, stride, padding, residuals, g):
  x, y = residuals
  n, h, w, c = x.shape
  padded, out_h, out_w, top, left = _padded(x, window, stride, padding)
  span_h, span_w = (out_h - 1) * stride + 1, (out_w - 1) * stride + 1
  zero = jnp.zeros((), g.dtype)
  reach = (window - 1) // stride  # the largest shift, in output pixels
  # The padded input's gradient, split into stride x stride phases: input pixel
  # (stride * i + py, stride * j + px) is phase (py, px) at (i, j), and window
  # offset (dy, dx) lands in phase (dy % stride, dx % stride) shifted by
  # (dy // stride, dx // stride). Each phase is an output-sized sum: one fused loop.
  phases = [[None] * stride for _ in range(stride)]
  taken = jnp.zeros(y.shape, bool)
  for dy in range(window):
    for dx in range(window):
      view = jax.lax.slice(padded, (0, dy, dx, 0), (n, dy + span_h, dx + span_w, c),
                           (1, stride, stride, 1))
      hit = (view == y) & ~taken
      taken = taken | hit
      shift_y, shift_x = dy // stride, dx // stride
      placed = jnp.pad(jnp.where(hit, g, zero),
                       ((0, 0), (shift_y, reach - shift_y), (shift_x, reach - shift_x), (0, 0)))
      phase = phases[dy % stride][dx % stride]
      phases[dy % stride][dx % stride] = placed if phase is None else phase + placed
  empty = jnp.zeros((n, out_h + reach, out_w + reach, c), g.dtype)
  rows = [jnp.stack([p if p is not None else empty for p in row], axis=3) for row in phases]
  grid = jnp.stack(rows, axis=2)  # (n, out_h + reach, stride, out_w + reach, stride, c)
  full = grid.reshape(n, (out_h + reach) * stride, (out_w + reach) * stride, c)
  full = jnp.pad(full, ((0, 0), (0, max(0, padded.shape[1] - full.shape[1])),
                        (0, max(0, padded.shape[2] - full.shape[2])), (0, 0)))
  return (full[:, top:top + h, left:left + w, :],)


max_pool.defvjp(_forward, _backward)
