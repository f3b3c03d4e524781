"""The locally-connected layer (cuda-convnet's `type=local`) against independent
references: a NumPy loop over output positions (values, and its hand-derived
gradients), PyTorch's `unfold` + einsum with autograd, a shared-weight convolution
when every position holds the same filters, and finite differences in float64."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.test_util import check_grads

from alexnet_jax.ops import locally_connected as lc

# (batch, height, width, channels, filters, kernel, padding)
SHAPES = [
    pytest.param(2, 6, 6, 4, 3, 3, 1, id='local3-like-k3-pad1'),
    pytest.param(2, 5, 5, 3, 2, 3, 0, id='k3-pad0'),
    pytest.param(3, 4, 4, 2, 3, 3, 2, id='k3-pad2-output-larger'),
    pytest.param(2, 7, 6, 3, 4, 5, 1, id='k5-pad1-nonsquare'),
    pytest.param(1, 5, 8, 2, 2, 5, 2, id='k5-pad2-nonsquare'),
    pytest.param(2, 5, 7, 3, 2, 5, 0, id='k5-pad0-nonsquare'),
]


def local_loop(x, kernel, padding):
  """y[n, p, q, f] = sum over the window of position (p, q) with that position's
  own filters, one position at a time, in float64."""
  xpad = np.pad(x.astype(np.float64), ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  out_h, out_w, k, _, _, f = kernel.shape
  y = np.zeros((x.shape[0], out_h, out_w, f))
  for p in range(out_h):
    for q in range(out_w):
      window = xpad[:, p:p + k, q:q + k, :].reshape(x.shape[0], -1)
      y[:, p, q] = window @ kernel[p, q].astype(np.float64).reshape(-1, f)
  return y


def local_loop_gradients(x, kernel, padding, cotangent):
  """Gradients of sum(y * cotangent) with respect to x and kernel, derived by hand
  from local_loop: each position's window receives kernel[p, q] @ g[n, p, q], and
  kernel[p, q] receives the window's outer product with g[n, p, q]."""
  xpad = np.pad(x.astype(np.float64), ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  g = cotangent.astype(np.float64)
  out_h, out_w, k, _, _, _ = kernel.shape
  grad_xpad = np.zeros_like(xpad)
  grad_kernel = np.zeros(kernel.shape)
  for p in range(out_h):
    for q in range(out_w):
      window = xpad[:, p:p + k, q:q + k, :]
      grad_kernel[p, q] = np.einsum('nijc,nf->ijcf', window, g[:, p, q])
      grad_xpad[:, p:p + k, q:q + k, :] += np.einsum('ijcf,nf->nijc', kernel[p, q], g[:, p, q])
  h, w = x.shape[1:3]
  return grad_xpad[:, padding:padding + h, padding:padding + w, :], grad_kernel


def random_inputs(n, h, w, c, f, k, padding, seed=0):
  rng = np.random.default_rng(seed)
  out_h, out_w = lc.output_size(h, k, padding), lc.output_size(w, k, padding)
  x = rng.normal(size=(n, h, w, c)).astype(np.float32)
  kernel = rng.normal(size=(out_h, out_w, k, k, c, f)).astype(np.float32)
  cotangent = rng.normal(size=(n, out_h, out_w, f)).astype(np.float32)
  return x, kernel, cotangent


def value_and_gradients(x, kernel, cotangent, padding):
  """The layer's output and the gradients of the linear functional sum(y * g), jitted."""
  def functional(a, b):
    y = lc.locally_connected(a, b, padding)
    return jnp.sum(y * cotangent), y

  grads, y = jax.jit(jax.grad(functional, argnums=(0, 1), has_aux=True))(
      jnp.asarray(x), jnp.asarray(kernel))
  return y, grads


@pytest.mark.parametrize('n,h,w,c,f,k,padding', SHAPES)
def test_matches_numpy_loop(n, h, w, c, f, k, padding):
  x, kernel, cotangent = random_inputs(n, h, w, c, f, k, padding)
  y, (grad_x, grad_kernel) = value_and_gradients(x, kernel, cotangent, padding)
  expected_grad_x, expected_grad_kernel = local_loop_gradients(x, kernel, padding, cotangent)
  np.testing.assert_allclose(y, local_loop(x, kernel, padding), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(grad_x, expected_grad_x, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(grad_kernel, expected_grad_kernel, rtol=1e-5, atol=1e-5)
  # Eager (unjitted) gives the same values.
  np.testing.assert_allclose(lc.locally_connected(jnp.asarray(x), jnp.asarray(kernel), padding),
                             y, rtol=1e-6, atol=1e-6)


def test_numpy_loop_gradients_match_finite_differences():
  """The hand-derived reference gradients are themselves right (central differences
  of the loop in float64)."""
  x, kernel, cotangent = random_inputs(1, 4, 3, 2, 2, 3, 1)
  x, kernel = x.astype(np.float64), kernel.astype(np.float64)
  grad_x, grad_kernel = local_loop_gradients(x, kernel, 1, cotangent)
  eps = 1e-6
  for array, grad in ((x, grad_x), (kernel, grad_kernel)):
    for index in [(0,) * array.ndim, tuple(s - 1 for s in array.shape),
                  tuple(s // 2 for s in array.shape)]:
      saved = array[index]
      array[index] = saved + eps
      plus = np.sum(local_loop(x, kernel, 1) * cotangent)
      array[index] = saved - eps
      minus = np.sum(local_loop(x, kernel, 1) * cotangent)
      array[index] = saved
      assert grad[index] == pytest.approx((plus - minus) / (2 * eps), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize('k,padding,order', [(3, 1, 2), (5, 2, 1)])
def test_gradients_match_finite_differences_float64(k, padding, order):
  """Forward and reverse mode (the patches have a custom JVP), to second order once."""
  x, kernel, _ = random_inputs(1, 4, 3, 2, 2, k, padding, seed=1)
  with jax.enable_x64(True):
    check_grads(lambda a, b: lc.locally_connected(a, b, padding),
                (jnp.asarray(x, jnp.float64), jnp.asarray(kernel, jnp.float64)),
                order=order, modes=('fwd', 'rev'), atol=1e-7, rtol=1e-7)


@pytest.mark.parametrize('n,h,w,c,f,k,padding', SHAPES)
def test_matches_torch_unfold(n, h, w, c, f, k, padding):
  torch = pytest.importorskip('torch')
  x, kernel, cotangent = random_inputs(n, h, w, c, f, k, padding, seed=2)
  out_h, out_w = kernel.shape[:2]
  x_t = torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float64, requires_grad=True)
  kernel_t = torch.tensor(kernel, dtype=torch.float64, requires_grad=True)
  # unfold: (N, C*K*K, OH*OW), the window in (c, i, j) order, positions row-major.
  columns = torch.nn.functional.unfold(x_t, k, padding=padding)
  weights = kernel_t.permute(0, 1, 4, 2, 3, 5).reshape(out_h * out_w, c * k * k, f)
  y_t = torch.einsum('ndl,ldf->nlf', columns, weights).reshape(n, out_h, out_w, f)
  (y_t * torch.tensor(cotangent, dtype=torch.float64)).sum().backward()

  y, (grad_x, grad_kernel) = value_and_gradients(x, kernel, cotangent, padding)
  np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(grad_x, x_t.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(grad_kernel, kernel_t.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('k,padding', [(3, 1), (5, 0)])
def test_shared_filters_give_the_convolution(k, padding):
  """With the same filters at every position the layer is a convolution."""
  x, _, _ = random_inputs(2, 7, 6, 3, 4, k, padding, seed=3)
  filters = np.random.default_rng(4).normal(size=(k, k, 3, 4)).astype(np.float32)
  out_h, out_w = lc.output_size(7, k, padding), lc.output_size(6, k, padding)
  kernel = np.broadcast_to(filters, (out_h, out_w, k, k, 3, 4))
  expected = lax.conv_general_dilated(jnp.asarray(x), jnp.asarray(filters), (1, 1),
                                      [(padding, padding)] * 2,
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                      precision='highest')
  got = lc.locally_connected(jnp.asarray(x), jnp.asarray(kernel), padding)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_weights_are_not_shared_between_positions():
  """Changing one position's filters changes that position's output only."""
  x, kernel, _ = random_inputs(2, 6, 5, 3, 2, 3, 1, seed=5)
  before = np.asarray(lc.locally_connected(jnp.asarray(x), jnp.asarray(kernel), 1))
  kernel[2, 3] += 1.0
  after = np.asarray(lc.locally_connected(jnp.asarray(x), jnp.asarray(kernel), 1))
  changed = np.any(before != after, axis=(0, 3))
  assert changed[2, 3] and changed.sum() == 1


@pytest.mark.parametrize('k,padding', [(3, 1), (3, 0), (5, 2)])
def test_patches_hold_each_positions_window(k, padding):
  x, _, _ = random_inputs(2, 6, 5, 3, 1, k, padding, seed=6)
  out_h, out_w = lc.output_size(6, k, padding), lc.output_size(5, k, padding)
  xpad = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  patches = np.asarray(lc.patches(jnp.asarray(x), k, padding))
  gathered = np.asarray(lc._position_patches(jnp.asarray(x), k, padding))
  sliced = np.asarray(lc._sliced_position_patches(jnp.asarray(x), k, padding))
  assert patches.shape == (2, out_h, out_w, k, k, 3)
  assert gathered.shape == sliced.shape == (out_h * out_w, 2, k * k * 3)
  for p in range(out_h):
    for q in range(out_w):
      window = xpad[:, p:p + k, q:q + k]
      np.testing.assert_array_equal(patches[:, p, q], window)
      np.testing.assert_array_equal(gathered[p * out_w + q], window.reshape(2, -1))
      np.testing.assert_array_equal(sliced[p * out_w + q], window.reshape(2, -1))


def test_input_gradient_is_not_a_scatter():
  """The gathered patches are differentiated as slices (pads and adds): XLA:CPU
  runs a scatter-add slower than the whole forward pass."""
  x, kernel = jnp.ones((2, 6, 6, 3)), jnp.ones((6, 6, 3, 3, 3, 2))
  grad = jax.grad(lambda a: jnp.sum(lc.locally_connected(a, kernel, 1)))
  hlo = jax.jit(grad).lower(x).as_text()
  forward = jax.jit(lambda a: lc.locally_connected(a, kernel, 1)).lower(x).as_text()
  assert 'gather' in forward
  assert 'scatter' not in hlo


@pytest.mark.parametrize('size,k,padding,expected', [
    (6, 3, 1, 6), (6, 3, 0, 4), (6, 3, 2, 8), (8, 5, 2, 8), (5, 5, 0, 1)])
def test_output_size(size, k, padding, expected):
  # cuda-convnet's modulesX = 1 + ceil((2 * padding + imgSize - filterSize) / stride), stride 1
  assert lc.output_size(size, k, padding) == expected == 1 + (2 * padding + size - k)


def test_module_parameters_and_per_position_bias():
  module = lc.LocallyConnected(features=5, kernel_size=3, padding=1,
                               kernel_init=nn.initializers.normal(0.1))
  x = jnp.asarray(np.random.default_rng(7).normal(size=(2, 6, 4, 3)), jnp.float32)
  params = module.init(jax.random.key(0), x)['params']
  assert params['kernel'].shape == (6, 4, 3, 3, 3, 5)
  assert params['bias'].shape == (6, 4, 5)
  bias = jnp.asarray(np.random.default_rng(8).normal(size=(6, 4, 5)), jnp.float32)
  params = {'kernel': params['kernel'], 'bias': bias}
  apply = jax.jit(module.apply)
  y = apply({'params': params}, x)
  np.testing.assert_allclose(
      y, local_loop(np.asarray(x), np.asarray(params['kernel']), 1) + np.asarray(bias),
      rtol=1e-5, atol=1e-5)
  # With zero filters the output is the bias, different at every position.
  zero = apply({'params': {'kernel': jnp.zeros_like(params['kernel']), 'bias': bias}}, x)
  np.testing.assert_array_equal(zero, jnp.broadcast_to(bias, (2, 6, 4, 5)))
  assert len(np.unique(np.asarray(zero[0, :, :, 0]))) == 6 * 4


def test_module_bfloat16_keeps_float32_parameters():
  module = lc.LocallyConnected(features=2, kernel_size=3, padding=1,
                               kernel_init=nn.initializers.normal(0.1), dtype=jnp.bfloat16)
  x = jnp.ones((1, 4, 4, 2))
  variables = module.init(jax.random.key(0), x)
  assert variables['params']['kernel'].dtype == jnp.float32
  y = module.apply(variables, x)
  assert y.dtype == jnp.bfloat16
  np.testing.assert_allclose(
      np.asarray(y, np.float32),
      local_loop(np.asarray(x), np.asarray(variables['params']['kernel']), 1), rtol=2e-2,
      atol=2e-2)


def test_kernel_for_another_map_size_raises_one_line():
  x = jnp.ones((2, 8, 8, 4))
  kernel = jnp.ones((6, 6, 3, 3, 4, 2))  # made for a 6x6 map with padding 1
  with pytest.raises(ValueError) as info:
    lc.locally_connected(x, kernel, 1)
  message = str(info.value)
  assert '\n' not in message
  assert '6x6' in message and '8x8' in message


@pytest.mark.parametrize('kernel_shape,padding', [
    ((6, 6, 3, 3, 5, 2), 1),   # made for 5 channels, the input has 4
    ((6, 6, 3, 3, 4, 2), 0),   # right for padding 1, not 0
    ((6, 6, 3, 2, 4, 2), 1),   # not square
])
def test_other_mismatches_raise(kernel_shape, padding):
  with pytest.raises(ValueError, match='locally-connected layer'):
    lc.locally_connected(jnp.ones((1, 6, 6, 4)), jnp.ones(kernel_shape), padding)


def test_module_rejects_a_kernel_larger_than_the_padded_map():
  module = lc.LocallyConnected(features=2, kernel_size=5, padding=0,
                               kernel_init=nn.initializers.normal(0.1))
  with pytest.raises(ValueError, match='5x5 kernel does not fit a 3x4 input'):
    module.init(jax.random.key(0), jnp.ones((1, 3, 4, 2)))
