"""`--mode=export`: a TensorFlow SavedModel of the eval function, preprocessing included.

    python -m alexnet_jax.main --config=CONFIG --workdir=DIR --mode=export

converts the network of `config.eval.checkpoint` (default: the latest) with
`jax.experimental.jax2tf` into `DIR/saved_model`, whose `serving_default`
signature takes uint8 images [batch, S, S, C] (S = `data.resize_size`, or
`data.image_size` for runs without one; the batch size is free) and returns
`logits` and `probabilities`: the central image_size crop, the run's
normalization and the network, as `alexnet_jax.load(DIR)` computes them. Resizing
to S is left to the caller (TF's and PIL's bilinear resizers differ). The model
is written to a temporary directory and renamed when complete.
"""

import os
import shutil
import tempfile

import jax.numpy as jnp
import numpy as np

from alexnet_jax import api
from alexnet_jax.data import input_pipeline
from alexnet_jax.errors import ConfigError
from alexnet_jax.training import restore


def serving_side(config) -> int:
  return int(config.data.resize_size or config.data.image_size)


def eval_function(net):
  """uint8 [N, S, S, C] -> logits, in jnp: input_pipeline's eval crop and normalization
  (with its constants) followed by the network."""
  pre = net._eval_preprocessor()
  size, side = net.image_size, serving_side(net.config)
  offset = (side - size) // 2
  mode = net.config.data.normalization
  mean = np.asarray(pre.mean, np.float32)
  if mean.ndim == 3 and mean.shape[:2] != (size, size):
    mean = mean.mean((0, 1))  # as Preprocessor._normalize does for a crop of the frame
  scale = np.float32(pre.pixel_scale)

  def serve(params, images):
    x = images[:, offset:offset + size, offset:offset + size].astype(jnp.float32) * scale
    if mode == 'caffe':
      x = x[..., ::-1]
    x = x - mean
    if mode == 'torchvision':
      x = x / input_pipeline.IMAGENET_STD
    return net.model.apply({'params': params}, x, train=False)

  return serve


def _loads_in_tensorflow(converted, params, side, channels) -> bool:
  """Whether this TensorFlow can run the converted module (one tiny batch)."""
  import tensorflow as tf  # deferred: seconds to load; only export needs it
  try:
    converted(params, tf.zeros([1, side, side, channels], tf.uint8))
    return True
  except tf.errors.InvalidArgumentError:
    return False


def export(net, path: str) -> str:
  """Writes `net`'s SavedModel to `path` (replacing one that is there)."""
  import tensorflow as tf  # deferred: seconds to load; only export needs it
  from jax.experimental import jax2tf  # deferred: it loads TensorFlow

  side = serving_side(net.config)
  serve = eval_function(net)
  module = tf.Module()
  module.params = tf.nest.map_structure(lambda p: tf.Variable(np.asarray(p), trainable=False),
                                        net.params)
  converted = jax2tf.convert(serve, with_gradient=False,
                             polymorphic_shapes=[None, f'(b, {side}, {side}, {net.channels})'])
  if not _loads_in_tensorflow(converted, module.params, side, net.channels):
    # A batch-polymorphic module carries shape-assertion ops that a TensorFlow older
    # than the JAX cannot read (jax 0.12 with TF 2.21); then each image goes through a
    # module of fixed batch 1 (tf.map_fn), which any batch size can call.
    single = jax2tf.convert(serve, with_gradient=False)
    converted = lambda params, images: tf.map_fn(  # noqa: E731
        lambda image: single(params, image[None])[0], images,
        fn_output_signature=tf.float32)

  @tf.function(autograph=False, input_signature=[
      tf.TensorSpec([None, side, side, net.channels], tf.uint8, name='images')])
  def serving_default(images):
    logits = converted(module.params, images)
    return {'logits': logits, 'probabilities': tf.nn.softmax(logits)}

  module.serving_default = serving_default
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  temporary = tempfile.mkdtemp(prefix='.saved_model.exporting-', dir=parent)
  try:
    tf.saved_model.save(module, temporary, signatures={'serving_default': serving_default})
    if os.path.exists(path):
      shutil.rmtree(path)
    os.rename(temporary, path)
  except BaseException:
    shutil.rmtree(temporary, ignore_errors=True)
    raise
  return path


def _checkpoint_path(config, workdir: str) -> str:
  """The directory `alexnet_jax.load` takes for `config.eval.checkpoint`."""
  if str(config.eval.checkpoint) == 'latest':
    return workdir  # load falls back past a damaged latest checkpoint, as eval does
  manager, steps = restore.select_checkpoint(config, workdir)
  return os.path.join(str(manager.directory), str(max(steps)))


def run(config, workdir: str) -> str:
  """`--mode=export`: `DIR/saved_model` from the checkpoint `config.eval.checkpoint` names."""
  try:
    net = api.load(_checkpoint_path(config, workdir))
  except ValueError as error:
    raise ConfigError(str(error)) from None
  path = export(net, os.path.join(workdir, 'saved_model'))
  side = serving_side(net.config)
  print(f'wrote {path}: serving_default(images: uint8 [batch, {side}, {side}, {net.channels}]) '
        f'-> logits, probabilities (step {net.step})')
  return path
