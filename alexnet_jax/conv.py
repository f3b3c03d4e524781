"""A 2-D convolution whose weight gradient is an im2col matrix product.

XLA:CPU computes a convolution's weight gradient as another convolution with the
batch as its reduction dimension, which it runs far below the machine's
matrix-multiply speed (measured, jax 0.10.2, batch 32: the paper's conv2 weight
gradient 709 ms per column, 5.6 GFLOP/s; conv1's 423 ms). Written as what it
is, dW = patches(x)^T @ dY, it runs at GEMM speed. Layers that take this path
(the image layer, and layers with at least IM2COL_MIN_FEATURES kernels) also
compute their forward pass as patches @ kernel, and both products are done a few
images at a time (`CHUNK_BYTES`) so that each chunk's patches are still in cache
when the product reads them; the patches are rebuilt in the backward pass rather
than stored. Patches are built in two passes (`patches`) and, for the strided
image layer, from space-to-depth blocks (`blocked_patches`). The input gradient
is XLA's own. `Conv` is a drop-in for `flax.linen.Conv` in this model: same
parameter names, shapes and initializers. Tests compare values and both
gradients with `lax.conv_general_dilated`'s.
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
# XLA:CPU's convolution runs conv1 (11x11x3, stride 4) at a fraction of GEMM speed.
IM2COL_MAX_CHANNELS = 4
# Layers with at least this many kernels (per column) get the im2col weight gradient.
IM2COL_MIN_FEATURES = 64


# Patches are built and consumed a few images at a time (at most this many bytes of
# patches per chunk), so that a chunk's patches are still in cache when the matrix
# product reads them. Standalone, batch 32, per column: conv2's weight gradient
# 111 -> 59 ms and conv3's 65 -> 40 ms against one whole-batch patch matrix; conv3's
# forward 54 ms (XLA's convolution) -> 33 ms, conv2's 56 -> 51 ms. The paper net's
# train step, batch 32, alternated processes: 1632/1674/1681 -> 1583/1522/1499 ms
# (wide layers chunked) and 1952/1676/1646 -> 1466/1466/1447 ms (conv1 too).
CHUNK_BYTES = 16 * 2 ** 20


def chunk_size(batch: int, bytes_per_image: int) -> int:
  """The largest divisor of `batch` whose patches fit in CHUNK_BYTES (at least 1)."""
  limit = max(1, CHUNK_BYTES // max(bytes_per_image, 1))
  return max(d for d in range(1, batch + 1) if batch % d == 0 and d <= limit)


def _output_size(x, size, stride, padding):
  return ((x.shape[1] + 2 * padding - size) // stride + 1,
          (x.shape[2] + 2 * padding - size) // stride + 1)


def _chunks(x, size, stride, channels_in, out_h, out_w):
  """x as [batch / chunk, chunk, ...] for `lax.map`/`lax.scan` over chunks."""
  blocks = _blocks(size, stride)
  depth = blocks * blocks * stride * stride if _blocked(channels_in, stride) else size * size
  per_image = out_h * out_w * depth * channels_in * x.dtype.itemsize
  chunk = chunk_size(x.shape[0], per_image)
  return x.reshape(x.shape[0] // chunk, chunk, *x.shape[1:])


def _blocks(size: int, stride: int) -> int:
  """How many stride x stride blocks a kernel of `size` spans: ceil(size / stride)."""
  return -(-size // stride)


def _blocked(channels_in: int, stride: int) -> bool:
  """Whether the patches come from space-to-depth blocks (the image layer, strided)."""
  return channels_in <= IM2COL_MAX_CHANNELS and stride > 1


def _patch_matrix(images, size, stride, padding, out_h, out_w):
  if _blocked(images.shape[-1], stride):
    return blocked_patches(images, size, stride, padding, out_h, out_w)
  return patches(images, size, stride, padding, out_h, out_w)


def chunked_forward(x, kernel, stride: int, padding: int):
  """The convolution as patches @ kernel, chunk by chunk (see CHUNK_BYTES)."""
  size, _, channels_in, channels_out = kernel.shape
  out_h, out_w = _output_size(x, size, stride, padding)
  if _blocked(channels_in, stride):
    matrix = blocked_kernel(kernel, stride).reshape(-1, channels_out)
  else:
    matrix = kernel.reshape(-1, channels_out)

  def one_chunk(images):
    columns = _patch_matrix(images, size, stride, padding, out_h, out_w)
    y = jnp.dot(columns, matrix, preferred_element_type=jnp.float32).astype(x.dtype)
    return y.reshape(images.shape[0], out_h, out_w, channels_out)

  y = lax.map(one_chunk, _chunks(x, size, stride, channels_in, out_h, out_w))
  return y.reshape(x.shape[0], out_h, out_w, channels_out)


def chunked_weight_gradient(x, g, size: int, stride: int, padding: int):
  """dW = sum over chunks of patches(x_chunk)^T @ dY_chunk, in float32,
  the patches built again chunk by chunk rather than kept from the forward pass."""
  channels_in, channels_out = x.shape[-1], g.shape[-1]
  out_h, out_w = g.shape[1], g.shape[2]
  images = _chunks(x, size, stride, channels_in, out_h, out_w)
  grads = g.reshape(images.shape[0], images.shape[1], out_h, out_w, channels_out)

  def chunk_product(chunk):
    image_chunk, grad_chunk = chunk
    columns = _patch_matrix(image_chunk, size, stride, padding, out_h, out_w)
    return jnp.dot(columns.T, grad_chunk.reshape(-1, channels_out),
                   preferred_element_type=jnp.float32)

  # The sum starts from the first chunk's product rather than from zeros: inside
  # shard_map a zero carry would not vary over the manual axes as the products do,
  # which scan rejects. (A map of all products summed afterwards measured slower.)
  def add_chunk(total, chunk):
    return total + chunk_product(chunk), None

  total = chunk_product((images[0], grads[0]))
  if images.shape[0] > 1:
    total, _ = lax.scan(add_chunk, total, (images[1:], grads[1:]))
  if _blocked(channels_in, stride):
    blocks = _blocks(size, stride)
    total = unblocked_kernel(total.reshape(blocks, blocks, -1, channels_out), stride, size)
  return total.reshape(size, size, channels_in, channels_out)


def _uses_patches(channels_in: int, channels_out: int) -> bool:
  """The image layer (XLA:CPU's own convolution is slow on 3 channels) and wide layers
  (whose weight gradient XLA:CPU runs far below GEMM speed) go through patches."""
  return channels_in <= IM2COL_MAX_CHANNELS or channels_out >= IM2COL_MIN_FEATURES


def _forward(x, kernel, stride, padding):
  _, _, channels_in, channels_out = kernel.shape
  if _uses_patches(channels_in, channels_out):
    return chunked_forward(x, kernel, stride, padding), (x, kernel)
  return _conv(x, kernel, stride, padding), (x, kernel)


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
  blocks = _blocks(size, stride)
  image_blocks = space_to_depth(x, stride, padding, out_h + blocks - 1, out_w + blocks - 1)
  return patches(image_blocks, blocks, 1, 0, out_h, out_w)


def blocked_kernel(kernel, stride: int):
  """The HWIO kernel for `blocked_patches`: zero-padded to a multiple of the stride
  and rearranged into [b, b, stride * stride * C, F] in the blocks' order."""
  size, _, channels_in, channels_out = kernel.shape
  blocks = _blocks(size, stride)
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
  x, kernel = residuals
  size, _, channels_in, channels_out = kernel.shape
  if not _uses_patches(channels_in, channels_out):
    return jax.vjp(lambda a, k: _conv(a, k, stride, padding), x, kernel)[1](g)
  (dx,) = jax.vjp(lambda a: _conv(a, kernel, stride, padding), x)[1](g)
  dkernel = chunked_weight_gradient(x, g, size, stride, padding)
  return dx, dkernel.astype(kernel.dtype)


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
