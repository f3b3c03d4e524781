"""Adding a per-channel bias, with its gradient computed as a matrix product.

Why: the gradient of `y + bias` with respect to the bias is a sum over every
axis but the last. XLA:CPU runs such a reduction far below memory speed, about
ten times slower than the same sum as `ones @ g` through the matrix-product path,
which runs at the speed of one elementwise pass. `add_bias` computes `y + bias`
and sums the gradient with a vector-matrix product; only the summation order
differs (`tests/test_bias.py` compares it with autodiff). Figures, for one layer
and end to end: docs/performance_log.md.
"""

import jax
import jax.numpy as jnp


@jax.custom_vjp
def add_bias(y, bias):
  """`y + bias` for `bias` of shape (y.shape[-1],)."""
  return y + bias


def _add_bias_forward(y, bias):
  return y + bias, None


def _add_bias_backward(_, g):
  rows = g.reshape(-1, g.shape[-1])
  return g, jnp.ones((rows.shape[0],), g.dtype) @ rows


add_bias.defvjp(_add_bias_forward, _add_bias_backward)
