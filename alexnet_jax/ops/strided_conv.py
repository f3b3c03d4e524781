"""Strided convolutions (AlexNet's conv1: 11x11, stride 4) computed after a
space-to-depth rearrangement, with the same parameters and the same result.

Why: XLA:CPU runs conv1 far below its speed on the other layers. With 3 input
channels and stride 4, each output pixel's 363 inputs are gathered from 11 rows
of 11 strided pixels, and the weight gradient (a contraction over batch and
output positions with stride-4 reads) was the slowest convolution of the
training step. Folding every 4x4 block of pixels into the channels (3 -> 48) and
zero-padding the kernel to 12x12 turns the layer into a stride-1 3x3
convolution over 48 channels, a shape XLA's convolution handles at near its
matrix-multiply speed. The zero taps add (12/11)^2 - 1 = 19% multiply-adds and
are multiplied by zero, so the result is the same convolution (up to float
summation order); autodiff through the rearrangement gives the kernel gradient
of the padded kernel, whose zero taps are sliced away.

conv1's kernel gradient gets faster, its forward pass does not change; the paper
net's training step gains a little at batch 32 and nothing measurable at batch 128
(both versions compiled in one process and timed alternately; figures in
docs/performance_log.md). `tests/test_strided_conv.py` holds the result and both
gradients to `lax.conv_general_dilated`.

`conv_general_dilated` is a drop-in for `lax.conv_general_dilated` (models.Conv
calls it for every convolution): it falls back to lax for anything other than an
undilated, ungrouped, strided NHWC/HWIO convolution.
"""

import jax.numpy as jnp
from jax import lax

_NHWC_HWIO = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1),
                                      out_spec=(0, 3, 1, 2))


def space_to_depth(x, block: int):
  """(N, H, W, C) -> (N, H/block, W/block, block*block*C), channel order (row, col, c)."""
  n, h, w, c = x.shape
  x = x.reshape(n, h // block, block, w // block, block, c)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(n, h // block, w // block, block * block * c)


def kernel_space_to_depth(kernel, block: int):
  """(K, K, C, O) with K a multiple of `block` -> (K/block, K/block, block*block*C, O),
  matching `space_to_depth`'s channel order."""
  k, _, c, o = kernel.shape
  kernel = kernel.reshape(k // block, block, k // block, block, c, o)
  return kernel.transpose(0, 2, 1, 3, 4, 5).reshape(k // block, k // block, block * block * c, o)


def space_to_depth_conv(x, kernel, stride: int, padding, precision=None):
  """`lax.conv_general_dilated(x, kernel, (stride, stride), padding)` for NHWC x and
  HWIO square kernels, computed as a stride-1 convolution after space-to-depth.
  `padding`: ((top, bottom), (left, right)) in input pixels."""
  size = kernel.shape[0]
  padded_size = -(-size // stride) * stride
  taps = padded_size // stride
  (top, bottom), (left, right) = padding
  out_h = (x.shape[1] + top + bottom - size) // stride + 1
  out_w = (x.shape[2] + left + right - size) // stride + 1
  # The rearranged input must cover (out - 1 + taps) blocks in each dimension.
  need_h, need_w = (out_h - 1 + taps) * stride, (out_w - 1 + taps) * stride
  x = lax.pad(x, jnp.zeros((), x.dtype),
              ((0, 0, 0), (top, need_h - x.shape[1] - top, 0),
               (left, need_w - x.shape[2] - left, 0), (0, 0, 0)))
  kernel = jnp.pad(kernel, ((0, padded_size - size), (0, padded_size - size), (0, 0), (0, 0)))
  return lax.conv_general_dilated(space_to_depth(x, stride), kernel_space_to_depth(kernel, stride),
                                  (1, 1), 'VALID', dimension_numbers=_NHWC_HWIO,
                                  precision=precision)


def _explicit_padding(padding, x_shape, kernel_shape, strides):
  if not isinstance(padding, str):
    return tuple(tuple(p) for p in padding)
  return tuple(lax.padtype_to_pads(x_shape[1:3], kernel_shape[:2], strides, padding))


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         precision=None, **kwargs):
  """`lax.conv_general_dilated`, through `space_to_depth_conv` where that applies."""
  strides = tuple(window_strides)
  applies = (
      lhs.ndim == 4 and len(set(strides)) == 1 and strides[0] > 1
      and rhs.shape[0] == rhs.shape[1]
      and all(d == 1 for d in (lhs_dilation or (1, 1)))
      and all(d == 1 for d in (rhs_dilation or (1, 1)))
      and feature_group_count == 1 and not kwargs
      and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == _NHWC_HWIO)
  if not applies:
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
                                    rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
                                    feature_group_count=feature_group_count, precision=precision,
                                    **kwargs)
  pads = _explicit_padding(padding, lhs.shape, rhs.shape, strides)
  return space_to_depth_conv(lhs, rhs, strides[0], pads, precision=precision)
