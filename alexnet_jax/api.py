"""A trained or imported network from Python: `alexnet_jax.load(path)`.

    net = alexnet_jax.load('runs/caffe')         # a run directory, or a checkpoint step
    x = net.preprocess(images)                   # uint8 HWC images, any size
    classes, probabilities = net.predict(images, k=5)
    fc7 = net.features(x, 'fc7')                 # any layer of the summary table

`path` is a run directory (its latest checkpoint), a checkpoint step directory
(`DIR/checkpoints/<step>`, `DIR/checkpoints_best/<step>`) or a directory written
by `python -m alexnet_jax.weights`. The network and its input convention come
from the config stored in the checkpoint, and the normalization's statistics from
the run's dataset_statistics.json, so nothing else (not even the dataset) is needed.
"""

import functools
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from alexnet_jax import errors, summary
from alexnet_jax.data import input_pipeline
from alexnet_jax.data.images import resize_and_center_crop
from alexnet_jax.models import alexnet, cuda_convnet
from alexnet_jax.runtime.console import quiet_library_logs
from alexnet_jax.training import restore, run_files


class Network:
  """A network's parameters with its eval preprocessing, logits and features."""

  def __init__(self, config, params, step: int, checkpoint: str, workdir: str):
    self.config = config
    self.params = params
    self.step = step
    self.checkpoint = checkpoint
    self.workdir = workdir
    self.model = alexnet.create_model(config.model)
    self.image_size = int(config.data.image_size)
    self.channels = int(config.data.channels)
    self._logits = jax.jit(lambda p, x: self.model.apply({'params': p}, x, train=False))
    self._features = {}
    self._preprocessor = None

  @property
  def input_shape(self) -> tuple:
    return (self.image_size, self.image_size, self.channels)

  def _eval_preprocessor(self):
    """input_pipeline's eval preprocessing (center crop, the run's normalization);
    the dataset's statistics are read only by normalizations that need them."""
    if self._preprocessor is None:
      config = self.config.copy_and_resolve_references()
      config.data.ten_views = False
      needs_stats = config.data.normalization in input_pipeline.STATISTICS_NORMALIZATIONS
      self._preprocessor = input_pipeline.Preprocessor(
          config, self._statistics(config) if needs_stats else {})
    return self._preprocessor

  def _statistics(self, config) -> dict:
    """The statistics the run trained with: its own copy (run_files.STATISTICS), or,
    for a run written before runs kept one, its dataset's."""
    path = os.path.join(self.workdir, run_files.STATISTICS)
    if os.path.exists(path):
      with open(path) as f:
        return json.load(f)
    try:
      return input_pipeline.dataset_statistics(config)
    except errors.DatasetNotFoundError as error:
      raise errors.DatasetNotFoundError(
          f'{path}: not there (a run written before runs kept their dataset statistics), '
          f'so the normalization needs the dataset: {error}') from None

  @quiet_library_logs
  def preprocess(self, images) -> np.ndarray:
    """uint8 images (one HWC array, an NHWC batch, or a list of HWC arrays of any
    sizes) -> float32 [N, S, S, C] network inputs, as evaluation makes them: the
    shorter side resized to `data.resize_size` (to `data.image_size` for runs
    without one, e.g. the small datasets' nets) and center-cropped, then the
    central image_size crop normalized as the run's config says."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
      images = [images]
    side = int(self.config.data.resize_size or self.image_size)
    resized = []
    for image in images:
      image = np.asarray(image)
      if image.ndim == 2:
        image = image[..., None]
      if image.ndim != 3 or image.shape[-1] != self.channels:
        raise ValueError(f'preprocess: an image of shape {image.shape}; this network takes '
                         f'HxWx{self.channels} images')
      if image.dtype != np.uint8:
        raise ValueError(f'preprocess: images of dtype {image.dtype}; give uint8 pixels 0-255')
      resized.append(resize_and_center_crop(image, side))
    return self._eval_preprocessor().eval(np.stack(resized)).astype(np.float32)

  def _check_inputs(self, x, what):
    x = np.asarray(x, np.float32)
    if x.ndim != 4 or x.shape[1:] != self.input_shape:
      raise ValueError(
          f'{what}: inputs of shape {x.shape}; this network takes N x '
          f'{" x ".join(map(str, self.input_shape))} (what preprocess(images) returns; the '
          f'fully-connected layers fix the input size)')
    return x

  @quiet_library_logs
  def logits(self, x) -> np.ndarray:
    """float32 [N, classes] for a float32 NHWC batch of network inputs."""
    return np.asarray(self._logits(self.params, self._check_inputs(x, 'logits')))

  @quiet_library_logs
  def predict(self, images, k: int = 5):
    """(classes [N, k], probabilities [N, k]): the top-k classes of each uint8 image,
    most probable first."""
    probabilities = jax.nn.softmax(self.logits(self.preprocess(images)), axis=-1)
    top_p, top_c = jax.lax.top_k(probabilities, min(k, probabilities.shape[-1]))
    return np.asarray(top_c), np.asarray(top_p)

  @functools.cached_property
  def layers(self) -> tuple:
    """The names `features` accepts: the layers of the summary table (a layer's
    output as the next layer reads it: after its activation, LRN and pooling), and
    `<conv>_conv` for an AlexNet conv layer's activation before LRN and pooling
    (cuda-convnet's files make pooling and normalization layers of their own, so
    their conv rows are that already)."""
    names = [row['name'] for row in summary.layer_table(self.config)['layers']]
    if self.config.model.variant in cuda_convnet.NETS:
      return tuple(names)
    convs = [f'{name}_conv' for name in names if name.startswith('conv')]
    return tuple(names + convs)

  @quiet_library_logs
  def features(self, x, layer: str, joined: bool = True):
    """The activation of `layer` for inputs `x`: one array (the columns'
    maps concatenated, column 0 first, as the layers that see both columns read
    them), or with `joined=False` a list with one array per column."""
    if layer not in self.layers:
      raise ValueError(f'features: no layer {layer!r}; choose one of {", ".join(self.layers)}')
    x = self._check_inputs(x, 'features')
    if layer == 'fc8':
      logits = self.logits(x)
      return logits if joined else [logits]
    parts = [np.asarray(part) for part in self._feature_function(layer)(self.params, x)]
    return np.concatenate(parts, axis=-1) if joined else parts

  def feature_size(self, layer: str) -> int:
    """The number of values `features` gives per input for `layer` (all columns), from
    the traced shapes: nothing is compiled or run."""
    if layer not in self.layers:
      raise ValueError(f'feature_size: no layer {layer!r}; choose one of {", ".join(self.layers)}')
    if layer == 'fc8':
      return int(self.config.model.num_classes)
    images = jax.ShapeDtypeStruct((1, *self.input_shape), jnp.float32)
    parts = jax.eval_shape(self._feature_function(layer), self.params, images)
    return sum(math.prod(part.shape[1:]) for part in parts)

  def _feature_function(self, layer: str):
    """The jitted (params, inputs) -> [activation of `layer` per column]."""
    if layer not in self._features:
      key = layer if layer.endswith('_conv') else f'{layer}_out'

      def run(params, images):
        _, state = self.model.apply({'params': params}, images, train=False,
                                    mutable=['intermediates'])
        tree = state['intermediates']
        if key in tree:  # a layer outside the columns (cuda-convnet's fc10)
          return [tree[key][0]]
        return [tree[c][key][0] for c in sorted(tree) if c.startswith('column')]

      self._features[layer] = jax.jit(run)
    return self._features[layer]


@quiet_library_logs
def load(path: str) -> Network:
  """The network of a run directory, checkpoint step or imported-weights directory."""

  config, params, step, checkpoint = restore.trained_run(path)
  return Network(config, params, step, checkpoint, restore.locate(path)[0])
