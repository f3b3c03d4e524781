"""Max-pooling with hand-written forward and backward passes that XLA:CPU runs faster.

The forward pass is `flax.linen.max_pool` computed separably (`_pooled`): column
maxima, then row maxima; a little faster than a 2-D `reduce_window` in the forward
pass, the same within noise in the training step.

The automatic gradient of a max-pool is a `select_and_scatter`, which XLA:CPU
executes as a slow scalar loop. The gradient here is the same
function written as fused elementwise work, in two 1-D passes that mirror the
forward's (`_backward`): the output gradient goes to the window's first maximum in
row-major order, the input select_and_scatter picks when several tie, and the
strided contributions are interleaved by a stack and a reshape. Tests compare it
with the automatic gradient, ties included (`tests/test_pooling.py`).

The two 1-D passes replaced one 2-D pass (the window's nine taps, the first
maximum tracked across all of them, summed into stride x stride phases), whose
fused loop recomputed the earlier taps' comparisons for every tap. Both versions
were compiled in one process and timed alternately on the paper net's training
step (`configs/benchmark.py`); the figures, and what is still in this gradient,
are in docs/performance_log.md.
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


def _along(x, axis, stride, out_len, offset):
  """The `out_len` elements along `axis` at offset + stride * i: one window tap."""
  return jax.lax.slice_in_dim(x, offset, offset + (out_len - 1) * stride + 1, stride, axis)


def _max_along(x, axis, window, stride, out_len):
  return functools.reduce(jnp.maximum, [_along(x, axis, stride, out_len, d)
                                        for d in range(window)])


def _pooled(x, window, stride, padding):
  """`flax.linen.max_pool`, computed as a maximum over columns, then over rows.

  The column maxima are a 1-D `reduce_window` along W; the row maxima, strided
  slices along H (the rows' elementwise maximum fuses into one loop). A max is
  exact, so the result equals the 2-D pooling. Why not slices for the columns as
  well: with slices only, XLA:CPU fuses whatever produced `x` into the pooling
  loop and recomputes it for each of the window's taps; when `x` is an LRN output
  (its window sum, a square root and a reciprocal one), that costs more than the
  pooling. The overlapping `reduce_window` reuses its input's elements, so XLA
  keeps an expensive producer as a separate loop: the paper net's forward pass is
  a few percent faster, the training step the same within noise
  (docs/performance_log.md)."""
  padded, out_h, out_w, _, _ = _padded(x, window, stride, padding)
  columns = jax.lax.reduce_window(padded, jnp.asarray(-jnp.inf, x.dtype), jax.lax.max,
                                  (1, 1, window, 1), (1, 1, stride, 1), 'VALID')
  return _max_along(columns, 1, window, stride, out_h)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def max_pool(x, window: int, stride: int, padding: str):
  """Max-pools NHWC `x` over `window` x `window` patches every `stride` pixels."""
  return _pooled(x, window, stride, padding)


def _forward(x, window, stride, padding):
  y = _pooled(x, window, stride, padding)
  return y, (x, y)


def _gradient_along(source, pooled, g, axis, window, stride):
  """Gradient of a 1-D max-pool along `axis` with respect to its input `source`:
  each output's gradient `g` goes to the first of its window's taps that equals
  `pooled`. The taps of one phase (offset modulo stride) are summed as
  output-sized arrays shifted by padding, and the phases interleaved by a stack
  and a reshape: one fused loop, no scatter."""
  out_len, in_len = pooled.shape[axis], source.shape[axis]
  reach = (window - 1) // stride  # the largest shift, in output positions
  zero = jnp.zeros((), g.dtype)
  phases = [None] * stride
  taken = None
  for d in range(window):
    hit = _along(source, axis, stride, out_len, d) == pooled
    if taken is None:
      taken = hit
    else:
      hit = hit & ~taken
      taken = taken | hit
    shift = [(0, 0)] * g.ndim
    shift[axis] = (d // stride, reach - d // stride)
    placed = jnp.pad(jnp.where(hit, g, zero), shift)
    phase = phases[d % stride]
    phases[d % stride] = placed if phase is None else phase + placed
  empty = jnp.zeros(phases[0].shape, g.dtype)
  stacked = jnp.stack([p if p is not None else empty for p in phases], axis=axis + 1)
  shape = list(phases[0].shape)
  shape[axis] *= stride
  full = stacked.reshape(shape)
  if shape[axis] >= in_len:
    return jax.lax.slice_in_dim(full, 0, in_len, axis=axis)
  pad = [(0, 0)] * full.ndim
  pad[axis] = (0, in_len - shape[axis])
  return jnp.pad(full, pad)


def _backward(window, stride, padding, residuals, g):
  """Two 1-D gradients, the reverse of the forward's two 1-D maxima: rows first
  (the gradient reaches, in each window, the first row whose column maximum is the
  output), then columns (within that row, the first column attaining it). That is
  the window's first maximum in row-major order, the tap select_and_scatter picks,
  so ties go where the automatic gradient sends them."""
  x, y = residuals
  n, h, w, c = x.shape
  padded, _, out_w, top, left = _padded(x, window, stride, padding)
  columns = _max_along(padded, 2, window, stride, out_w)  # slices: fused into both passes
  columns_grad = _gradient_along(columns, y, g, 1, window, stride)
  padded_grad = _gradient_along(padded, columns, columns_grad, 2, window, stride)
  return (padded_grad[:, top:top + h, left:left + w, :],)


max_pool.defvjp(_forward, _backward)
