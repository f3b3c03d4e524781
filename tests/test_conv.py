"""The im2col weight gradient equals the automatic one of lax.conv_general_dilated."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from alexnet_jax import conv


@pytest.mark.parametrize('shape,size,stride,padding,features', [
    ((2, 23, 23, 3), 11, 4, 0, 5),   # conv1's geometry (11x11, stride 4)
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
