"""A 2-D convolution whose weight gradient is an im2col matrix product.

XLA:CPU computes a convolution's weight gradient as another convolution with the
batch as its reduction dimension, which it runs far below the machine's
matrix-multiply speed (measured, jax 0.10.2, batch 32: the paper's conv2 weight
gradient 709 ms per column, 5.6 GFLOP/s; conv1's 423 ms). Written as what it
is, dW = patches(x)^T @ dY, a single large GEMM, it takes 225 ms and 256 ms.
The forward pass and the input gradient are XLA's own. `Conv` is a drop-in for
`flax.linen.Conv` in this model: same parameter names, shapes and initializers.
Tests compare values and both gradients with `lax.conv_general_dilated`'s.
"""

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_DIMENSIONS = ('NHWC', 'HWIO', 'NHWC')


def _conv(x, kernel, stride, padding):
  return lax.conv_general_dilated(x, kernel, (stride, stride), [(padding, padding)] * 2,
                                  dimension_numbers=_DIMENSIONS)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv2d(x, kernel, stride: int, padding: int):
  """NHWC `x` convolved with HWIO `kernel`, square stride and symmetric zero padding."""
  return _forward(x, kernel, stride, padding)[0]


# Inputs this narrow (an image's 3 channels) are convolved as patches @ kernel:
# XLA:CPU's convolution runs conv1 (11x11x3, stride 4) at a fraction of GEMM speed,
# and the patches are needed again for the weight gradient (and are the same for
# both columns, which XLA's common-subexpression elimination then builds once).
IM2COL_MAX_CHANNELS = 4
# Layers with at least this many kernels (per column) get the im2col weight gradient.
IM2COL_MIN_FEATURES = 64


def _forward(x, kernel, stride, padding):
  size, _, channels_in, channels_out = kernel.shape
  if channels_in > IM2COL_MAX_CHANNELS:
    return _conv(x, kernel, stride, padding), (x, kernel, None)
  n, height, width, _ = x.shape
  out_h = (height + 2 * padding - size) // stride + 1
  out_w = (width + 2 * padding - size) // stride + 1
  columns = patches(x, size, stride, padding, out_h, out_w)
  y = jnp.dot(columns, kernel.reshape(-1, channels_out), preferred_element_type=jnp.float32)
  return y.reshape(n, out_h, out_w, channels_out).astype(x.dtype), (x, kernel, columns)


def patches(x, size: int, stride: int, padding: int, out_h: int, out_w: int):
  """[N * out_h * out_w, size * size * C]: every output pixel's input window,
  flattened in the kernel's (row, column, channel) order."""
  n, _, _, channels = x.shape
  padded = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  windows = [lax.slice(padded, (0, i, j, 0),
                       (n, i + stride * (out_h - 1) + 1, j + stride * (out_w - 1) + 1, channels),
                       (1, stride, stride, 1))
             for i in range(size) for j in range(size)]
  return jnp.stack(windows, axis=3).reshape(n * out_h * out_w, size * size * channels)


def _backward(stride, padding, residuals, g):
  x, kernel, columns = residuals
  size, _, channels_in, channels_out = kernel.shape
  _, out_h, out_w, _ = g.shape
  if columns is None and channels_out < IM2COL_MIN_FEATURES:
    return jax.vjp(lambda a, k: _conv(a, k, stride, padding), x, kernel)[1](g)
  (dx,) = jax.vjp(lambda a: _conv(a, kernel, stride, padding), x)[1](g)
  if columns is None:
    columns = patches(x, size, stride, padding, out_h, out_w)
  dkernel = jnp.dot(columns.T, g.reshape(-1, channels_out),
                    preferred_element_type=jnp.float32)
  return dx, dkernel.reshape(size, size, channels_in, channels_out).astype(kernel.dtype)


conv2d.defvjp(_forward, _backward)


class Conv(nn.Module):
  """Square-kernel convolution with bias: `flax.linen.Conv`'s parameters
  (`kernel` HWIO, `bias`), computed by `conv2d`."""
  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init,
                        (self.kernel_size, self.kernel_size, x.shape[-1], self.features))
    bias = self.param('bias', self.bias_init, (self.features,))
    y = conv2d(x.astype(self.dtype), kernel.astype(self.dtype), self.stride, self.padding)
    return y + bias.astype(self.dtype)
