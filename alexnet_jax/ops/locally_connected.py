"""Locally-connected layers: a convolution whose filters are not shared between
output positions (cuda-convnet's `type=local`).

cuda-convnet's CIFAR-10 nets (`example-layers/layers-conv-local-11pct.cfg`,
`[local3]` and `[local4]`) end with two such layers: every output position
(module) has its own `filterSize x filterSize x channels x filters` weights and
its own biases (`layer.py`, `LocalUnsharedLayerParser.parse`: weights of
`modules * filterPixels * filterChannels` rows, `make_biases(modules * filters)`).
The number of modules per side is `1 + ceil((2 * padding + imgSize - filterSize)
/ stride)` (`LocalLayerParser.parse`); with stride 1 that is the usual
convolution arithmetic.

Computed as one batched matrix product over output positions: each position's
(N, K*K*C) patch matrix times its own (K*K*C, F) kernel matrix, with the
positions leading, (OH*OW, N, K*K*C) @ (OH*OW, K*K*C, F). The kernel enters in its
own layout (a reshape, no copy), and for XLA:CPU the product and its two
gradients are plain batched GEMMs with no patch-sized transpose around them.
Stacking the patches batch-major (N, OH, OW, K, K, C) and contracting with one
einsum, as a first version did, makes XLA copy the patches into two
position-major layouts and transpose the kernel around the products.

The patches are read by one gather from the input moved to (H, W, N, C) and
zero-padded, which XLA:CPU emits as a single loop (transpose and padding
included) where stacking the K*K shifted slices costs a copy per slice and a
concatenation. The gather's own gradient would be a scatter-add, slower than
the forward on XLA:CPU, so the patches are differentiated as the slices
(custom_jvp): the input gradient is the K*K slices of the patch gradient padded
back into place and summed, one fused loop. lax.conv_general_dilated_local
builds its patches with a grouped convolution of 0/1 filters, which XLA:CPU runs
and differentiates several times slower. `experiments/ab_locally_connected.py`
times these and other formulations. Tests hold the layer to a NumPy loop and to
PyTorch (`unfold` + einsum), values and gradients (forward and reverse mode).
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def output_size(size: int, kernel: int, padding: int) -> int:
  """Output positions per side at stride 1 (cuda-convnet's `modulesX`)."""
  return size + 2 * padding - kernel + 1


def patches(x, kernel: int, padding: int):
  """(N, OH, OW, K, K, C): the window of every output position, zero-padded."""
  n, h, w, c = x.shape
  out_h, out_w = output_size(h, kernel, padding), output_size(w, kernel, padding)
  x = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  rows = [jnp.stack([x[:, i:i + out_h, j:j + out_w] for j in range(kernel)], axis=3)
          for i in range(kernel)]
  return jnp.stack(rows, axis=3)


def _padded_positions_first(x, padding: int):
  """(H + 2P, W + 2P, N, C): the input with the positions leading, zero-padded."""
  return jnp.pad(x.transpose(1, 2, 0, 3), ((padding, padding), (padding, padding), (0, 0), (0, 0)))


def _sliced_position_patches(x, kernel: int, padding: int):
  """(OH*OW, N, K*K*C), taps in (i, j, c) order: the K*K shifted slices, stacked."""
  n, h, w, c = x.shape
  out_h, out_w = output_size(h, kernel, padding), output_size(w, kernel, padding)
  x = _padded_positions_first(x, padding)
  taps = [x[i:i + out_h, j:j + out_w] for i in range(kernel) for j in range(kernel)]
  return jnp.stack(taps, axis=3).reshape(out_h * out_w, n, kernel * kernel * c)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _position_patches(x, kernel: int, padding: int):
  """_sliced_position_patches read by one gather: the (N, C) slab at each of the
  (OH, OW, K, K) window taps."""
  n, h, w, c = x.shape
  out_h, out_w = output_size(h, kernel, padding), output_size(w, kernel, padding)
  rows = np.arange(out_h)[:, None, None, None] + np.arange(kernel)[None, None, :, None]
  cols = np.arange(out_w)[None, :, None, None] + np.arange(kernel)[None, None, None, :]
  starts = np.stack(np.broadcast_arrays(rows, cols), axis=-1).astype(np.int32)
  numbers = lax.GatherDimensionNumbers(offset_dims=(2, 5), collapsed_slice_dims=(0, 1),
                                       start_index_map=(0, 1))
  taps = lax.gather(_padded_positions_first(x, padding), jnp.asarray(starts), numbers,
                    (1, 1, n, c), mode=lax.GatherScatterMode.PROMISE_IN_BOUNDS)
  return taps.reshape(out_h * out_w, n, kernel * kernel * c)


@_position_patches.defjvp
def _position_patches_jvp(kernel, padding, primals, tangents):
  (x,), (dx,) = primals, tangents
  return (_position_patches(x, kernel, padding),
          _sliced_position_patches(dx, kernel, padding))


def check_shapes(input_shape, kernel_shape, padding: int):
  """Raises ValueError (one line) when `kernel_shape` (OH, OW, K, K, C, F) does not
  belong to an input of `input_shape` (N, H, W, C) with this padding."""
  _, h, w, c = input_shape
  out_h, out_w, k, k2, kc, _ = kernel_shape
  expected = (output_size(h, k, padding), output_size(w, k2, padding), c)
  if (out_h, out_w, kc) != expected or k != k2:
    raise ValueError(
        f'locally-connected layer: its {out_h}x{out_w} kernels over {kc} channels were made '
        f'for another input; this input is {h}x{w}x{c} (padding {padding}), which needs '
        f'{expected[0]}x{expected[1]} positions over {c} channels')


def locally_connected(x, kernel, padding: int):
  """y[n, p, q, f] = sum_{i, j, c} xpad[n, p + i, q + j, c] * kernel[p, q, i, j, c, f]."""
  check_shapes(x.shape, kernel.shape, padding)
  out_h, out_w, k, _, c, f = kernel.shape
  y = lax.dot_general(_position_patches(x, k, padding),
                      kernel.reshape(out_h * out_w, k * k * c, f),
                      (((2,), (1,)), ((0,), (0,))))  # per position: (N, KKC) @ (KKC, F)
  return y.reshape(out_h, out_w, x.shape[0], f).transpose(2, 0, 1, 3)


class LocallyConnected(nn.Module):
  """A locally-connected layer with stride 1: parameters 'kernel' (OH, OW, K, K, C, F)
  and 'bias' (OH, OW, F), one bias per position and filter as in cuda-convnet."""
  features: int
  kernel_size: int
  padding: int
  kernel_init: Any
  bias_init: Any = nn.initializers.zeros
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    _, h, w, c = x.shape
    out_h = output_size(h, self.kernel_size, self.padding)
    out_w = output_size(w, self.kernel_size, self.padding)
    if out_h < 1 or out_w < 1:
      raise ValueError(f'locally-connected layer {self.name}: a {self.kernel_size}x'
                       f'{self.kernel_size} kernel does not fit a {h}x{w} input with '
                       f'padding {self.padding}')
    kernel = self.param('kernel', self.kernel_init,
                        (out_h, out_w, self.kernel_size, self.kernel_size, c, self.features),
                        jnp.float32)
    bias = self.param('bias', self.bias_init, (out_h, out_w, self.features), jnp.float32)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    return locally_connected(x, kernel, self.padding) + bias
