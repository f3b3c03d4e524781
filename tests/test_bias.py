"""bias.add_bias and layers.Conv: the same values and gradients as the plain
formulation and as flax.linen.Conv, with the same parameters."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alexnet_jax.models import layers
from alexnet_jax.ops import bias


def test_add_bias_gradient_equals_autodiff():
  rng = np.random.default_rng(0)
  y = jnp.asarray(rng.normal(size=(3, 5, 4, 6)), jnp.float32)
  b = jnp.asarray(rng.normal(size=(6,)), jnp.float32)
  g = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
  got, got_vjp = jax.vjp(bias.add_bias, y, b)
  expected, expected_vjp = jax.vjp(lambda a, c: a + c, y, b)
  np.testing.assert_array_equal(got, expected)
  for got_grad, expected_grad in zip(got_vjp(g), expected_vjp(g)):
    np.testing.assert_allclose(got_grad, expected_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kernel,stride,padding', [(11, 4, 0), (5, 1, 2), (3, 1, 1)])
def test_conv_is_flax_conv(kernel, stride, padding):
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 23, 23, 3)), jnp.float32)
  inits = dict(kernel_init=nn.initializers.normal(0.01), bias_init=nn.initializers.constant(1.0))
  ours = layers.Conv(8, kernel, stride, padding, dtype=jnp.float32, **inits)
  flax_conv = nn.Conv(8, (kernel, kernel), strides=(stride, stride),
                      padding=[(padding, padding)] * 2, **inits)
  params, flax_params = ours.init(jax.random.key(2), x), flax_conv.init(jax.random.key(2), x)
  jax.tree.map(np.testing.assert_array_equal, params, flax_params)  # same tree, same values
  np.testing.assert_allclose(ours.apply(params, x), flax_conv.apply(params, x), atol=1e-5)
  grads = jax.grad(lambda p: jnp.sum(ours.apply(p, x) ** 2))(params)
  flax_grads = jax.grad(lambda p: jnp.sum(flax_conv.apply(p, x) ** 2))(params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4),
               grads, flax_grads)


def test_conv_computes_in_bfloat16_with_float32_parameters():
  conv = layers.Conv(4, 3, 1, 1, kernel_init=nn.initializers.normal(0.1),
                     bias_init=nn.initializers.zeros, dtype=jnp.bfloat16)
  params = conv.init(jax.random.key(0), jnp.ones((1, 5, 5, 2)))
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
  assert conv.apply(params, jnp.ones((1, 5, 5, 2))).dtype == jnp.bfloat16
