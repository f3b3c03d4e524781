"""The paper net at the paper's initialization, fed pixels in [0, 1] or 0-255, both minus
the mean: how far conv1's LRN term reaches, and how much the output depends on the image.

    python -m experiments.paper_input_scale [--arrays=../shared/data/cifar10/train.npz]
        [--images=64]

The paper's weights are N(0, 0.01) and its LRN constants k=2, alpha=1e-4 (section 5,
3.3); cuda-convnet fed its nets raw 0-255 pixels minus the mean image. The first
`--images` images of the arrays file (uint8 x [N, H, W, 3], e.g. CIFAR-10's), resized to
227x227, go through one initialized paper net (seed 0) at both scales. Printed per scale:
the 99th percentile of alpha * sum a^2 over conv1's ReLU outputs (a at each map and its
four neighbours) as a share of k, where LRN stops being a constant division; and the
logits' standard deviation across the images as a share of their mean magnitude, how much
the first steps' outputs can tell the images apart.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from alexnet_jax.config import default
from alexnet_jax.models import alexnet

SIDE = 227


def resized(arrays: str, count: int) -> np.ndarray:
  with np.load(arrays) as files:
    images = files['x'][:count]
  return np.stack([np.asarray(Image.fromarray(image).resize((SIDE, SIDE), Image.BILINEAR))
                   for image in images]).astype(np.float32)


def conv1_lrn_share(params, inputs, model_config) -> float:
  """The 99th percentile of alpha * (sum of a^2 over 5 adjacent maps) / k at conv1."""
  kernel = params['column0']['conv1']['kernel']
  outputs = jax.nn.relu(jax.lax.conv_general_dilated(
      inputs, kernel, (4, 4), 'VALID', dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
  half = model_config.lrn_n // 2
  window = sum(jnp.roll(jnp.square(outputs), shift, axis=-1) for shift in range(-half, half + 1))
  return float(jnp.percentile(model_config.lrn_alpha * window, 99)) / model_config.lrn_k


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--arrays', default='../shared/data/cifar10/train.npz')
  parser.add_argument('--images', type=int, default=64)
  args = parser.parse_args()
  config = default.get_config('paper')
  model = alexnet.create_model(config.model)
  params = jax.jit(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, SIDE, SIDE, 3)),
                                      train=False))()['params']
  pixels = resized(args.arrays, args.images)
  print(f'jax {jax.__version__}; {args.images} images of {args.arrays} at {SIDE}x{SIDE}')
  for scale, name in ((1 / 255, 'pixels in [0, 1] minus the mean'),
                      (1.0, 'pixels 0-255 minus the mean')):
    inputs = pixels * scale
    inputs = inputs - inputs.mean((0, 1, 2))
    logits = model.apply({'params': params}, inputs, train=False)
    spread = float(jnp.std(logits, axis=0).mean() / jnp.abs(logits).mean())
    print(f'{name}: conv1 LRN term / k, 99th percentile '
          f'{conv1_lrn_share(params, inputs, config.model):.2e}; logits spread across images '
          f'/ level {spread:.2e}')


if __name__ == '__main__':
  main()
