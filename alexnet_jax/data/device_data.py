"""Training data held on the device: batches cut, augmented and normalized inside the
compiled step (`config.data.on_device`).

Why: on a GPU the host-fed loop (input_pipeline.TrainBatches, one batch per step
sent over) spends more time making and sending batches than a small net such as
cuda-convnet's 11pct spends training on them. A dataset that fits in device memory
(CIFAR-10: 150 MB of uint8) is placed there once; each step then gathers its
examples and augments them in JAX, and many steps run per dispatch
(step_functions.make_dispatch).

The batch of step `s` is still a pure function of (seed, s), so resume stays exact:

* Its examples are the host path's (`input_pipeline.global_batch_plan`): positions
  s*B .. s*B+B-1 of an endless sequence of epochs, each epoch the permutation
  `np.random.default_rng([seed, epoch]).permutation(N)`. The permutations are made on
  the host, once per epoch (a sort of N keys inside the step costs more than the
  step of a small net on a CPU), and passed to the step with the epoch they start
  at (`EpochPermutations`).
* Its crop offsets, flips and PCA colour shifts are drawn in JAX from
  `fold_in(key(seed), step)`, for the whole global batch (each data replica then
  takes its slice, so the batch does not depend on the layout). They have the host
  path's distributions (offsets uniform over the valid range, flips with
  probability 1/2, colour noise N(0, pca_std) per eigenvector) but not its draws:
  the host path's NumPy generators cannot run inside a compiled step.
* The pixel arithmetic is the host path's (`input_pipeline.Preprocessor._augment`):
  zero padding, the crop, the flip, Caffe's BGR order, the pixel scale, the mean,
  torchvision's std and the colour shift, in that order, from the Preprocessor's
  own constants; tests/test_device_data.py checks it element-wise against the host
  functions for given offsets, flips and shifts.

This module imports neither TensorFlow nor TFDS (the GPU check runs without them):
the arrays come from `input_pipeline.ImageSource` in the training loop, or from the
caller.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from alexnet_jax.errors import ConfigError

# config.data.on_device: 'auto' is on where the default backend is an accelerator.
ON_DEVICE_CHOICES = (False, True, 'auto')
ACCELERATORS = ('gpu', 'tpu')
# config.data.on_device_max_bytes for configs stored before the field existed.
ON_DEVICE_MAX_BYTES = 4 << 30


def wanted(config, backend=None) -> bool:
  """Whether `config` trains from device-resident data on `backend` (default: JAX's)."""
  choice = config.data.get('on_device', False)
  if choice == 'auto':
    return (backend or jax.default_backend()) in ACCELERATORS
  return bool(choice)


def check_fits(config, num_examples, stored_shape):
  """ConfigError (one line) when the training split's uint8 images exceed
  `config.data.on_device_max_bytes`, or cannot be held as one array."""
  limit = config.data.get('on_device_max_bytes', ON_DEVICE_MAX_BYTES)
  if None in tuple(stored_shape) or config.data.get('resize_size', 0):
    raise ConfigError(f'config.data.on_device needs images of one stored size without '
                      f'config.data.resize_size; {config.data.name!r} has '
                      f'{tuple(stored_shape)} (set config.data.on_device=False)')
  size = num_examples * int(np.prod(stored_shape))
  if size > limit:
    raise ConfigError(f'config.data.on_device: the {num_examples} training images of '
                      f'{config.data.name!r} take {size / 2**20:.0f} MiB, more than '
                      f'config.data.on_device_max_bytes={limit} ({limit / 2**20:.0f} MiB); '
                      'raise it if the device has room, or set config.data.on_device=False')


def epoch_permutation(seed, epoch, num_examples) -> np.ndarray:
  """The host path's order of epoch `epoch` (input_pipeline.global_batch_plan)."""
  return np.random.default_rng([seed, int(epoch)]).permutation(num_examples).astype(np.int32)


def epochs_per_dispatch(steps, batch_size, num_examples) -> int:
  """How many epochs the positions of `steps` consecutive steps can touch."""
  return (steps * batch_size - 1) // num_examples + 2


class EpochPermutations:
  """[E, N] int32 device arrays of epochs e .. e+E-1's permutations, made on the host
  once per first epoch and kept until the dispatches move past it."""

  def __init__(self, seed, num_examples, epochs, put):
    self.seed, self.num_examples, self.epochs, self.put = seed, num_examples, epochs, put
    self._first = self._array = None

  def __call__(self, first_epoch):
    if first_epoch != self._first:
      self._array = self.put(np.stack([epoch_permutation(self.seed, e, self.num_examples)
                                       for e in range(first_epoch, first_epoch + self.epochs)]))
      self._first = first_epoch
    return self._array


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity (holds arrays)
class Augmentation:
  """What `Preprocessor` does to a training image, as constants for JAX.

  `mean` and `std` are float32 [side, side, C] images (the Preprocessor's own);
  `eigen` is (eigval, eigvec) or None without colour noise; `colour_scale` and
  `bgr` turn an RGB shift in [0, 1] units into the normalized input's
  (`Preprocessor._colour_shift`)."""
  image_size: int
  crop_padding: int
  random_crop: bool
  flip: bool
  pca_std: float
  pixel_scale: float
  bgr: bool
  mean: np.ndarray
  std: np.ndarray
  divide_by_std: bool
  eigen: tuple
  colour_scale: np.ndarray

  @classmethod
  def from_preprocessor(cls, preprocessor, stored_side, channels):
    data = preprocessor.data
    side = min(stored_side + 2 * data.crop_padding, data.image_size)
    mean, std = preprocessor._as_images(side, channels)
    eigen = None
    if data.pca_std > 0:
      eigen = tuple(np.asarray(v, np.float32) for v in preprocessor._eigen)
    # The colour shift's unit: _colour_shift is linear, so it is its image of 1s
    # (torchvision: 1/std; caffe: 255, in BGR order, handled by `bgr`).
    unit = preprocessor._colour_shift(np.ones((1, channels), np.float32))[0]
    return cls(image_size=data.image_size, crop_padding=data.crop_padding,
               random_crop=bool(data.random_crop), flip=bool(data.flip),
               pca_std=float(data.pca_std), pixel_scale=float(preprocessor.pixel_scale),
               bgr=data.normalization == 'caffe', mean=mean, std=std,
               divide_by_std=data.normalization == 'torchvision', eigen=eigen,
               colour_scale=np.asarray(unit, np.float32))

  def full_side(self, stored_side):
    return stored_side + 2 * self.crop_padding

  def draw(self, key, count, full):
    """Crop offsets int32 [count, 2], flips bool [count] and colour shifts float32
    [count, C] or None (normalized units), from `key`: the host path's distributions
    (Preprocessor.draw)."""
    offsets_key, flip_key, pca_key = jax.random.split(key, 3)
    size = self.image_size
    if self.random_crop and full > size:
      offsets = jax.random.randint(offsets_key, (count, 2), 0, full - size + 1, jnp.int32)
    else:
      centre = (full - size) // 2 if full > size else 0
      offsets = jnp.full((count, 2), centre, jnp.int32)
    if self.flip:
      flips = jax.random.uniform(flip_key, (count,)) < 0.5
    else:
      flips = jnp.zeros((count,), bool)
    shifts = None
    if self.eigen is not None:
      eigval, eigvec = self.eigen
      alphas = self.pca_std * jax.random.normal(pca_key, (count, len(eigval)), jnp.float32)
      shifts = (alphas * eigval) @ eigvec.T
      if self.bgr:
        shifts = shifts[:, ::-1]
      shifts = shifts * self.colour_scale
    return offsets, flips, shifts

  def apply(self, images, offsets, flips, shifts=None):
    """float32 [B, side, side, C] network inputs from uint8 [B, H, W, C] `images`:
    `Preprocessor._augment`'s steps in its order (pad, crop, flip, BGR, scale,
    mean, std, colour shift)."""
    pad = self.crop_padding
    if pad:
      images = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    full, channels = images.shape[1], images.shape[-1]
    side = min(full, self.image_size)

    def cut(image, offset):
      return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (side, side, channels))

    crops = jax.vmap(cut)(images, offsets)
    crops = jnp.where(flips[:, None, None, None], crops[:, :, ::-1], crops)
    if self.bgr:
      crops = crops[..., ::-1]
    x = crops.astype(jnp.float32)
    if self.pixel_scale != 1.0:
      x = x * jnp.float32(self.pixel_scale)
    x = x - self.mean
    if self.divide_by_std:
      x = x / self.std
    if shifts is not None:  # already in the normalized input's units and channel order
      x = x + shifts[:, None, None, :]
    return x


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity (holds arrays)
class BatchMaker:
  """Makes one data replica's share of step `step`'s global batch on the device."""
  seed: int
  batch_size: int  # the global batch
  num_examples: int
  augmentation: Augmentation

  def __call__(self, data, permutations, first_epoch, step, replica=0, replicas=1):
    """{'image', 'label', 'example_id'} of replica `replica` (of `replicas`), as
    input_pipeline.TrainBatches makes them. `data` holds the uint8 'images' and
    int32 'labels' of the whole split; `permutations` [E, N] the orders of epochs
    `first_epoch` ..; all of them JAX values (traced inside the step)."""
    batch, local = self.batch_size, self.batch_size // replicas
    # int32, as the host path's int64 ids become on the device (2**31 examples: enough
    # for the small datasets this path holds).
    positions = jnp.asarray(step, jnp.int32) * batch + jnp.arange(batch, dtype=jnp.int32)
    epochs, within = jnp.divmod(positions, self.num_examples)
    indices = permutations[epochs - first_epoch, within]
    key = jax.random.fold_in(jax.random.key(self.seed), step)
    full = self.augmentation.full_side(data['images'].shape[1])
    offsets, flips, shifts = self.augmentation.draw(key, batch, full)
    start = replica * local
    mine = lambda x: jax.lax.dynamic_slice_in_dim(x, start, local)
    images = jnp.take(data['images'], mine(indices), axis=0)
    return {'image': self.augmentation.apply(images, mine(offsets), mine(flips),
                                             None if shifts is None else mine(shifts)),
            'label': jnp.take(data['labels'], mine(indices), axis=0),
            'example_id': mine(positions)}


class DeviceData:
  """The training split on the device with what makes its batches: `arrays`
  ({'images', 'labels'} placed by `put`), `make_batch` (a BatchMaker) and
  `permutations(first_epoch)` (EpochPermutations)."""

  def __init__(self, config, images, labels, preprocessor, put, steps_per_dispatch=1):
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
      raise ValueError(f'DeviceData takes uint8 [N, H, W, C] images, not {images.dtype} '
                       f'{images.shape}')
    self.num_examples = len(images)
    augmentation = Augmentation.from_preprocessor(preprocessor, images.shape[1],
                                                  images.shape[-1])
    self.make_batch = BatchMaker(seed=config.seed, batch_size=config.batch_size,
                                 num_examples=self.num_examples, augmentation=augmentation)
    self.arrays = put({'images': images, 'labels': np.asarray(labels, np.int32)})
    epochs = epochs_per_dispatch(steps_per_dispatch, config.batch_size, self.num_examples)
    self.permutations = EpochPermutations(config.seed, self.num_examples, epochs, put)

  def first_epoch(self, step) -> int:
    """The epoch of step `step`'s first example (the first of its permutations)."""
    return step * self.make_batch.batch_size // self.num_examples
