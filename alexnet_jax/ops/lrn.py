"""Local response normalization, in pure JAX (paper section 3.3).

    b_i = a_i / (k + alpha * sum_{j = max(0, i - n//2)}^{min(N - 1, i + n//2)} a_j^2) ** beta

over the channel axis (the last axis: activations are NHWC), with the window of
n adjacent channels clipped at the edges. The paper uses k=2, n=5, alpha=1e-4,
beta=0.75.

Conventions differ between frameworks, and the same four numbers mean different
things in each:

* Here and in the paper, `alpha` multiplies the plain sum of squares.
* `tf.nn.lrn(depth_radius=r, bias, alpha, beta)` takes the half-width
  r = (n - 1) / 2 and, like the paper, does not divide alpha by the window.
* Caffe's LRN layer and `torch.nn.LocalResponseNorm(size, alpha, beta, k)`
  divide alpha by `size` (= n): their alpha is n times ours. Caffe's
  bvlc_alexnet also leaves k at 1, not the paper's 2.

`to_torch`, `from_torch`, `to_tf` and `from_tf` convert between them.

In the two-column network each GPU normalised its own maps, so the model calls
this function once per column: windows never cross columns.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class LRNParams(NamedTuple):
  """LRN constants in the paper's convention (alpha not divided by n)."""
  k: float = 2.0
  n: int = 5
  alpha: float = 1e-4
  beta: float = 0.75


def local_response_norm_reference(x, k=2.0, n=5, alpha=1e-4, beta=0.75):
  """The definition, written plainly: a `reduce_window` sum over the channel axis
  (zero padding gives exactly the paper's clipped window), `pow`, autodiff.
  Tests hold `local_response_norm` to it; it is about 4x slower on XLA:CPU."""
  if n < 1:
    raise ValueError(f'LRN window n must be >= 1, got {n}')
  dtype = x.dtype
  x32 = x.astype(jnp.promote_types(dtype, jnp.float32))
  half = n // 2
  pad = [(0, 0)] * (x.ndim - 1) + [(half, n - 1 - half)]
  window = (1,) * (x.ndim - 1) + (n,)
  squares_sum = jax.lax.reduce_window(
      x32 * x32, np.zeros((), x32.dtype), jax.lax.add, window, (1,) * x.ndim, pad)
  scale = k + alpha * squares_sum
  return (x32 * scale ** (-beta)).astype(dtype)


def _window_sum(v, n, transposed=False):
  """sum_{j in window(i)} v_j over the last axis, as n shifted slices of a padded
  copy, which XLA fuses into one loop (a reduce_window over the minor axis is
  not fused on CPU). `transposed` sums over {i : j in window(i)} instead, the
  mirror image for even n."""
  half = n // 2
  low, high = (half, n - 1 - half) if not transposed else (n - 1 - half, half)
  channels = v.shape[-1]
  padded = jnp.pad(v, [(0, 0)] * (v.ndim - 1) + [(low, high)])
  total = padded[..., :channels]
  for j in range(1, n):
    total = total + padded[..., j:j + channels]
  return total


def inverse_power(scale, beta):
  """scale ** -beta; for the paper's 0.75 (and 0.5) from square roots, which
  cost a fraction of a general `pow` (exp and log) on CPU. window_sums' spatial
  norm uses it too."""
  if beta == 0.75:
    root = jax.lax.rsqrt(scale)
    return root * jnp.sqrt(root)
  if beta == 0.5:
    return jax.lax.rsqrt(scale)
  return scale ** (-beta)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _lrn(x, k, n, alpha, beta):
  return x * inverse_power(k + alpha * _window_sum(x * x, n), beta)


def _lrn_forward(x, k, n, alpha, beta):
  return _lrn(x, k, n, alpha, beta), x


def _lrn_backward(k, n, alpha, beta, x, g):
  """With s_i = k + alpha * sum_{j in w(i)} x_j^2 and y_i = x_i s_i^-beta:

      dL/dx_j = g_j s_j^-beta - 2 alpha beta x_j sum_{i: j in w(i)} g_i x_i s_i^(-beta-1)

  Recomputes s from x (one fused loop) rather than storing it. s^(-beta-1) is
  s^-beta * rsqrt(s)^2, not s^-beta / s: XLA:CPU keeps a division out of the
  fusion that pads its result for the window sum, and the extra pass over the
  activations costs more than the product (the rsqrt is the one inverse_power
  computes for the paper's beta)."""
  scale = k + alpha * _window_sum(x * x, n)
  inverse = inverse_power(scale, beta)
  weighted = g * x * inverse * jnp.square(jax.lax.rsqrt(scale))
  return (g * inverse - (2.0 * alpha * beta) * x * _window_sum(weighted, n, transposed=True),)


_lrn.defvjp(_lrn_forward, _lrn_backward)


def local_response_norm(x, k=2.0, n=5, alpha=1e-4, beta=0.75):
  """Normalizes `x` (..., channels) across neighbouring channels (paper eq. in 3.3).

  The same function as `local_response_norm_reference`, formulated for speed:
  the window sum as fused shifted slices, the power from square roots, and a
  hand-written backward pass (autodiff of this formulation is slower than the
  formula). Computed in float32 even for bfloat16 inputs: squares of
  activations overflow the bfloat16 mantissa long before its range.
  """
  if n < 1:
    raise ValueError(f'LRN window n must be >= 1, got {n}')
  dtype = x.dtype
  x32 = x.astype(jnp.promote_types(dtype, jnp.float32))
  return _lrn(x32, float(k), int(n), float(alpha), float(beta)).astype(dtype)


def to_torch(params: LRNParams) -> dict:
  """Arguments for `torch.nn.LocalResponseNorm` that compute the same function."""
  return dict(size=params.n, alpha=params.alpha * params.n, beta=params.beta, k=params.k)


def from_torch(size, alpha=1e-4, beta=0.75, k=1.0) -> LRNParams:
  """Paper-convention constants from `torch.nn.LocalResponseNorm`/Caffe arguments."""
  return LRNParams(k=k, n=size, alpha=alpha / size, beta=beta)


def to_tf(params: LRNParams) -> dict:
  """Arguments for `tf.nn.lrn`; only odd windows have a tf equivalent."""
  if params.n % 2 != 1:
    raise ValueError(f'tf.nn.lrn needs an odd window, got n={params.n}')
  return dict(depth_radius=(params.n - 1) // 2, bias=params.k, alpha=params.alpha,
              beta=params.beta)


def from_tf(depth_radius=5, bias=1.0, alpha=1.0, beta=0.5) -> LRNParams:
  """Paper-convention constants from `tf.nn.lrn` arguments (tf's defaults)."""
  return LRNParams(k=bias, n=2 * depth_radius + 1, alpha=alpha, beta=beta)
