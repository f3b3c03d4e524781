"""The paper's own CIFAR-10 networks: Krizhevsky's cuda-convnet layer files as data.

The paper's CIFAR-10 claims (section 3.3's "four-layer CNN ... 13% test error
without normalization and 11% with", Figure 1's four-layer net) were made with
cuda-convnet's example networks, not with a small AlexNet. This module rebuilds
them from the layer files of the cuda-convnet repository (svn trunk, mirrored as
github.com/dnouri/cuda-convnet; file:line below refer to that history):

* `cc_11pct`: `example-layers/layers-conv-local-11pct.cfg` and
  `layer-params-conv-local-11pct.cfg` as of svn r541 (git a2a6af8, 2012-03-13
  21:46:37), the file that stood through the paper (HEAD differs only by 35d0bc4,
  which moved scale/pow into the params file). Layer file lines: conv1 64 5x5 pad 2
  ReLU, initW 0.0001 (9-20) -> pool1 max 3x3/2 (22-30) -> rnorm1 `type=cmrnorm`
  size 9, scale 0.001, pow 0.75, on pool1's 12x12 maps (32-38) -> conv2 64 5x5 pad 2
  ReLU, initW 0.01 (40-51) -> rnorm2 cmrnorm size 9 (53-59) -> pool2 max 3x3/2
  (61-69) -> local3 64 3x3 pad 1 ReLU, initW 0.04 (71-80) -> local4 32 3x3 pad 1
  ReLU, 64 input channels, initW 0.04 (82-91) -> fc10 initW 0.01 (93-97). Params
  file: epsW 0.001, epsB 0.002, mom 0.9 everywhere; wc 0 on conv1 (18) and conv2
  (25), 0.004 on local3 (32) and local4 (39), 0.01 on fc10 (46).
* `cc_11pct_no_rnorm`: r541 without rnorm1 and rnorm2, everything else the same
  (local3 64, fc10 wc 0.01): the LRN ablation on the paper's net. It equals
  `cc_11pct` with `model.lrn=False` (a test checks it).
* `cc_11pct_r540`: the draft the paper did not use, svn r540 (git 3878e8f,
  2012-03-13 21:45:04), replaced 93 seconds later by r541: rnorm1/rnorm2 cross-map
  size 5 before each pool (`type=rnorm`, `crossMap=1`), local3 32, fc10 wc 0.004.
  Without its rnorm layers it is `cc_13pct` exactly (`diff` of the files shows
  nothing else): a clean same-width ablation, but not the paper's comparison.
* `cc_13pct`: `layers-conv-local-13pct.cfg` (unchanged since 2011-12-18): conv1 64
  -> pool1 -> conv2 64 -> pool2 -> local3 32 -> local4 32 -> fc10, wc 0.004 on
  local3, local4 and fc10. Its header: "13% error on CIFAR-10 in 20 minutes".
* `cc_18pct`: `layers-18pct.cfg` (HEAD): conv1 32 5x5 pad 2 (no neuron) -> pool1
  max 3x3/2 with `neuron=relu` -> rnorm1 `type=rnorm` (no crossMap: the spatial
  kind, a 3x3 window within each map) -> conv2 32 ReLU -> pool2 avg 3x3/2 ->
  rnorm2 -> conv3 64 ReLU -> pool3 avg 3x3/2 -> fc10; rnorm scale 0.00005, pow
  0.75 and the per-layer rates from `layer-params-18pct.cfg`.

Conventions taken from the source:

* Response normalization (`layer.py` r541, `NormLayerParser.parse`, lines
  1047-1053; r540 had the same arithmetic under `crossMap=1`): the parser divides
  `scale` by `size` for cross-map normalization (`type=cmrnorm`) and
  by `size**2` for the spatial kind; the kernels (`src/cudaconv2/conv_util.cu`,
  `kFCNorm_manyfilter` and `kCNorm2`) compute `x * (1 + scale' * sum x^2)^-pow`
  over maps `i - size/2 .. i - size/2 + size - 1` (cross-map) or pixels
  `p - size/2 ..` in each direction (spatial), clipped at the edges. In the
  paper's notation (lrn.py): k=1, n=size, alpha=scale/size, beta=pow.
* Pooling (`PoolLayerParser.parse`, `layer.py` HEAD line 1023): with `start=0`
  and `outputsX=0`, `outputsX = ceil((imgSize - start - sizeX) / stride) + 1`, so
  the last window may hang over the bottom/right edge (24 -> 12 -> 6 for 3x3/2).
  Max ignores the outside; average divides by the number of pixels inside the
  image (`kLocalPool` in `include/cudaconv2/conv_util.cuh`: `regionSize`).
* Initialization (`WeightLayerParser.make_weights`): weights `initW * randn`,
  biases 0; locally-connected layers have one bias per position and filter.
* The update rule (`include/weights.cuh`, `Weights::update`, and the layers'
  `bpropWeights`, `src/layer.cu`: `scaleGrad = epsW / numCases`):
  `inc <- momW * inc - epsW * mean_n dL_n/dw - wc * epsW * w; w <- w + inc`,
  biases with `epsB` and no decay (`src/layer.cu` line 310: `new Weights(...,
  epsB, 0, momB, true)`). That is the paper's section-5 rule with per-layer
  rates and decay: `training/optimizers.py`'s `cuda_convnet_sgd`.
"""

import dataclasses

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from alexnet_jax.models import layers
from alexnet_jax.ops import locally_connected
from alexnet_jax.ops import lrn as lrn_lib
from alexnet_jax.ops import pooling, window_sums


@dataclasses.dataclass(frozen=True)
class _FilterLayer:
  """A layer of `filters` size x size filters, stride 1; `neuron`: the activation
  follows (`neuron=relu` in the file)."""
  name: str
  filters: int
  size: int
  padding: int
  init_std: float
  weight_decay: float
  neuron: bool = True


class ConvLayer(_FilterLayer):
  """`type=conv`: filters shared by every output position."""


class LocalLayer(_FilterLayer):
  """`type=local`: unshared filters, one set per output position."""


@dataclasses.dataclass(frozen=True)
class PoolLayer:
  """`type=pool`, `start=0`, `outputsX=0`; `neuron`: the activation after pooling."""
  name: str
  kind: str               # max | avg
  size: int = 3
  stride: int = 2
  neuron: bool = False


@dataclasses.dataclass(frozen=True)
class NormLayer:
  """`type=rnorm`: `cross_map` (crossMap=1) or `spatial` (a size x size window)."""
  name: str
  kind: str
  size: int
  scale: float
  power: float = 0.75


@dataclasses.dataclass(frozen=True)
class DenseLayer:
  """`type=fc`, the classifier (softmax follows in the loss)."""
  name: str
  init_std: float
  weight_decay: float


@dataclasses.dataclass(frozen=True)
class Net:
  layers: tuple
  image_size: int = 24          # cifar-cropped: 32 - 2 * crop-border(4)
  learning_rate: float = 0.001  # epsW of every layer
  bias_lr_multiplier: float = 2.0  # epsB = 2 epsW in every layer
  momentum: float = 0.9         # momW = momB
  source: str = ''
  # With `model.columns=2` (not in the files): the filter layer that sees both columns,
  # as the paper's conv3 does (section 3.2); the others see their own column's maps.
  exchange: str = ''


def _net_11pct_r541(norm: bool, source: str) -> Net:
  """r541's layer file (a2a6af8): rnorm after pool1 and after conv2, size 9."""
  norm1 = (NormLayer('rnorm1', 'cross_map', 9, 0.001),) if norm else ()
  norm2 = (NormLayer('rnorm2', 'cross_map', 9, 0.001),) if norm else ()
  return Net(
      layers=(ConvLayer('conv1', 64, 5, 2, init_std=1e-4, weight_decay=0.0),
              PoolLayer('pool1', 'max'), *norm1,
              ConvLayer('conv2', 64, 5, 2, init_std=0.01, weight_decay=0.0), *norm2,
              PoolLayer('pool2', 'max'),
              LocalLayer('local3', 64, 3, 1, init_std=0.04, weight_decay=0.004),
              LocalLayer('local4', 32, 3, 1, init_std=0.04, weight_decay=0.004),
              DenseLayer('fc10', init_std=0.01, weight_decay=0.01)),
      source=source, exchange='local3')


def _net_11pct_r540(norm: bool, source: str) -> Net:
  """r540's draft (3878e8f), which is also 13pct without its rnorm layers."""
  norm1 = (NormLayer('rnorm1', 'cross_map', 5, 0.001),) if norm else ()
  norm2 = (NormLayer('rnorm2', 'cross_map', 5, 0.001),) if norm else ()
  return Net(
      layers=(ConvLayer('conv1', 64, 5, 2, init_std=1e-4, weight_decay=0.0), *norm1,
              PoolLayer('pool1', 'max'),
              ConvLayer('conv2', 64, 5, 2, init_std=0.01, weight_decay=0.0), *norm2,
              PoolLayer('pool2', 'max'),
              LocalLayer('local3', 32, 3, 1, init_std=0.04, weight_decay=0.004),
              LocalLayer('local4', 32, 3, 1, init_std=0.04, weight_decay=0.004),
              DenseLayer('fc10', init_std=0.01, weight_decay=0.004)),
      source=source, exchange='local3')


NETS = {
    'cc_11pct': _net_11pct_r541(True, 'layers-conv-local-11pct.cfg + layer-params-conv-'
                                'local-11pct.cfg, svn r541 (git a2a6af8)'),
    'cc_11pct_no_rnorm': _net_11pct_r541(False, 'cc_11pct (r541) without rnorm1, rnorm2'),
    'cc_11pct_r540': _net_11pct_r540(True, 'layers-conv-local-11pct.cfg + layer-params-conv-'
                                     'local-11pct.cfg, svn r540 (git 3878e8f), the draft'),
    'cc_13pct': _net_11pct_r540(False, 'layers-conv-local-13pct.cfg + '
                                'layer-params-conv-local-13pct.cfg'),
    'cc_18pct': Net(
        layers=(ConvLayer('conv1', 32, 5, 2, init_std=1e-4, weight_decay=0.004, neuron=False),
                PoolLayer('pool1', 'max', neuron=True),
                NormLayer('rnorm1', 'spatial', 3, 0.00005),
                ConvLayer('conv2', 32, 5, 2, init_std=0.01, weight_decay=0.004),
                PoolLayer('pool2', 'avg'),
                NormLayer('rnorm2', 'spatial', 3, 0.00005),
                ConvLayer('conv3', 64, 5, 2, init_std=0.01, weight_decay=0.004),
                PoolLayer('pool3', 'avg'),
                DenseLayer('fc10', init_std=0.01, weight_decay=1.0)),
        source='layers-18pct.cfg + layer-params-18pct.cfg', exchange='conv3'),
}


def pool_output_size(size: int, window: int, stride: int) -> int:
  """cuda-convnet's window count with start=0, outputsX=0: a ceiling, so the last
  window may hang over the edge (`PoolLayerParser.parse`)."""
  return -(-(size - window) // stride) + 1


def _overhang_padding(x, window, stride):
  """NHWC padding that makes room for the windows hanging over the bottom/right edge."""
  def overhang(size):
    return (pool_output_size(size, window, stride) - 1) * stride + window - size
  return ((0, 0), (0, overhang(x.shape[1])), (0, overhang(x.shape[2])), (0, 0))


def max_pool(x, window: int, stride: int):
  """Max over windows that may overhang the bottom/right edge (outside ignored)."""
  padding = _overhang_padding(x, window, stride)
  if any(high for _, high in padding):
    x = jnp.pad(x, padding, constant_values=-jnp.inf)
  return pooling.max_pool(x, window, stride, 'VALID')


def avg_pool(x, window: int, stride: int):
  """Mean over the part of each window inside the image (cuda-convnet's regionSize)."""
  padding = _overhang_padding(x, window, stride)[1:3]
  counts = window_sums.window_counts(x.shape[1], x.shape[2], window, stride, padding)
  return window_sums.window_sum(x, window, stride, padding) * np.asarray(1.0 / counts, x.dtype)


def cross_map_params(layer: NormLayer) -> lrn_lib.LRNParams:
  """A cross-map rnorm layer in the paper's notation: k=1 (cuda-convnet's additive
  1), n=size, alpha=scale/size (the parser's division), beta=pow."""
  return lrn_lib.LRNParams(k=1.0, n=layer.size, alpha=layer.scale / layer.size, beta=layer.power)


class CudaConvnet(nn.Module):
  """One of `NETS`, with the ablation knobs of the AlexNet variants where they apply:
  `activation` replaces the files' ReLU (Figure 1; `tanh` is `tanh_a * tanh(tanh_b * x)`),
  `lrn=False` drops the rnorm layers (section 3.3), `pooling='non_overlapping'` makes every
  pool 2x2/2 (section 3.4; same output sizes). Same call signature as `alexnet.AlexNet`.

  `columns=2` splits the net into the paper's two kernel columns (section 3.2), which
  the files do not have: each filter layer keeps its filter count over both columns
  together, every column sees the whole image, the net's `exchange` layer and the
  classifier see both columns' maps (column 0 first), the other layers their own
  column's, and response normalization runs over a column's own maps as on the
  paper's two GPUs. It exists to train the split behind the paper's Figure 3 the
  cuda-convnet way (small initial weights, SGD with per-layer rates), which the small
  AlexNet's recipe does not. Parameters of a column sit under 'column0', 'column1'; with
  one column the tree is the file's."""
  variant: str = 'cc_11pct'
  num_classes: int = 10
  activation: str = 'relu'
  tanh_a: float = 1.0
  tanh_b: float = 1.0
  pooling: str = 'overlapping'
  lrn: bool = True
  columns: int = 1

  @property
  def net(self) -> Net:
    return NETS[self.variant]

  def _apply_layers(self, x, net_layers):
    """`net_layers` in this module's scope, each filter layer with 1/columns of its
    filters (called from a compact method, which the layers made here belong to)."""
    activation = layers.activation_function(self.activation, self.tanh_a, self.tanh_b)
    for layer in net_layers:
      if isinstance(layer, ConvLayer):
        x = layers.Conv(layer.filters // self.columns, layer.size, 1, layer.padding,
                        kernel_init=nn.initializers.normal(layer.init_std),
                        bias_init=nn.initializers.zeros, dtype=jnp.float32, name=layer.name)(x)
      elif isinstance(layer, LocalLayer):
        x = locally_connected.LocallyConnected(
            layer.filters // self.columns, layer.size, layer.padding,
            kernel_init=nn.initializers.normal(layer.init_std), name=layer.name)(x)
      elif isinstance(layer, PoolLayer):
        window, stride = layers.POOLING[self.pooling]
        x = (max_pool if layer.kind == 'max' else avg_pool)(x, window, stride)
      elif isinstance(layer, NormLayer):
        if not self.lrn:
          continue
        if layer.kind == 'cross_map':
          x = lrn_lib.local_response_norm(x, *cross_map_params(layer))
        else:
          x = window_sums.spatial_response_norm(x, layer.size, layer.scale, layer.power)
      else:
        x = nn.Dense(self.num_classes, kernel_init=nn.initializers.normal(layer.init_std),
                     name=layer.name)(x.reshape(x.shape[0], -1))
      if getattr(layer, 'neuron', False):
        x = activation(x)
      self.sow('intermediates', f'{layer.name}_out', x)
    return x

  @nn.compact
  def __call__(self, images, *, train: bool = False, dropout_rng=None, example_ids=None):
    x = images.astype(jnp.float32)
    net_layers = self.net.layers
    if self.columns == 1:
      return self._apply_layers(x, net_layers).astype(jnp.float32)
    exchange = [layer.name for layer in net_layers].index(self.net.exchange)
    classifier = len(net_layers) - 1
    knobs = {field.name: getattr(self, field.name) for field in dataclasses.fields(CudaConvnet)
             if field.name not in ('parent', 'name')}
    columns = [LayerRange(**knobs, name=f'column{c}') for c in range(self.columns)]
    xs = [column(x, 0, exchange) for column in columns]
    both = jnp.concatenate(xs, axis=-1)
    xs = [column(both, exchange, classifier) for column in columns]
    return self._apply_layers(jnp.concatenate(xs, axis=-1),
                              net_layers[classifier:]).astype(jnp.float32)


class LayerRange(CudaConvnet):
  """The file's layers `start:stop`, each filter layer with 1/columns of its filters: one
  column of a two-column net, or with one column any slice of the file's net (one layer
  compiled and timed alone: experiments/cuda_convnet_layer_times.py)."""

  @nn.compact
  def __call__(self, x, start: int, stop: int):
    return self._apply_layers(x, self.net.layers[start:stop])


def kind(layer) -> str:
  """'conv', 'local', 'pool', 'norm' or 'dense': the layer's type, as tables show it."""
  return type(layer).__name__.replace('Layer', '').lower()


def weight_layers(variant: str) -> tuple:
  return tuple(layer for layer in NETS[variant].layers
               if isinstance(layer, (ConvLayer, LocalLayer, DenseLayer)))


def update_rules(variant: str, layer_weight_decay: bool = True) -> tuple:
  """((layer name, weight decay, learning-rate multiplier of the biases), ...)."""
  net = NETS[variant]
  return tuple((layer.name, layer.weight_decay if layer_weight_decay else 0.0,
                net.bias_lr_multiplier) for layer in weight_layers(variant))


def feature_map_sizes(variant: str, image_size: int, pooling_name: str) -> dict:
  """{layer: output side} by cuda-convnet's arithmetic, as alexnet.feature_map_sizes;
  ValueError naming the layer when a kernel or window no longer fits."""
  window, stride = layers.POOLING[pooling_name]
  size, sizes = image_size, {}
  for layer in NETS[variant].layers:
    if isinstance(layer, (ConvLayer, LocalLayer)):
      size = size + 2 * layer.padding - layer.size + 1
    elif isinstance(layer, PoolLayer):
      if window > size:
        size = 0
      else:
        size = pool_output_size(size, window, stride)
    if size < 1:
      raise ValueError(f'{layer.name} of {variant!r} gets no output from a {image_size}x'
                       f'{image_size} input (the net is made for {NETS[variant].image_size}x'
                       f'{NETS[variant].image_size})')
    sizes[layer.name] = size
  return sizes
