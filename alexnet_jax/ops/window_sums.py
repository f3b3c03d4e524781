"""Sums over size x size windows of NHWC maps: cuda-convnet's spatial response
normalization and average pooling (`cuda_convnet.py`) are built on them.

The plain formulation is a 2-D `reduce_window` (`window_sum_reference`). XLA:CPU
runs it, and its gradient (another `reduce_window` over a padded copy), as a loop
of its own that no neighbouring elementwise work joins. A window sum is separable:
the sum over rows of the sums over columns. `window_sum` computes each 1-D sum as
`size` shifted, strided slices of a zero-padded copy added together, as `lrn`'s
channel-window sum does; XLA fuses the slices, the additions and whatever
elementwise work surrounds them (the squares before, the power after) into one
loop. The transpose of a slice is a pad, so the automatic gradient fuses as well.
`tests/test_window_sums.py` holds both formulations and their gradients equal;
`spatial_response_norm` adds a hand-written gradient, like `lrn`'s.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from alexnet_jax.ops import lrn


def _sum_along(x, axis, size, stride):
  """sum_{d < size} x[stride * i + d] along `axis`, for every window i that fits."""
  count = (x.shape[axis] - size) // stride + 1
  taps = [jax.lax.slice_in_dim(x, d, d + (count - 1) * stride + 1, stride, axis)
          for d in range(size)]
  return functools.reduce(jnp.add, taps)


def window_sum(x, size: int, stride: int, padding):
  """Sums of NHWC `x` over size x size windows every `stride` pixels, after zero
  padding `padding` = ((top, bottom), (left, right))."""
  (top, bottom), (left, right) = padding
  if top or bottom or left or right:
    x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
  return _sum_along(_sum_along(x, 1, size, stride), 2, size, stride)


def window_sum_reference(x, size: int, stride: int, padding):
  """`window_sum` as a 2-D `reduce_window`, the definition tests hold it to."""
  return jax.lax.reduce_window(x, np.zeros((), x.dtype), jax.lax.add, (1, size, size, 1),
                               (1, stride, stride, 1), ((0, 0), *padding, (0, 0)))


def window_counts(height: int, width: int, size: int, stride: int, padding) -> np.ndarray:
  """How many pixels of an height x width image each window of `window_sum`
  covers (padding excluded), as an (out_h, out_w, 1) constant."""
  ones = np.pad(np.ones((height, width), np.float64), padding)
  rows = np.lib.stride_tricks.sliding_window_view(ones, size, axis=0)[::stride].sum(-1)
  return np.lib.stride_tricks.sliding_window_view(rows, size, axis=1)[:, ::stride].sum(
      -1)[..., None]


def _centred_padding(size: int, mirrored: bool = False):
  """The padding of a stride-1 window over pixels p - size//2 .. p - size//2 + size - 1;
  `mirrored`: the padding of its transpose (the windows that contain p)."""
  before, after = size // 2, size - 1 - size // 2
  if mirrored:
    before, after = after, before
  return ((before, after), (before, after))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def spatial_response_norm(x, size: int, scale: float, power: float):
  """x * (1 + scale/size^2 * sum of x^2 over the size x size window of the same map,
  pixels p - size//2 .. p - size//2 + size - 1, clipped at the edges)^-power:
  cuda-convnet's `type=rnorm` without crossMap (see cuda_convnet.py)."""
  squares = window_sum(x * x, size, 1, _centred_padding(size))
  return x * lrn.inverse_power(1.0 + scale / size ** 2 * squares, power)


def _norm_forward(x, size, scale, power):
  return spatial_response_norm(x, size, scale, power), x


def _norm_backward(size, scale, power, x, g):
  """With s = 1 + a W(x^2), a = scale/size^2, y = x s^-power:

      dL/dx = g s^-power - 2 a power x W^T(g x s^(-power-1))

  where W^T sums over the windows that contain each pixel (the mirrored padding).
  Recomputes s from x (one fused loop) rather than storing it, as lrn does."""
  alpha = scale / size ** 2
  base = 1.0 + alpha * window_sum(x * x, size, 1, _centred_padding(size))
  inverse = lrn.inverse_power(base, power)
  weighted = window_sum(g * x * inverse / base, size, 1, _centred_padding(size, mirrored=True))
  return (g * inverse - (2.0 * alpha * power) * x * weighted,)


spatial_response_norm.defvjp(_norm_forward, _norm_backward)


def spatial_response_norm_reference(x, size: int, scale: float, power: float):
  """The same function with `window_sum_reference`, `pow` and automatic gradients."""
  squares = window_sum_reference(x * x, size, 1, _centred_padding(size))
  return x * (1.0 + scale / size ** 2 * squares) ** (-power)
