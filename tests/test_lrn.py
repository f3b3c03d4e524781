"""LRN against independent references: a NumPy loop of the paper's formula,
tf.nn.lrn and torch.nn.LocalResponseNorm with converted constants, and finite
differences for the gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from alexnet_jax.ops import lrn


def lrn_loop(a, k, n, alpha, beta):
  """The formula of paper section 3.3 written out, one channel at a time."""
  channels = a.shape[-1]
  b = np.empty_like(a, dtype=np.float64)
  for i in range(channels):
    lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
    if n % 2 == 0:  # even windows: n//2 before, n//2 - 1 after (torch's choice)
      hi = min(channels - 1, i + n // 2 - 1)
    s = np.sum(a[..., lo:hi + 1].astype(np.float64) ** 2, axis=-1)
    b[..., i] = a[..., i] / (k + alpha * s) ** beta
  return b


@pytest.fixture
def activations():
  # ReLU-like magnitudes large enough that the normalization matters.
  return np.abs(np.random.default_rng(0).normal(0, 30, (2, 3, 4, 11))).astype(np.float32)


@pytest.mark.parametrize('k,n,alpha,beta', [
    (2.0, 5, 1e-4, 0.75),   # the paper
    (1.0, 5, 1e-4 / 5, 0.75),  # bvlc_alexnet, in the paper's convention
    (1.0, 3, 1e-3, 0.5),
    (2.0, 1, 1e-3, 0.75),
    (2.0, 4, 1e-3, 0.75),   # even window
    (0.5, 15, 1e-3, 1.0),   # window wider than the channels
])
def test_matches_numpy_loop(activations, k, n, alpha, beta):
  got = lrn.local_response_norm(jnp.asarray(activations), k, n, alpha, beta)
  np.testing.assert_allclose(got, lrn_loop(activations, k, n, alpha, beta), rtol=2e-6)


def test_normalization_changes_values(activations):
  out = np.asarray(lrn.local_response_norm(jnp.asarray(activations), 2.0, 5, 1e-3, 0.75))
  assert np.all(out < activations / 2.0 ** 0.75 + 1e-6)
  assert not np.allclose(out, activations / 2.0 ** 0.75, rtol=1e-3)


def test_tf_convention(activations):
  tf = pytest.importorskip('tensorflow')
  params = lrn.LRNParams(k=2.0, n=5, alpha=1e-3, beta=0.75)
  expected = tf.nn.lrn(activations, **lrn.to_tf(params)).numpy()
  got = lrn.local_response_norm(jnp.asarray(activations), *params)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  assert lrn.from_tf(**lrn.to_tf(params)) == params


def test_torch_convention(activations):
  torch = pytest.importorskip('torch')
  params = lrn.LRNParams(k=2.0, n=5, alpha=1e-3, beta=0.75)
  module = torch.nn.LocalResponseNorm(**lrn.to_torch(params))
  nchw = torch.from_numpy(activations).permute(0, 3, 1, 2)
  expected = module(nchw).permute(0, 2, 3, 1).numpy()
  got = lrn.local_response_norm(jnp.asarray(activations), *params)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  assert lrn.to_torch(params)['alpha'] == pytest.approx(5e-3)


def test_conversions_round_trip():
  params = lrn.LRNParams(k=1.0, n=5, alpha=2e-5, beta=0.75)
  assert lrn.from_torch(**lrn.to_torch(params)) == pytest.approx(params)
  caffe = lrn.from_torch(size=5, alpha=1e-4, beta=0.75)  # bvlc_alexnet's prototxt
  assert caffe.k == 1.0 and caffe.alpha == pytest.approx(2e-5)
  with pytest.raises(ValueError, match='odd window'):
    lrn.to_tf(lrn.LRNParams(n=4))


def test_gradient_matches_finite_differences():
  jax.config.update('jax_enable_x64', True)
  try:
    x = jnp.asarray(np.random.default_rng(1).normal(0, 3, (2, 2, 2, 7)))
    check_grads(lambda a: lrn.local_response_norm(a, 2.0, 5, 0.05, 0.75), (x,), order=2,
                modes=('rev',), atol=1e-6, rtol=1e-6)
  finally:
    jax.config.update('jax_enable_x64', False)


def test_bfloat16_keeps_dtype_and_accuracy(activations):
  x = jnp.asarray(activations, jnp.bfloat16)
  out = lrn.local_response_norm(x, 2.0, 5, 1e-3, 0.75)
  assert out.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(out, np.float32),
                             lrn_loop(np.asarray(x, np.float32), 2.0, 5, 1e-3, 0.75), rtol=1e-2)


def test_gradient_under_jit_matches_eager(activations):
  grad = jax.grad(lambda a: jnp.sum(lrn.local_response_norm(a, 2.0, 5, 1e-3, 0.75) ** 2))
  x = jnp.asarray(activations)
  np.testing.assert_allclose(jax.jit(grad)(x), grad(x), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('k,n,alpha,beta', [
    (2.0, 5, 1e-4, 0.75), (1.0, 3, 1e-3, 0.5), (2.0, 4, 1e-3, 0.75), (0.5, 15, 1e-3, 1.0)])
def test_fast_formulation_equals_reference_values_and_gradients(activations, k, n, alpha, beta):
  """The custom-VJP formulation against the plain definition (reduce_window, pow,
  autodiff), with a cotangent that weights every output differently."""
  x = jnp.asarray(activations)
  cotangent = jnp.asarray(np.random.default_rng(2).normal(size=x.shape), jnp.float32)
  fast, fast_vjp = jax.vjp(lambda a: lrn.local_response_norm(a, k, n, alpha, beta), x)
  ref, ref_vjp = jax.vjp(lambda a: lrn.local_response_norm_reference(a, k, n, alpha, beta), x)
  np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(fast_vjp(cotangent)[0], ref_vjp(cotangent)[0], rtol=1e-4, atol=1e-6)
