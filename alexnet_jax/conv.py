"""A 2-D convolution whose weight gradient is an im2col matrix product.

XLA:CPU computes a convolution's weight gradient as another convolution with the
batch as its reduction dimension, which it runs far below the machine's
matrix-multiply speed (measured, jax 0.10.2, batch 32: the paper's conv2 weight
gradient 709 ms per column, 5.6 GFLOP/s; conv1's 423 ms). Written as what it
is, dW = patches(x)^T @ dY, a single large GEMM, it takes 225 ms and 256 ms.
The forward pass and the input gradient are XLA's own, except for inputs of at most
`IM2COL_MAX_CHANNELS` channels (the image), whose forward pass is patches @ kernel
too. Patches are built in two passes (`patches`) and, for strided layers, from
space-to-depth blocks (`blocked_patches`), which XLA:CPU copies faster than the
straightforward stack of size*size strided slices. `Conv` is a drop-in for
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
  if stride > 1:
    columns = blocked_patches(x, size, stride, padding, out_h, out_w)
    matrix = blocked_kernel(kernel, stride).reshape(-1, channels_out)
  else:
    columns = patches(x, size, stride, padding, out_h, out_w)
    matrix = kernel.reshape(-1, channels_out)
  y = jnp.dot(columns, matrix, preferred_element_type=jnp.float32)
  return y.reshape(n, out_h, out_w, channels_out).astype(x.dtype), (x, kernel, columns)


def space_to_depth(x, stride: int, padding: int, rows: int, cols: int):
  """[N, rows, cols, stride * stride * C]: the zero-padded image cut into stride x
  stride blocks, each block's pixels laid along the channels (row, column, channel)."""
  n, height, width, channels = x.shape
  x = jnp.pad(x, ((0, 0), (padding, max(rows * stride - height - padding, 0)),
                  (padding, max(cols * stride - width - padding, 0)), (0, 0)))
  x = x[:, :rows * stride, :cols * stride]
  x = x.reshape(n, rows, stride, cols, stride, channels).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, rows, cols, stride * stride * channels)


def blocked_patches(x, size: int, stride: int, padding: int, out_h: int, out_w: int):
  """The patches of a strided convolution, built from `space_to_depth` blocks:
  output pixel (i, j) sees blocks (i..i+b-1, j..j+b-1), b = ceil(size / stride), so
  the patch is b x b blocks of stride * stride * C values (conv1: 3x3 blocks of 48,
  432 values, of which the kernel's 363 are nonzero after `blocked_kernel`). Copying
  runs of 48 contiguous values instead of 3 makes conv1's patches about 1.6x faster
  on XLA:CPU (experiments/patches_benchmark.py), for 19% more multiply-adds."""
  blocks = -(-size // stride)
  image_blocks = space_to_depth(x, stride, padding, out_h + blocks - 1, out_w + blocks - 1)
  return patches(image_blocks, blocks, 1, 0, out_h, out_w)


def blocked_kernel(kernel, stride: int):
  """The HWIO kernel for `blocked_patches`: zero-padded to a multiple of the stride
  and rearranged into [b, b, stride * stride * C, F] in the blocks' order."""
  size, _, channels_in, channels_out = kernel.shape
  blocks = -(-size // stride)
  extra = blocks * stride - size
  kernel = jnp.pad(kernel, ((0, extra), (0, extra), (0, 0), (0, 0)))
  kernel = kernel.reshape(blocks, stride, blocks, stride, channels_in, channels_out)
  return kernel.transpose(0, 2, 1, 3, 4, 5).reshape(
      blocks, blocks, stride * stride * channels_in, channels_out)


def unblocked_kernel(blocked, stride: int, size: int):
  """Inverse of `blocked_kernel` (drops the zero padding): maps the gradient of the
  blocked kernel back onto the HWIO kernel."""
  blocks, _, depth, channels_out = blocked.shape
  channels_in = depth // (stride * stride)
  kernel = blocked.reshape(blocks, blocks, stride, stride, channels_in, channels_out)
  kernel = kernel.transpose(0, 2, 1, 3, 4, 5).reshape(
      blocks * stride, blocks * stride, channels_in, channels_out)
  return kernel[:size, :size]


def patches(x, size: int, stride: int, padding: int, out_h: int, out_w: int):
  """[N * out_h * out_w, size * size * C]: every output pixel's input window,
  flattened in the kernel's (row, column, channel) order.

  Built in two passes, columns then rows: the first stacks the `size` strided
  column shifts into [N, H, out_w, size * C], the second the `size` row shifts
  of that. The second pass copies runs of size * C contiguous values instead of
  C (48 for conv2), which XLA:CPU does about 1.7x faster for conv2's patches
  (93 -> 54 ms at batch 32, experiments/patches_benchmark.py); the values are
  the same, element for element."""
  n, _, _, channels = x.shape
  padded = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  height = padded.shape[1]
  by_column = jnp.stack(
      [lax.slice(padded, (0, 0, j, 0), (n, height, j + stride * (out_w - 1) + 1, channels),
                 (1, 1, stride, 1)) for j in range(size)], axis=3)
  by_column = by_column.reshape(n, height, out_w, size * channels)
  windows = jnp.stack(
      [lax.slice(by_column, (0, i, 0, 0), (n, i + stride * (out_h - 1) + 1, out_w,
                                          size * channels), (1, stride, 1, 1))
       for i in range(size)], axis=3)
  return windows.reshape(n * out_h * out_w, size * size * channels)


def _backward(stride, padding, residuals, g):
  x, kernel, columns = residuals
  size, _, channels_in, channels_out = kernel.shape
  _, out_h, out_w, _ = g.shape
  if columns is None and channels_out < IM2COL_MIN_FEATURES:
    return jax.vjp(lambda a, k: _conv(a, k, stride, padding), x, kernel)[1](g)
  (dx,) = jax.vjp(lambda a: _conv(a, kernel, stride, padding), x)[1](g)
  blocked = columns is not None and stride > 1  # built by blocked_patches in _forward
  if columns is None:
    columns = patches(x, size, stride, padding, out_h, out_w)
  dkernel = jnp.dot(columns.T, g.reshape(-1, channels_out),
                    preferred_element_type=jnp.float32)
  if blocked:
    blocks = -(-size // stride)
    dkernel = unblocked_kernel(dkernel.reshape(blocks, blocks, -1, channels_out), stride, size)
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
