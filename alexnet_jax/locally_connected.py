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

Computed as the window's K*K shifted slices of the zero-padded input, stacked
into patches (N, OH, OW, K, K, C), contracted with the per-position kernel
(OH, OW, K, K, C, F) by one einsum. Tests hold it to a NumPy loop and to PyTorch
(`unfold` + einsum), values and gradients.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


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
  return jnp.einsum('npqijc,pqijcf->npqf', patches(x, kernel.shape[2], padding), kernel)


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
