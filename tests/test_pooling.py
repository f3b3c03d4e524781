"""The hand-written max-pool equals flax's: the separable forward exactly, the gradient the
automatic one (select_and_scatter)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alexnet_jax.ops import pooling


@pytest.mark.parametrize('shape,window,stride,padding', [
    ((2, 13, 13, 3), 3, 2, 'VALID'),   # the paper's overlapping pooling
    ((2, 14, 14, 3), 3, 2, 'SAME'),    # the small net's (cuda-convnet) pooling
    ((2, 7, 9, 3), 3, 2, 'SAME'),      # odd sizes, windows hanging over the edge
    ((2, 14, 14, 3), 2, 2, 'SAME'),    # non-overlapping
    ((2, 12, 12, 3), 2, 2, 'VALID'),
    ((1, 10, 10, 2), 3, 1, 'VALID'),   # stride 1
    ((2, 27, 27, 4), 3, 2, 'VALID'),   # the paper's pool2 map size
])
@pytest.mark.parametrize('ties', ['none', 'rounded', 'relu'])
def test_gradient_equals_automatic_gradient(shape, window, stride, padding, ties):
  rng = np.random.default_rng(0)
  x = rng.normal(size=shape).astype(np.float32)
  if ties == 'rounded':  # many equal maxima: the gradient must go to the first one only
    x = np.round(x * 2) / 2
  if ties == 'relu':  # after a ReLU: windows of zeros, and zeros tying with maxima
    x = np.maximum(np.round(x * 2) / 2 - 0.5, 0)
  x = jnp.asarray(x)

  def reference(a):
    return nn.max_pool(a, (window, window), (stride, stride), padding=padding)

  expected, expected_vjp = jax.vjp(reference, x)
  got, got_vjp = jax.vjp(lambda a: pooling.max_pool(a, window, stride, padding), x)
  np.testing.assert_array_equal(got, expected)
  cotangent = jnp.asarray(rng.normal(size=expected.shape).astype(np.float32))
  np.testing.assert_allclose(jax.jit(got_vjp)(cotangent)[0], expected_vjp(cotangent)[0],
                             rtol=1e-6, atol=1e-6)


def test_bfloat16_gradient_keeps_dtype():
  x = jnp.asarray(np.random.default_rng(1).normal(size=(1, 9, 9, 2)), jnp.bfloat16)
  grad = jax.grad(lambda a: jnp.sum(pooling.max_pool(a, 3, 2, 'VALID').astype(jnp.float32)))(x)
  assert grad.dtype == jnp.bfloat16
  assert float(jnp.sum(grad.astype(jnp.float32))) == pytest.approx(32.0)  # 4x4 outputs x 2 channels
