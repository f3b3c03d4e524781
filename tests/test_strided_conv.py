"""strided_conv: the space-to-depth arrangement computes lax's strided convolution,
its kernel gradient and its input gradient, and leaves other convolutions to lax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from alexnet_jax.ops import strided_conv

NHWC = ('NHWC', 'HWIO', 'NHWC')


def _lax_conv(x, w, stride, padding):
  return lax.conv_general_dilated(x, w, (stride, stride), padding, dimension_numbers=NHWC,
                                  precision='highest')


def _project_conv(x, w, stride, padding):
  numbers = lax.conv_dimension_numbers(x.shape, w.shape, NHWC)
  return strided_conv.conv_general_dilated(x, w, (stride, stride), padding,
                                           dimension_numbers=numbers, precision='highest')


@pytest.mark.parametrize('size,kernel,stride,padding', [
    (35, 11, 4, 'VALID'),             # the paper's conv1 (227 -> 55), smaller
    (32, 11, 4, [(2, 2), (2, 2)]),    # torchvision's conv1 (224, padding 2)
    (16, 3, 2, 'SAME'),
    (15, 5, 3, [(1, 2), (0, 1)]),     # uneven padding, kernel not a multiple of the stride
    (14, 4, 2, 'VALID'),              # kernel a multiple of the stride
])
def test_equals_lax_forward_and_gradients(size, kernel, stride, padding):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, size, size, 3)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(kernel, kernel, 3, 5)), jnp.float32)
  expected, expected_vjp = jax.vjp(lambda a, b: _lax_conv(a, b, stride, padding), x, w)
  got, got_vjp = jax.vjp(lambda a, b: _project_conv(a, b, stride, padding), x, w)
  assert got.shape == expected.shape
  # Outputs are sums of up to 363 products of N(0, 1) numbers (about 20 in size): float32
  # summed in another order differs by ~1e-5 in absolute terms (seen on jax 0.12).
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
  cotangent = jnp.asarray(rng.normal(size=expected.shape), jnp.float32)
  for got_grad, expected_grad in zip(got_vjp(cotangent), expected_vjp(cotangent)):
    assert got_grad.shape == expected_grad.shape
    np.testing.assert_allclose(got_grad, expected_grad, rtol=1e-5, atol=1e-4)


def test_rearrangement_is_used_for_strided_convolutions_only():
  x, w = jnp.ones((1, 12, 12, 3)), jnp.ones((4, 4, 3, 2))

  def lowered(stride):
    return jax.jit(lambda a, b: _project_conv(a, b, stride, 'VALID')).lower(x, w).as_text()

  strided = lowered(2)  # a stride-1 convolution over 2x2 blocks of 3 channels
  assert 'stride = [1, 1]' in strided and 'tensor<1x6x6x12xf32>' in strided
  assert 'stride = [2, 2]' in jax.jit(lambda a, b: _lax_conv(a, b, 2, 'VALID')).lower(x, w).as_text()
  assert 'tensor<1x6x6x12xf32>' not in lowered(1)  # stride 1 goes to lax as it is
  grouped = jnp.ones((4, 4, 1, 2))
  out = strided_conv.conv_general_dilated(
      jnp.ones((1, 12, 12, 2)), grouped, (2, 2), 'VALID',
      dimension_numbers=lax.conv_dimension_numbers((1, 12, 12, 2), grouped.shape, NHWC),
      feature_group_count=2)
  assert out.shape == (1, 5, 5, 2)  # grouped: lax's own convolution


def test_space_to_depth_orders_channels_as_the_kernel_does():
  x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
  blocks = strided_conv.space_to_depth(x, 2)
  assert blocks.shape == (2, 2, 2, 12)
  np.testing.assert_array_equal(blocks[1, 1, 0].reshape(2, 2, 3), x[1, 2:4, 0:2])
