"""Adding a per-channel bias, with its gradient computed as a matrix product.

Why: the gradient of `y + bias` with respect to the bias is a sum over every
axis but the last. XLA:CPU runs such a reduction far below memory speed (batch
32, conv2's output, 32x27x27x128: 2.15 ms, against 0.21 ms for the same sum as
`ones @ g` through the matrix-product path, and 0.22 ms for one elementwise pass
over it). `add_bias` computes `y + bias` and sums the gradient with a
vector-matrix product; only the summation order differs. End to end: see
models.Conv.
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
