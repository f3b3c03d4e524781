"""The im2col weight gradient equals the automatic one of lax.conv_general_dilated."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from alexnet_jax import conv


@pytest.mark.parametrize('shape,size,stride,padding,features', [
    ((2, 23, 23, 3), 11, 4, 0, 5),   # conv1's geometry (11x11, stride 4)
    ((2, 23, 23, 3), 11, 4, 2, 5),   # with padding (the torchvision variant)
    ((2, 12, 12, 3), 4, 2, 1, 5),    # a kernel size the stride divides
    ((2, 9, 9, 4), 5, 1, 2, 6),      # conv2's
    ((2, 7, 7, 6), 3, 1, 1, 4),      # conv3-5's
    ((1, 10, 8, 2), 3, 2, 1, 3),     # non-square image, stride 2 with padding
    # Wide layers, whose weight gradient is the im2col product:
    ((2, 9, 9, 6), 5, 1, 2, conv.IM2COL_MIN_FEATURES),
    ((1, 7, 7, 8), 3, 1, 1, conv.IM2COL_MIN_FEATURES + 8),
])
def test_values_and_both_gradients_equal_lax(shape, size, stride, padding, features):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(size, size, shape[-1], features)), jnp.float32)

  def reference(a, k):
    return lax.conv_general_dilated(a, k, (stride, stride), [(padding, padding)] * 2,
                                    dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

  expected, expected_vjp = jax.vjp(reference, x, kernel)
  got, got_vjp = jax.vjp(lambda a, k: conv.conv2d(a, k, stride, padding), x, kernel)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  cotangent = jnp.asarray(rng.normal(size=expected.shape), jnp.float32)
  for a, b in zip(jax.jit(got_vjp)(cotangent), expected_vjp(cotangent)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_module_has_flax_conv_parameters():
  import flax.linen as nn
  x = jnp.ones((1, 8, 8, 3))
  ours = conv.Conv(4, 3, padding=1).init(jax.random.key(0), x)['params']
  flax_conv = nn.Conv(4, (3, 3), padding=1).init(jax.random.key(0), x)['params']
  assert jax.tree.map(jnp.shape, ours) == jax.tree.map(jnp.shape, flax_conv)
  np.testing.assert_allclose(conv.Conv(4, 3, padding=1).apply({'params': flax_conv}, x),
                             nn.Conv(4, (3, 3), padding=1).apply({'params': flax_conv}, x),
                             rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('shape,size,stride,padding', [
    ((2, 23, 23, 3), 11, 4, 0),
    ((2, 9, 9, 4), 5, 1, 2),
    ((1, 10, 8, 2), 3, 2, 1),
])
def test_patches_are_each_output_pixels_window(shape, size, stride, padding):
  rng = np.random.default_rng(1)
  x = rng.normal(size=shape).astype(np.float32)
  n, height, width, channels = shape
  out_h = (height + 2 * padding - size) // stride + 1
  out_w = (width + 2 * padding - size) // stride + 1
  padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  expected = np.stack([
      padded[b, i * stride:i * stride + size, j * stride:j * stride + size, :].reshape(-1)
      for b in range(n) for i in range(out_h) for j in range(out_w)])
  got = conv.patches(jnp.asarray(x), size, stride, padding, out_h, out_w)
  np.testing.assert_array_equal(np.asarray(got), expected)


@pytest.mark.parametrize('size,stride,padding', [(11, 4, 0), (11, 4, 2), (4, 2, 1), (5, 3, 0)])
def test_blocked_patches_times_blocked_kernel_is_the_convolution(size, stride, padding):
  """Space-to-depth patches with the rearranged kernel give lax's values, and
  `unblocked_kernel` inverts `blocked_kernel` (including sizes the stride divides)."""
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(2, 25, 21, 3)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(size, size, 3, 5)), jnp.float32)
  out_h = (25 + 2 * padding - size) // stride + 1
  out_w = (21 + 2 * padding - size) // stride + 1
  got = conv.blocked_patches(x, size, stride, padding, out_h, out_w) @ (
      conv.blocked_kernel(kernel, stride).reshape(-1, 5))
  expected = lax.conv_general_dilated(x, kernel, (stride, stride), [(padding, padding)] * 2,
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-5, atol=1e-4)
  np.testing.assert_array_equal(
      conv.unblocked_kernel(conv.blocked_kernel(kernel, stride), stride, size), kernel)


def test_chunk_size_divides_the_batch_and_respects_the_budget(monkeypatch):
  monkeypatch.setattr(conv, 'CHUNK_BYTES', 1000)
  assert conv.chunk_size(32, 300) == 2      # 3 fit; 2 is the largest divisor <= 3
  assert conv.chunk_size(6, 300) == 3
  assert conv.chunk_size(7, 5000) == 1      # nothing fits: one image at a time
  assert conv.chunk_size(4, 10) == 4


def test_chunked_wide_layer_equals_lax_over_several_chunks(monkeypatch):
  """A wide layer (>= IM2COL_MIN_FEATURES kernels) with a budget of 2 images per chunk:
  forward and both gradients still equal lax's."""
  shape, size, padding, features = (6, 7, 7, 5), 3, 1, conv.IM2COL_MIN_FEATURES
  monkeypatch.setattr(conv, 'CHUNK_BYTES', 2 * 7 * 7 * size * size * 5 * 4)
  assert conv.chunk_size(6, 7 * 7 * size * size * 5 * 4) == 2
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(size, size, 5, features)), jnp.float32)

  def reference(a, k):
    return lax.conv_general_dilated(a, k, (1, 1), [(padding, padding)] * 2,
                                    dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

  expected, expected_vjp = jax.vjp(reference, x, kernel)
  got, got_vjp = jax.vjp(lambda a, k: conv.conv2d(a, k, 1, padding), x, kernel)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
  cotangent = jnp.asarray(rng.normal(size=expected.shape), jnp.float32)
  for a, b in zip(got_vjp(cotangent), expected_vjp(cotangent)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
