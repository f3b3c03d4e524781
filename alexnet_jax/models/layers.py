"""What the paper net (alexnet) and cuda-convnet's nets (cuda_convnet) share: the
pooling table, the neurons, the dtypes and initializers, and the convolution module.

`Conv` is flax.linen.Conv's parameters and arithmetic arranged for XLA:CPU: strided
convolutions (conv1) through `strided_conv` (the same convolution after a
space-to-depth rearrangement) and the bias gradient as a matrix product (`bias`).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from alexnet_jax.ops import bias as bias_lib
from alexnet_jax.ops import strided_conv


# Pooling by name: (window, stride). Overlapping is the paper's (section 3.4: z=3, s=2);
# both the paper net and cuda-convnet's nets read this table.
POOLING = {'overlapping': (3, 2), 'non_overlapping': (2, 2)}
ACTIVATIONS = ('relu', 'tanh')
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
INITS = ('paper', 'paper_zero_bias', 'he')


def activation_function(name: str, tanh_a: float = 1.0, tanh_b: float = 1.0):
  """The neuron `name` of ACTIVATIONS. `tanh` is cuda-convnet's `tanh[a,b]` neuron,
  a * tanh(b * x) (`neuron.cuh`): the library has no plain tanh, the layer file names
  a and b. a = b = 1 is the plain tanh; LeCun et al.'s scaled tanh (1998) is
  a = 1.7159, b = 2/3. The paper does not say which Figure 1 used (section 3.1)."""
  if name == 'relu':
    return nn.relu
  if tanh_a == 1.0 and tanh_b == 1.0:
    return jnp.tanh
  return lambda x: tanh_a * jnp.tanh(tanh_b * x)


def initializers(init: str, bias_one: bool):
  """Paper section 5: weights N(0, 0.01); biases 1 in conv2, conv4, conv5 and the
  hidden fully-connected layers, 0 elsewhere ("This initialization accelerates the early
  stages of learning by providing the ReLUs with positive inputs"). `paper_zero_bias` is
  its ablation: the same weights, every bias 0. `he` is the modern alternative
  (He et al. 2015 fan-in normal, zero biases), which trains small nets from
  scratch without the paper's careful learning-rate tuning."""
  if init in ('paper', 'paper_zero_bias'):
    one = bias_one and init == 'paper'
    return nn.initializers.normal(0.01), nn.initializers.constant(1.0 if one else 0.0)
  return nn.initializers.variance_scaling(2.0, 'fan_in', 'normal'), nn.initializers.zeros


class Conv(nn.Module):
  """`flax.linen.Conv` for square kernels with symmetric padding: the same
  parameters ('kernel' (k, k, in, out) and 'bias', float32, promoted to `dtype`),
  initializers and arithmetic, arranged for XLA:CPU. Strided convolutions go
  through `strided_conv`, and the bias through `bias.add_bias`, whose gradient is
  a matrix product rather than a slow reduction (a small gain at batch 32, within
  noise at 128: docs/performance_log.md); tests/test_bias.py pins the equality
  with flax.linen.Conv."""
  features: int
  kernel_size: int
  stride: int
  padding: int
  kernel_init: Any
  bias_init: Any
  dtype: Any

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init,
                        (self.kernel_size, self.kernel_size, x.shape[-1], self.features),
                        jnp.float32)
    bias = self.param('bias', self.bias_init, (self.features,), jnp.float32)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    numbers = jax.lax.conv_dimension_numbers(x.shape, kernel.shape, ('NHWC', 'HWIO', 'NHWC'))
    y = strided_conv.conv_general_dilated(x, kernel, (self.stride, self.stride),
                                          [(self.padding, self.padding)] * 2,
                                          dimension_numbers=numbers)
    return bias_lib.add_bias(y, bias)
