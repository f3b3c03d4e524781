"""cuda-convnet's CIFAR-10 nets (alexnet_jax.models.cuda_convnet.NETS) in PyTorch, built from the
same layer lists, for a like-for-like speed comparison
(experiments.benchmark_cuda_convnet_vs_torch; tests/test_cuda_convnet_torch.py proves
equal logits with the JAX parameters copied in).

The same arithmetic, in torch's terms:
* locally-connected (`type=local`): `F.unfold` patches, (c, i, j) order, and one einsum
  with a weight per output position, (OH*OW, C*K*K, F); one bias per position and filter.
* pooling with cuda-convnet's ceil window count: `ceil_mode=True` (with no padding the
  last window starts inside the image, so the counts agree); average over the part of
  the window inside the image (`count_include_pad=False`; with padding 0 torch's
  divisor is that clipped region either way).
* cross-map rnorm: `nn.LocalResponseNorm(size, alpha=scale, beta=pow, k=1)`; torch
  divides alpha by size, which is the parser's scale/size (lrn.to_torch of
  cuda_convnet.cross_map_params).
* spatial rnorm: x * (1 + scale * mean of x^2 over the zero-padded size x size window)^-pow,
  the mean being the sum / size^2 of window_sums.spatial_response_norm.
* the update rule (optimizers.cuda_convnet_sgd): torch SGD, momentum 0.9, dampening 0,
  one parameter group per layer kind: weights lr=epsW, weight_decay=wc; biases
  lr=epsB=2 epsW, no decay. At a constant rate torch's v <- mu v + g; w <- w - lr v is
  cuda-convnet's inc <- mu inc - lr g; w <- w + inc with inc = -lr v.
"""

import collections

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alexnet_jax.models import cuda_convnet
from alexnet_jax.models.layers import POOLING
from alexnet_jax.ops import lrn


class LocallyConnected(nn.Module):
  """Unshared KxK filters per output position, stride 1; weight (OH*OW, C*K*K, F)."""

  def __init__(self, channels, filters, size, padding, in_size, init_std):
    super().__init__()
    self.size, self.padding = size, padding
    self.out_size = in_size + 2 * padding - size + 1
    positions = self.out_size ** 2
    self.weight = nn.Parameter(torch.randn(positions, channels * size * size, filters) * init_std)
    self.bias = nn.Parameter(torch.zeros(filters, self.out_size, self.out_size))

  def forward(self, x):
    patches = F.unfold(x, self.size, padding=self.padding)  # (N, C*K*K, OH*OW)
    y = torch.einsum('ndl,ldf->nfl', patches, self.weight)
    return y.reshape(x.shape[0], -1, self.out_size, self.out_size) + self.bias


class SpatialResponseNorm(nn.Module):
  """cuda-convnet's `type=rnorm` without crossMap (window_sums.spatial_response_norm)."""

  def __init__(self, size, scale, power):
    super().__init__()
    self.size, self.scale, self.power = size, scale, power
    before = size // 2
    self.pads = (before, size - 1 - before, before, size - 1 - before)

  def forward(self, x):
    mean_squares = F.avg_pool2d(F.pad(x * x, self.pads), self.size, stride=1)
    return x * (1.0 + self.scale * mean_squares).pow(-self.power)


class CudaConvnet(nn.Module):
  """`cuda_convnet.NETS[variant]` on NCHW images, layer for layer."""

  def __init__(self, variant, num_classes=10):
    super().__init__()
    net = cuda_convnet.NETS[variant]
    self.variant = variant
    layers, channels, size = [], 3, net.image_size
    for layer in net.layers:
      if isinstance(layer, cuda_convnet.ConvLayer):
        module = nn.Conv2d(channels, layer.filters, layer.size, padding=layer.padding)
        nn.init.normal_(module.weight, std=layer.init_std)
        nn.init.zeros_(module.bias)
        channels, size = layer.filters, size + 2 * layer.padding - layer.size + 1
      elif isinstance(layer, cuda_convnet.LocalLayer):
        module = LocallyConnected(channels, layer.filters, layer.size, layer.padding, size,
                                  layer.init_std)
        channels, size = layer.filters, module.out_size
      elif isinstance(layer, cuda_convnet.PoolLayer):
        window, stride = POOLING['overlapping']
        module = (nn.MaxPool2d(window, stride, ceil_mode=True) if layer.kind == 'max' else
                  nn.AvgPool2d(window, stride, ceil_mode=True, count_include_pad=False))
        size = cuda_convnet.pool_output_size(size, window, stride)
      elif isinstance(layer, cuda_convnet.NormLayer):
        module = (nn.LocalResponseNorm(**lrn.to_torch(cuda_convnet.cross_map_params(layer)))
                  if layer.kind == 'cross_map' else
                  SpatialResponseNorm(layer.size, layer.scale, layer.power))
      else:
        self.fc_input = (channels, size)
        module = nn.Sequential(nn.Flatten(), nn.Linear(channels * size * size, num_classes))
        nn.init.normal_(module[1].weight, std=layer.init_std)
        nn.init.zeros_(module[1].bias)
      layers.append((layer.name, module))
      if getattr(layer, 'neuron', False):
        layers.append((f'{layer.name}_relu', nn.ReLU()))
    self.layers = nn.Sequential(collections.OrderedDict(layers))

  def forward(self, images):
    return self.layers(images)


def layer(model: CudaConvnet, name: str) -> nn.Module:
  module = getattr(model.layers, name)
  return module[1] if isinstance(module, nn.Sequential) else module


def create_optimizer(model: CudaConvnet, learning_rate=0.001, momentum=0.9):
  """cuda_convnet_sgd as torch SGD parameter groups (see the module docstring)."""
  groups = []
  for name, decay, bias_multiplier in cuda_convnet.update_rules(model.variant):
    module = layer(model, name)
    groups.append({'params': [module.weight], 'lr': learning_rate, 'weight_decay': decay})
    groups.append({'params': [module.bias], 'lr': bias_multiplier * learning_rate,
                   'weight_decay': 0.0})
  return torch.optim.SGD(groups, lr=learning_rate, momentum=momentum)


def training_step(net: nn.Module, optimizer, images, labels):
  """A no-argument call of one cross-entropy training step on a fixed batch (what the
  benchmarks time, eager or through torch.compile); returns the loss."""
  def step():
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(images), labels)
    loss.backward()
    optimizer.step()
    return loss
  return step


def load_jax_params(model: CudaConvnet, params) -> None:
  """Copies alexnet_jax parameters (flax tree of `cuda_convnet.CudaConvnet`) in place:
  conv HWIO -> OIHW; local (OH, OW, K, K, C, F) -> (OH*OW, C*K*K, F) in unfold's (c, i, j)
  order, bias (OH, OW, F) -> (F, OH, OW); fc rows from the NHWC flatten to NCHW's."""
  with torch.no_grad():
    for spec in cuda_convnet.weight_layers(model.variant):
      kernel = np.asarray(params[spec.name]['kernel'])
      bias = np.asarray(params[spec.name]['bias'])
      module = layer(model, spec.name)
      if isinstance(spec, cuda_convnet.ConvLayer):
        kernel = kernel.transpose(3, 2, 0, 1)
      elif isinstance(spec, cuda_convnet.LocalLayer):
        out_h, out_w, k, _, c, f = kernel.shape
        kernel = kernel.transpose(0, 1, 4, 2, 3, 5).reshape(out_h * out_w, c * k * k, f)
        bias = bias.transpose(2, 0, 1)
      else:
        channels, side = model.fc_input
        kernel = kernel.reshape(side, side, channels, -1).transpose(3, 2, 0, 1).reshape(
            kernel.shape[1], -1)
      module.weight.copy_(torch.from_numpy(np.array(kernel)))
      module.bias.copy_(torch.from_numpy(np.array(bias)))
