"""Datasets read from NumPy files instead of TFDS (`config.data.arrays_dir`).

Why: the GPU machine has JAX but neither TensorFlow nor TFDS, and a small dataset
(CIFAR-10: 170 MB as compressed arrays) travels there as files. `arrays_dir` holds one
`<split>.npz` per split with `x` (uint8 [N, H, W, C]) and `y` (integer labels [N]), the
format of `../shared/data/cifar10/` and of `python -m alexnet_jax.datasets import-npz`'s
inputs. The images are served by `input_pipeline.ArraySource` (in memory), so the
batches, augmentation and statistics are the TFDS path's for the same arrays.
"""

import functools
import os

import numpy as np

from alexnet_jax.errors import DatasetNotFoundError


def path_of(arrays_dir, split) -> str:
  return os.path.join(arrays_dir, f'{split}.npz')


@functools.lru_cache(maxsize=4)
def load(arrays_dir, split):
  """(uint8 images [N, H, W, C], int32 labels [N]) of `split`; DatasetNotFoundError
  (one line) for a missing or malformed file."""
  path = path_of(arrays_dir, split)
  if not os.path.isfile(path):
    present = sorted(name[:-4] for name in os.listdir(arrays_dir)
                     if name.endswith('.npz')) if os.path.isdir(arrays_dir) else []
    raise DatasetNotFoundError(
        f'config.data.arrays_dir={arrays_dir!r} has no {split}.npz (it has: '
        f'{", ".join(present) or "no .npz files"}); splits are whole files, no slices')
  with np.load(path) as files:
    if 'x' not in files or 'y' not in files:
      raise DatasetNotFoundError(f'{path}: needs arrays x (images) and y (labels); it has '
                                 f'{", ".join(files.files)}')
    images, labels = files['x'], files['y']
  if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) != len(labels):
    raise DatasetNotFoundError(f'{path}: x must be uint8 [N, H, W, C] with one label per '
                               f'image in y; it is {images.dtype} {images.shape}, y '
                               f'{labels.shape}')
  if images.ndim == 3:
    images = images[..., None]
  return images, labels.astype(np.int32)


def dataset_info(config) -> dict:
  """input_pipeline.dataset_info's fields, from the files."""
  data = config.data
  train_images, train_labels = load(data.arrays_dir, data.train_split)
  eval_images, eval_labels = load(data.arrays_dir, data.eval_split)
  return {'num_train_examples': len(train_images), 'num_eval_examples': len(eval_images),
          'num_classes': int(max(train_labels.max(), eval_labels.max())) + 1,
          'stored_image_shape': tuple(train_images.shape[1:])}
