"""The separable window sums, the average pool and the spatial response norm built on them
equal their reduce_window definitions, values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alexnet_jax.models import cuda_convnet
from alexnet_jax.ops import window_sums


@pytest.mark.parametrize('shape, size, stride, padding', [
    ((2, 7, 6, 3), 3, 1, ((1, 1), (1, 1))),   # the spatial norm's centred window
    ((2, 7, 6, 3), 4, 1, ((2, 1), (2, 1))),   # an even window: uneven padding
    ((2, 24, 24, 4), 3, 2, ((0, 1), (0, 1))),  # cc_18pct's pools, overhanging
    ((1, 12, 12, 2), 2, 2, ((0, 0), (0, 0))),  # non-overlapping
    ((1, 9, 7, 2), 3, 3, ((0, 0), (0, 2))),    # stride = size, padding on one axis only
])
def test_window_sum_and_its_gradient_equal_reduce_window(shape, size, stride, padding):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=shape).astype(np.float32))
  expected, expected_vjp = jax.vjp(
      lambda a: window_sums.window_sum_reference(a, size, stride, padding), x)
  got, got_vjp = jax.vjp(lambda a: window_sums.window_sum(a, size, stride, padding), x)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
  cotangent = jnp.asarray(rng.normal(size=expected.shape).astype(np.float32))
  np.testing.assert_allclose(jax.jit(got_vjp)(cotangent)[0], expected_vjp(cotangent)[0],
                             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('height, width, size, stride, padding', [
    (24, 24, 3, 2, ((0, 1), (0, 1))), (7, 5, 3, 1, ((1, 1), (1, 1))), (6, 6, 2, 2, ((0, 0),) * 2)])
def test_window_counts_count_the_pixels_inside(height, width, size, stride, padding):
  ones = jnp.ones((1, height, width, 1), jnp.float32)
  expected = window_sums.window_sum_reference(ones, size, stride, padding)[0]
  np.testing.assert_array_equal(
      window_sums.window_counts(height, width, size, stride, padding), expected)


@pytest.mark.parametrize('size, power', [(3, 0.75), (4, 0.75), (3, 0.5)])
def test_spatial_norm_and_its_gradient_equal_the_reference(size, power):
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(0, 30, (2, 7, 6, 3)).astype(np.float32))
  scale = 5e-3  # large enough that the norm's own term in the gradient matters

  def fast(a):
    return window_sums.spatial_response_norm(a, size, scale, power)

  def reference(a):
    return window_sums.spatial_response_norm_reference(a, size, scale, power)

  expected, expected_vjp = jax.vjp(reference, x)
  got, got_vjp = jax.vjp(fast, x)
  np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-4)
  cotangent = jnp.asarray(rng.normal(size=x.shape).astype(np.float32))
  np.testing.assert_allclose(jax.jit(got_vjp)(cotangent)[0], expected_vjp(cotangent)[0],
                             rtol=1e-4, atol=1e-5)
  # the normalization is not the identity at this scale, so the test can fail
  assert float(jnp.max(jnp.abs(expected - x))) > 1.0


def test_average_pool_gradient_equals_the_reduce_window_definition():
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(2, 12, 12, 3)).astype(np.float32))
  padding = ((0, 1), (0, 1))
  counts = window_sums.window_counts(12, 12, 3, 2, padding)

  def reference(a):
    return window_sums.window_sum_reference(a, 3, 2, padding) / counts

  expected, expected_vjp = jax.vjp(reference, x)
  got, got_vjp = jax.vjp(lambda a: cuda_convnet.avg_pool(a, 3, 2), x)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
  cotangent = jnp.asarray(rng.normal(size=expected.shape).astype(np.float32))
  np.testing.assert_allclose(got_vjp(cotangent)[0], expected_vjp(cotangent)[0], rtol=1e-5,
                             atol=1e-6)
