"""AlexNet in Flax linen, with the two kernel columns of the paper as a first-class concept.

Paper section 3.5 and Figure 2: the network is split into two columns (one per
GPU in 2012). Each column holds half the kernels of every layer; conv2, conv4
and conv5 see only their own column's maps, while conv3, fc6, fc7 and fc8 see
both columns. The parameter tree mirrors that:

    params = {'column0': {'conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7'},
              'column1': {... the same layers, the other half of the kernels ...},
              'fc8': {...}}

so one column's share is `params['column1']`, which is what `parallel.py` puts
on the second device. Layers that see both columns take the concatenation of
the columns' outputs (column 0 first); the network stops at those points to
"exchange" activations, which on one device is a concatenation and on two
devices an `all_gather` over the model axis (`collectives.gather_columns`).

Columns are separate convolutions, not `feature_group_count=2`: XLA:CPU runs a
grouped convolution several times slower (docs/performance_log.md).
Convolutions, neurons and the pooling table are `layers`' (shared with cuda_convnet).

Variants (`ARCHITECTURES`):
* `paper`: the paper's network, 227x227 input. The paper says 224x224, but
  conv1 (11x11, stride 4, no padding) only gives the 55x55 maps of Figure 2
  from 227 (or from 224 with 2 pixels of padding, torchvision's choice).
  60,965,224 parameters with 1000 classes (Caffe's bvlc_alexnet).
* `owt`: "one weird trick" (Krizhevsky 2014), torchvision's layout 64-192-384-
  256-256 with 224x224 input, conv1 padding 2, no LRN, dropout on the inputs of
  fc6 and fc7 as torchvision does; 61,100,840 parameters with 1000 classes.
* `small`: for 28-32 px images, after Krizhevsky's cuda-convnet CIFAR-10 nets
  (layers-18pct: 5x5 convolutions, 3x3/2 max-pooling whose windows may hang over
  the edge, LRN after the first two layers) but with AlexNet's five conv layers,
  two fully-connected layers and the same column connectivity, so every paper
  knob means the same thing. Its pooling pads like cuda-convnet ("SAME"), so
  3x3/2 and 2x2/2 pooling give the same map sizes on even inputs (32->16->8->4),
  as the paper's VALID pooling does on its odd sizes (55->27->13->6).

The knobs of `config.model` reach the modules as one frozen `ModelSpec`, shared
by `AlexNet` and its `Column`s: a new knob is a config default
(config/default.py), its check (validation.py; True/False knobs are checked
from their type here) and a `ModelSpec` field where the network uses it.
"""

import dataclasses
import functools
import math
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from alexnet_jax.models import cuda_convnet, layers
from alexnet_jax.ops import lrn as lrn_lib
from alexnet_jax.ops import pooling

OWN = 'own'    # the layer sees only its own column's maps
BOTH = 'both'  # the layer sees both columns (an exchange point)


@dataclasses.dataclass(frozen=True)
class ConvLayer:
  name: str
  features: int            # kernels in all columns together
  kernel: int
  stride: int = 1
  padding: int = 0
  sees: str = OWN
  lrn: bool = False        # LRN after the activation (paper: conv1, conv2)
  pool: bool = False       # max-pool after the activation (and LRN)
  bias_one: bool = False   # the paper's init sets this layer's biases to 1


@dataclasses.dataclass(frozen=True)
class DenseLayer:
  name: str
  features: int
  sees: str = BOTH
  dropout_input: bool = False
  bias_one: bool = False


@dataclasses.dataclass(frozen=True)
class Architecture:
  conv: tuple
  dense: tuple             # hidden fully-connected layers, split over columns
  image_size: int          # the input size the layout was designed for
  pool_padding: str        # VALID (paper, torchvision) | SAME (cuda-convnet)
  dropout_on_classifier_input: bool = True  # dropout on the input of fc8


# Written out in full, one table per variant, so each reads line by line against its source
# (the paper's Figure 2, torchvision's alexnet, the small net): they share a shape, not a
# logic, which is why a duplicate finder pairs them and why they are not generated.
ARCHITECTURES = {
    'paper': Architecture(
        conv=(
            ConvLayer('conv1', 96, 11, stride=4, lrn=True, pool=True),
            ConvLayer('conv2', 256, 5, padding=2, lrn=True, pool=True, bias_one=True),
            ConvLayer('conv3', 384, 3, padding=1, sees=BOTH),
            ConvLayer('conv4', 384, 3, padding=1, bias_one=True),
            ConvLayer('conv5', 256, 3, padding=1, pool=True, bias_one=True),
        ),
        dense=(
            DenseLayer('fc6', 4096, bias_one=True),
            DenseLayer('fc7', 4096, dropout_input=True, bias_one=True),
        ),
        image_size=227,
        pool_padding='VALID',
    ),
    'owt': Architecture(
        conv=(
            ConvLayer('conv1', 64, 11, stride=4, padding=2, pool=True),
            ConvLayer('conv2', 192, 5, padding=2, pool=True, bias_one=True),
            ConvLayer('conv3', 384, 3, padding=1, sees=BOTH),
            ConvLayer('conv4', 256, 3, padding=1, bias_one=True),
            ConvLayer('conv5', 256, 3, padding=1, pool=True, bias_one=True),
        ),
        dense=(
            DenseLayer('fc6', 4096, dropout_input=True, bias_one=True),
            DenseLayer('fc7', 4096, dropout_input=True, bias_one=True),
        ),
        image_size=224,
        pool_padding='VALID',
        dropout_on_classifier_input=False,
    ),
    'small': Architecture(
        conv=(
            ConvLayer('conv1', 64, 5, padding=2, lrn=True, pool=True),
            ConvLayer('conv2', 64, 5, padding=2, lrn=True, pool=True, bias_one=True),
            ConvLayer('conv3', 96, 3, padding=1, sees=BOTH),
            ConvLayer('conv4', 96, 3, padding=1, bias_one=True),
            ConvLayer('conv5', 64, 3, padding=1, pool=True, bias_one=True),
        ),
        dense=(
            DenseLayer('fc6', 256, bias_one=True),
            DenseLayer('fc7', 256, dropout_input=True, bias_one=True),
        ),
        image_size=32,
        pool_padding='SAME',
    ),
}

# The ModelSpec fields cuda_convnet.CudaConvnet reads; its layer file fixes the rest.
CUDA_CONVNET_KNOBS = ('variant', 'num_classes', 'activation', 'tanh_a', 'tanh_b', 'pooling',
                      'lrn', 'columns')


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """`config.model`, read once: each field is the config key of the same name
  (validated by validation.py); a key absent from the config (a run stored before
  the knob existed) takes the default here, the paper's network."""
  variant: str = 'paper'
  num_classes: int = 1000
  columns: int = 2
  activation: str = 'relu'
  tanh_a: float = 1.0
  tanh_b: float = 1.0
  pooling: str = 'overlapping'
  lrn: bool = True
  lrn_k: float = lrn_lib.LRNParams().k
  lrn_n: int = lrn_lib.LRNParams().n
  lrn_alpha: float = lrn_lib.LRNParams().alpha
  lrn_beta: float = lrn_lib.LRNParams().beta
  # LRN over the maps of all columns together, as Caffe's bvlc_alexnet does (its
  # windows cross the column boundary); False: each column its own maps, as each
  # of the paper's two GPUs did (section 3.3, Figure 2).
  lrn_across_columns: bool = False
  dropout_rate: float = 0.5
  width_multiplier: float = 1.0
  width_exempt: tuple = ()
  # Every conv layer but the last with half its kernels: the paper's one-GPU net
  # (section 3.2), which kept conv5 whole so that both nets have about the same number of
  # parameters (most of them are in fc6, which reads conv5). Relative to width_multiplier,
  # so the comparison holds at any width.
  halve_kernels_but_last: bool = False
  # Conv layers left out (section 7: removing any middle conv layer costs about 2 points
  # of top-1); `removable_layers` says which may be.
  removed_layers: tuple = ()
  init: str = 'paper'
  dtype: str = 'float32'
  conv_chunk: int = 0

  @classmethod
  def from_config(cls, model_config) -> 'ModelSpec':
    values = {}
    for field in dataclasses.fields(cls):
      value = model_config.get(field.name, field.default)
      values[field.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)

  @property
  def arch(self) -> 'Architecture':
    return without_layers(ARCHITECTURES[self.variant], self.removed_layers)

  @property
  def lrn_params(self) -> lrn_lib.LRNParams:
    return lrn_lib.LRNParams(self.lrn_k, self.lrn_n, self.lrn_alpha, self.lrn_beta)

  def conv_kernels(self, layer: 'ConvLayer') -> int:
    """Kernels of conv layer `layer` (all columns) in this network."""
    halved = self.halve_kernels_but_last and layer.name != self.arch.conv[-1].name
    return conv_features(layer, self.width_multiplier, self.width_exempt, halved)

  @property
  def stages(self) -> tuple:
    return stages(self.arch, self.lrn and self.lrn_across_columns)


def removable_layers(arch: Architecture) -> tuple:
  """The conv layers the depth ablation may leave out: those after conv1 that neither
  normalize nor pool (the paper's conv3 and conv4). Their 3x3 stride-1 padded kernels keep
  the map size, so leaving one out changes the depth and nothing else: every map, the fc6
  input and every other layer's kernels stay as they were."""
  return tuple(layer.name for layer in arch.conv[1:]
               if not (layer.lrn or layer.pool) and layer.kernel == 2 * layer.padding + 1
               and layer.stride == 1)


@functools.cache
def without_layers(arch: Architecture, names: tuple) -> Architecture:
  """`arch` without the conv layers `names` (from `removable_layers`). A removed layer
  that saw both columns hands that to the next kept layer, so the columns still exchange
  where they did (in the paper, conv3 is the conv stack's only exchange): the depth
  ablation then differs from the full net in depth alone, not also in the columns'
  communication, which is `ablate_columns.py`'s question."""
  if not names:
    return arch
  kept, hand_over = [], False
  for layer in arch.conv:
    if layer.name in names:
      hand_over = hand_over or layer.sees == BOTH
      continue
    if hand_over:
      layer, hand_over = dataclasses.replace(layer, sees=BOTH), False
    kept.append(layer)
  return dataclasses.replace(arch, conv=tuple(kept))


def conv_features(layer: ConvLayer, width_multiplier: float,
                  width_exempt: Sequence[str], halved: bool = False) -> int:
  """Kernels of a conv layer (all columns) after the width multiplier (not applied to
  the layers in `width_exempt`), halved if `halved`."""
  multiplier = 1.0 if layer.name in width_exempt else width_multiplier
  return int(round(layer.features * multiplier * (0.5 if halved else 1.0)))


def _dropout(x, rate, rng, example_ids, salt):
  """Inverted dropout with one key per example: the key of example e is
  fold_in(fold_in(rng, salt), e), so the mask of an example does not depend on
  how the batch is split over devices or columns (`example_ids` are global)."""
  keep = 1.0 - rate
  base = jax.random.fold_in(rng, salt)

  def one_mask(example_id):
    return jax.random.bernoulli(jax.random.fold_in(base, example_id), keep, x.shape[1:])

  mask = jax.vmap(one_mask)(example_ids)
  return jnp.where(mask, x / keep, 0.0).astype(x.dtype)


@dataclasses.dataclass(frozen=True)
class ColumnsLRN:
  """The LRN (and pooling) of `layer` over the maps of all columns: a stage that
  starts with it receives the columns' joined maps (`ModelSpec.lrn_across_columns`);
  each column normalizes them all and keeps its own, which doubles the LRN's work
  but needs no other exchange than the one of `AlexNet`."""
  layer: ConvLayer


class Column(nn.Module):
  """One kernel column: its share of conv1-conv5 and of the hidden FC layers.

  Called once per stage (the layers between two exchanges), so that the
  caller can exchange activations between columns at the paper's points.
  `column_index` salts dropout keys and picks the column's maps out of an LRN
  over all columns; it is a traced value under model parallelism.
  """
  spec: ModelSpec

  @nn.compact
  def __call__(self, x, stage: int, *, train: bool, dropout_rng=None, example_ids=None,
               column_index=0):
    spec = self.spec
    activation = layers.activation_function(spec.activation, spec.tanh_a, spec.tanh_b)
    dtype = layers.DTYPES[spec.dtype]
    for layer in spec.stages[stage]:
      if isinstance(layer, ColumnsLRN):
        maps = x.shape[-1] // spec.columns
        x = lrn_lib.local_response_norm(x, *spec.lrn_params)
        x = jax.lax.dynamic_slice_in_dim(x, column_index * maps, maps, axis=-1)
        x = self._pool_and_sow(x, layer.layer)
      elif isinstance(layer, ConvLayer):
        kernel_init, bias_init = layers.initializers(spec.init, layer.bias_one)
        features = spec.conv_kernels(layer)
        x = layers.Conv(features // spec.columns, layer.kernel, layer.stride, layer.padding,
                        kernel_init=kernel_init, bias_init=bias_init, dtype=dtype,
                        name=layer.name)(x)
        x = activation(x)
        self.sow('intermediates', f'{layer.name}_conv', x)
        if layer.lrn and spec.lrn:
          if spec.lrn_across_columns:
            continue  # the stage ends here; the next starts with ColumnsLRN(layer)
          x = lrn_lib.local_response_norm(x, *spec.lrn_params)
        x = self._pool_and_sow(x, layer)
      else:
        if layer.dropout_input and train and spec.dropout_rate > 0:
          x = _dropout(x, spec.dropout_rate, dropout_rng, example_ids,
                       salt=_salt(layer.name, column_index, layer.sees))
        kernel_init, bias_init = layers.initializers(spec.init, layer.bias_one)
        x = nn.Dense(layer.features // spec.columns, kernel_init=kernel_init,
                     bias_init=bias_init, dtype=dtype, name=layer.name)(x)
        x = activation(x)
        self.sow('intermediates', f'{layer.name}_out', x)
    return x

  def _pool_and_sow(self, x, layer: ConvLayer):
    if layer.pool:
      window, stride = layers.POOLING[self.spec.pooling]
      x = pooling.max_pool(x, window, stride, self.spec.arch.pool_padding)
    self.sow('intermediates', f'{layer.name}_out', x)
    if layer is self.spec.arch.conv[-1]:
      x = x.reshape(x.shape[0], -1)
    return x


def _salt(layer_name: str, column_index, sees: str):
  """Dropout salt: a layer's input that is the exchanged (joined) activation gets
  the same mask in every column; otherwise each column draws its own."""
  layer_salt = sum(ord(c) * 131 ** i for i, c in enumerate(layer_name)) % (2 ** 31)
  if sees == BOTH:
    return layer_salt
  return layer_salt + 1000003 * (column_index + 1)


@functools.cache
def stages(arch: Architecture, lrn_across_columns: bool = False) -> tuple:
  """Splits the column layers into stages that end where both columns are needed.

  The paper: (conv1, conv2) | (conv3, conv4, conv5) | (fc6,) | (fc7,), and fc8
  after the last exchange. With `lrn_across_columns`, a layer with LRN also ends
  a stage after its activation, and the next stage starts with its LRN over the
  joined maps: (conv1,) | (LRN1, conv2) | (LRN2,) | (conv3, conv4, conv5) | ...
  """
  result, current = [], []
  for layer in arch.conv + arch.dense:
    if layer.sees == BOTH and current:
      result.append(tuple(current))
      current = []
    current.append(layer)
    if lrn_across_columns and isinstance(layer, ConvLayer) and layer.lrn:
      result.append(tuple(current))
      current = [ColumnsLRN(layer)]
  result.append(tuple(current))
  return tuple(result)


def conv_stage_count(spec: ModelSpec) -> int:
  """How many leading stages hold convolutions only (paper: 2), the part of the
  network `AlexNet` runs over slices of the batch (`conv_chunk`)."""
  count = 0
  for stage in spec.stages:
    if not all(isinstance(layer, (ConvLayer, ColumnsLRN)) for layer in stage):
      break
    count += 1
  return count


class AlexNet(nn.Module):
  """The whole network: `columns` Column modules, exchanges, and the shared fc8.

  With `collectives` unset, all columns run here and an exchange concatenates
  them. With `collectives` set (a `parallel.Collectives`, inside pmap/shard_map
  over a model axis of size `columns`), this instance holds one column, named
  `column`, and an exchange is an all_gather over the model axis.

  Dropout (section 4.2) is applied to the inputs of the layers the variant names
  (paper: the outputs of fc6 and fc7); its keys come from `dropout_rng` and the
  global example index, so masks do not depend on the device layout.

  `spec.conv_chunk` > 0 runs the convolutional stages over slices of that many
  images and the fully-connected layers over the whole batch: cache blocking for
  CPUs, where a batch's activations (74 MB per column for conv1's output at batch
  128) do not fit in cache between layers; a few percent per training step of the
  paper net on a 2-core VM (docs/performance_log.md).
  """
  spec: ModelSpec = ModelSpec()
  collectives: Optional[Any] = None  # parallel.Collectives under model parallelism

  def _exchange(self, xs):
    if self.collectives is None:
      joined = xs[0] if len(xs) == 1 else jnp.concatenate(xs, axis=-1)
      return [joined] * len(xs)
    return [self.collectives.gather_columns(xs[0])]

  @nn.compact
  def __call__(self, images, *, train: bool = False, dropout_rng=None, example_ids=None):
    spec = self.spec
    if train and spec.dropout_rate > 0 and dropout_rng is None:
      raise ValueError('AlexNet(train=True) with dropout needs dropout_rng')
    if example_ids is None:
      example_ids = jnp.arange(images.shape[0])
    if self.collectives is None:
      columns = [Column(spec, name=f'column{c}') for c in range(spec.columns)]
      column_indices = list(range(spec.columns))
    else:
      columns = [Column(spec, name='column')]
      column_indices = [self.collectives.model_index()]
    x = images.astype(layers.DTYPES[spec.dtype])

    def run_stages(xs, stage_range, ids):
      for stage in stage_range:
        if stage > 0:
          xs = self._exchange(xs)
        xs = [column(x, stage, train=train, dropout_rng=dropout_rng, example_ids=ids,
                     column_index=index)
              for column, x, index in zip(columns, xs, column_indices)]
      return xs

    conv_stages = conv_stage_count(spec)
    batch = x.shape[0]
    chunk = spec.conv_chunk
    if 0 < chunk < batch:
      # Cache blocking: the convolutional stages see `conv_chunk` images at a
      # time, so each layer's output is still in cache when the next layer reads
      # it; the fully-connected layers then see the whole batch, so that their
      # weights are read once. Same function (the weight gradients sum over the
      # slices in another order).
      slices = [run_stages([x[start:start + chunk]] * len(columns),
                           range(conv_stages), example_ids[start:start + chunk])
                for start in range(0, batch, chunk)]
      xs = [jnp.concatenate(parts, axis=0) for parts in zip(*slices)]
    else:
      xs = run_stages([x] * len(columns), range(conv_stages), example_ids)
    xs = run_stages(xs, range(conv_stages, len(spec.stages)), example_ids)
    x = self._exchange(xs)[0]
    if spec.arch.dropout_on_classifier_input and train and spec.dropout_rate > 0:
      x = _dropout(x, spec.dropout_rate, dropout_rng, example_ids, salt=_salt('fc8', 0, BOTH))
    kernel_init, bias_init = layers.initializers(spec.init, bias_one=False)
    logits = nn.Dense(spec.num_classes, kernel_init=kernel_init, bias_init=bias_init,
                      dtype=layers.DTYPES[spec.dtype], name='fc8')(x)
    return logits.astype(jnp.float32)


def feature_map_sizes(variant: str, image_size: int, pooling: str) -> dict:
  """{layer: output side} of the conv layers and their poolings ('pool1' after conv1,
  ...), by the network's arithmetic; ValueError naming the layer when a kernel or a
  pooling window no longer fits its input. The last entry is the side fc6 sees."""
  arch = ARCHITECTURES[variant]
  window, stride = layers.POOLING[pooling]
  size, sizes = image_size, {}
  for layer in arch.conv:
    padded = size + 2 * layer.padding
    if layer.kernel > padded:
      raise ValueError(f'{layer.name} of {variant!r} has a {layer.kernel}x{layer.kernel} kernel '
                       f'but its input is {size}x{size} (padding {layer.padding}); the variant '
                       f'expects {arch.image_size}x{arch.image_size}')
    size = sizes[layer.name] = (padded - layer.kernel) // layer.stride + 1
    if layer.pool:
      pool_name = 'pool' + layer.name.removeprefix('conv')
      if window > size:
        raise ValueError(f'the {window}x{window} pooling after {layer.name} of {variant!r} sees '
                         f'a {size}x{size} map; the variant expects '
                         f'{arch.image_size}x{arch.image_size}')
      if arch.pool_padding == 'VALID':
        size = (size - window) // stride + 1
      else:
        size = math.ceil(size / stride)
      sizes[pool_name] = size
  return sizes


def create_model(model_config, *, collectives=None):
  """Builds the network from `config.model` (validated beforehand by validation.py):
  an `AlexNet`, or one of cuda-convnet's CIFAR-10 nets (`cuda_convnet.NETS`), which
  have one column; `collectives` makes an AlexNet one column of a model-parallel
  layout (parallel.py)."""
  spec = ModelSpec.from_config(model_config)
  if spec.variant in cuda_convnet.NETS:
    return cuda_convnet.CudaConvnet(**{key: getattr(spec, key) for key in CUDA_CONVNET_KNOBS})
  return AlexNet(spec, collectives=collectives)


def init_params(model, rng, image_shape):
  """Initial parameters for images of `image_shape` (H, W, C), computed on a batch of 1."""
  images = jnp.zeros((1, *image_shape), jnp.float32)
  return jax.jit(lambda r: model.init(r, images, train=False))(rng)['params']


def count_params(params) -> int:
  return sum(math.prod(p.shape) for p in jax.tree.leaves(params))
