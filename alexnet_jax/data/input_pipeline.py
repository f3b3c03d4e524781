"""Input pipeline: TFDS datasets by name, the paper's augmentation, deterministic
and exactly resumable iteration.

Design (why not tf.data or a stateful loader): the batch of training step `s` is
a pure function of (seed, s). Its examples are positions s*B .. s*B+B-1 of an
endless sequence of epochs, each a permutation drawn from (seed, epoch); its
random crops, flips and PCA colour noise come from a generator seeded with
(seed, s). So

* a resumed run continues with exactly the batch that would have come next: the
  iterator position stored in a checkpoint is just the step;
* every process (host) computes the same global batch description and decodes
  only its own contiguous slice, so the global batch does not depend on how many
  processes or devices share it;
* random access comes from `tfds.data_source` (array_record files), the same
  access Grain builds on, and Pillow decodes the stored PNG or JPEG bytes; small
  datasets (Fashion-MNIST, CIFAR-10) are decoded once into memory, large ones
  per batch: by a thread pool and a background thread that prefetches batches,
  or, with `data.worker_processes`, by worker processes that scale with the
  host's cores (workers.py), which serve exactly the same batches (iterators.py
  chooses).

ImageNet: `python -m alexnet_jax.datasets prepare-imagenet` stores it as the paper
did, 256x256 (`imagenet2012_256`; train with `resize_size=0`); the full-size
path (`imagenet2012`, `resize_size=256`) decodes JPEGs at reduced scale where
libjpeg allows it (`decode_image`).

Augmentation (paper section 4.1), each switchable in `config.data`: resize the
shorter side to `resize_size` and center-crop it (ImageNet-size images, at
decode time); random `image_size` crops (`random_crop`, with `crop_padding`
zero padding for small images); horizontal flips (`flip`); PCA colour noise
(`pca_std`, 0.1 in the paper) with the training set's RGB eigenvalues and
eigenvectors (ImageNet's published values are shipped, other datasets' are
computed once and cached next to the dataset); mean subtraction
(`normalization`: per_pixel (the paper's mean image), per_channel or none;
pixels scaled to [0, 1] first), or `cuda_convnet` (0-255 pixels minus the mean
image's central crop, as cuda-convnet's CIFAR-10 providers and cuda-convnet2's ImageNet
one fed their nets; the paper preset's, see default.py), or the
conventions of imported weights (weights.py): `torchvision` ([0, 1] minus the
ImageNet mean, divided by its std) and `caffe` (BGR, 0-255, minus a mean pixel).
Evaluation uses the center crop, or the paper's 10 views (`ten_views`: 4 corners and
center, and their flips).
"""

import concurrent.futures
import io
import json
import math
import os
import types

import numpy as np
from PIL import Image

from alexnet_jax.data import array_files, example_seeds, importers
from alexnet_jax.data.images import resize_and_center_crop_pil
from alexnet_jax.errors import ConfigError, DatasetNotFoundError
from alexnet_jax.runtime import results_io

# fb.resnet.torch / Caffe's ImageNet RGB statistics for pixels in [0, 1]. The eigenvalues
# are variances of the whole training set's pixels (sum 0.241, against 0.236 from the global
# per-channel standard deviations 0.281/0.274/0.288 measured in pytorch/vision#1439); they
# exceed IMAGENET_STD's squares because those standard deviations are means of per-image
# ones, which leave out the variation between images.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_EIGVAL = np.array([0.2175, 0.0188, 0.0045], np.float32)
IMAGENET_EIGVEC = np.array([[-0.5675, 0.7192, 0.4009],
                            [-0.5808, -0.0045, -0.8140],
                            [-0.5836, -0.6948, 0.4203]], np.float32)
# torchvision's ImageNet models (`normalization='torchvision'`): (pixel in [0, 1] -
# IMAGENET_MEAN) / IMAGENET_STD, RGB.
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
# Caffe's ImageNet mean pixel, BGR, pixels 0-255 (`normalization='caffe'`), as the
# NumPy ports of bvlc_alexnet subtract it (Caffe itself subtracted the mean image).
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
HOW_TO_GET = {
    'fashion_mnist': 'apt-get install dataset-fashion-mnist && '
                     'python -m alexnet_jax.datasets import-fashion-mnist',
    'cifar10': 'python -m alexnet_jax.datasets import-npz --name=cifar10 '
               '--train=../shared/data/cifar10/train.npz --test=../shared/data/cifar10/test.npz '
               '(or, with network access, python -c "import tensorflow_datasets as tfds; '
               "tfds.builder('cifar10').download_and_prepare(file_format='array_record')\")",
    importers.IMAGENET_256: 'python -m alexnet_jax.datasets prepare-imagenet --manual_dir=DIR '
                           '(DIR/train/<wnid>/*.JPEG, DIR/val/<wnid>/*.JPEG; importers.py)',
    'imagenet2012': 'download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from '
                    'image-net.org into <data_dir>/downloads/manual/, then python -c "import '
                    "tensorflow_datasets as tfds; tfds.builder('imagenet2012')."
                    "download_and_prepare(file_format='array_record')\"",
}
# Datasets that use ImageNet's published colour statistics (dataset_statistics).
IMAGENET_NAMES = ('imagenet2012', importers.IMAGENET_256)
# config.data.in_memory_max_bytes for configs stored before the field existed.
IN_MEMORY_MAX_BYTES = 4 << 30


def _how_to_get(name):
  return HOW_TO_GET.get(name, 'with network access: python -c "import tensorflow_datasets as '
                        f"tfds; tfds.builder('{name}').download_and_prepare("
                        "file_format='array_record')\"")


def _builder(config):
  import tensorflow_datasets as tfds  # deferred: TFDS loads TensorFlow (seconds)
  name, data_dir = config.data.name, config.data.data_dir
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as error:  # unknown name or unreadable metadata
    raise DatasetNotFoundError(
        f'config.data.name={name!r}: not a TFDS dataset here ({error.__class__.__name__}: '
        f'{str(error).splitlines()[0][:200]}); get it with: {_how_to_get(name)}') from None
  if not builder.is_prepared():
    raise DatasetNotFoundError(
        f'dataset {name!r} is not prepared in {builder.data_dir_root}; get it with: '
        f'{_how_to_get(name)}')
  return builder


def dataset_info(config) -> dict:
  """Sizes and shapes from the dataset's metadata (no pass over the data); from the
  files of `config.data.arrays_dir` when it is set (array_files.py)."""
  if config.data.get('arrays_dir'):
    info = array_files.dataset_info(config)
    check_image_size(config.data, info['stored_image_shape'])
    return info
  builder = _builder(config)
  splits = builder.info.splits
  image_shape = builder.info.features['image'].shape
  check_image_size(config.data, image_shape)
  return {
      'num_train_examples': splits[config.data.train_split].num_examples,
      'num_eval_examples': splits[config.data.eval_split].num_examples,
      'num_classes': builder.info.features['label'].num_classes,
      'stored_image_shape': tuple(image_shape),
  }


def check_image_size(data, stored_shape):
  """Raises ConfigError (one line) when the network's input `data.image_size` is
  larger than the images it is cut from: the stored images, or their resized
  `resize_size` square. Evaluation (center crop or the 10 views) crops the stored
  image without padding, so `crop_padding` does not make room."""
  side = data.resize_size or (min(stored_shape[:2]) if None not in stored_shape[:2] else None)
  if side is None or data.image_size <= side:
    return
  what = 'the 10 views (config.data.ten_views)' if data.ten_views else 'a crop'
  raise ConfigError(f'config.data.image_size={data.image_size} is larger than the '
                    f'{side}x{side} images of {data.name!r}: {what} cannot be cut from them '
                    f'(choose config.data.image_size <= {side})')


def decode_image(encoded: bytes, channels: int, resize_size: int = 0) -> np.ndarray:
  """uint8 [H, W, channels] from stored PNG or JPEG bytes (`decode_pil`'s image)."""
  image = np.asarray(decode_pil(encoded, channels, resize_size))
  return image.reshape(image.shape[0], image.shape[1], channels)


def decode_pil(encoded: bytes, channels: int, resize_size: int = 0):
  """The PIL image (mode RGB or L) of stored PNG or JPEG bytes, decoded by Pillow.

  With `resize_size`, the paper's shorter-side resize and center crop
  (`images.resize_and_center_crop`, section 2; resampling only the crop's region, within 1
  of the exact operation, as the 256x256 store holds it). A JPEG whose shorter side is at
  least twice `resize_size` is first decoded at 1/2, 1/4 or 1/8 scale by libjpeg's DCT
  scaling (`Image.draft`, shorter side still >= resize_size): most of the decoding work of
  a large original is skipped, and the resize starts closer. The image is returned as
  Pillow holds it, so that training crops and flips it before any pixel is copied into
  NumPy (`Preprocessor.train_image`)."""
  mode = 'RGB' if channels == 3 else 'L'
  pil = Image.open(io.BytesIO(encoded))
  if resize_size:
    w, h = pil.size
    scale = resize_size / min(w, h)
    pil.draft(mode, (math.ceil(w * scale), math.ceil(h * scale)))
  image = pil if pil.mode == mode else pil.convert(mode)
  if resize_size:
    image = resize_and_center_crop_pil(image, resize_size, crop_region_only=True)
  image.load()
  return image


class ImageSource:
  """Random access to (uint8 image, label) of one split, decoded in memory when small;
  otherwise decoded per request by `threads` threads (default `data.num_workers`)."""

  def __init__(self, config, split, threads=None):
    import tensorflow_datasets as tfds  # deferred: TFDS loads TensorFlow (seconds)
    builder = _builder(config)
    self.resize_size = config.data.resize_size or 0
    # Serialized tf.train.Example records, parsed in `examples`: TFDS's decoding
    # of a record (Python per feature) costs more than reading and parsing it.
    self.records = tfds.data_source(config.data.name, split=split,
                                    data_dir=config.data.data_dir, download=False,
                                    deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
    self.length = len(self.records)
    shape = builder.info.features['image'].shape
    self.channels = shape[-1]
    self.fixed_shape = None not in shape and not self.resize_size
    # The side of every image served (None: the stored sizes vary).
    self.side = self.resize_size or (shape[0] if self.fixed_shape else None)
    threads = max(1, config.data.num_workers if threads is None else threads)
    self.pool = concurrent.futures.ThreadPoolExecutor(threads) if threads > 1 else None
    self.images = self.labels = None
    in_memory_max_bytes = config.data.get('in_memory_max_bytes', IN_MEMORY_MAX_BYTES)
    if self.fixed_shape and self.length * int(np.prod(shape)) <= in_memory_max_bytes:
      self.images, self.labels = self.get(np.arange(self.length))

  def map(self, indices, fn):
    """[fn(position, image)] for the images at `indices`, and their int32 labels.

    `image` is the in-memory uint8 [H, W, C] array, or the decoded PIL image
    (`decode_pil`), so that `fn` can crop it before converting it. Decoding and
    `fn` run together on the thread pool, each image once, in cache."""
    indices = np.asarray(indices)
    if self.images is not None:
      return ([fn(p, self.images[i]) for p, i in enumerate(indices)],
              self.labels[indices])

    def chunk_results(positions):
      examples = self.examples(indices[positions])
      return ([fn(p, decode_pil(encoded, self.channels, self.resize_size))
               for p, (encoded, _) in zip(positions, examples)], [y for _, y in examples])

    positions = np.arange(len(indices))
    if self.pool is None:
      chunks = [chunk_results(positions)]
    else:
      chunks = self.pool.map(chunk_results, np.array_split(
          positions, max(1, min(len(indices) // 256, self.pool._max_workers * 4))))
    results, labels = [], []
    for chunk, chunk_labels in chunks:
      results.extend(chunk)
      labels.extend(chunk_labels)
    return results, np.asarray(labels, np.int32)

  def examples(self, indices):
    """[(encoded image bytes, label)] of the records at `indices`: the features
    'image' (the stored PNG or JPEG) and 'label', as TFDS serializes them."""
    from tensorflow_datasets.proto import tf_example_pb2  # deferred: TFDS loads TensorFlow
    examples = []
    for record in self.records.__getitems__([int(i) for i in indices]):
      feature = tf_example_pb2.Example.FromString(record).features.feature
      examples.append((feature['image'].bytes_list.value[0],
                       int(feature['label'].int64_list.value[0])))
    return examples

  def get(self, indices):
    """uint8 images [N, H, W, C] (of one size) and int32 labels [N]."""
    if self.images is not None:
      return self.images[indices], self.labels[indices]
    images, labels = self.map(indices, lambda _, image: _as_array(image))
    return np.stack(images), labels


class ArraySource:
  """ImageSource's random access over uint8 images [N, H, W, C] and labels already in
  memory (no TFDS): for callers that bring their own arrays (experiments/gpu_check.py)."""

  def __init__(self, images, labels):
    self.images = np.asarray(images)
    self.labels = np.asarray(labels, np.int32)
    self.length = len(self.images)
    self.side = self.images.shape[1]
    self.channels = self.images.shape[-1]

  def map(self, indices, fn):
    indices = np.asarray(indices)
    return [fn(p, self.images[i]) for p, i in enumerate(indices)], self.labels[indices]

  def get(self, indices):
    return self.images[indices], self.labels[indices]


def open_source(config, split, threads=None):
  """Random access to `split`: ImageSource (TFDS), or ArraySource over the files of
  `config.data.arrays_dir` when it is set."""
  if config.data.get('arrays_dir'):
    return ArraySource(*array_files.load(config.data.arrays_dir, split))
  return ImageSource(config, split, threads)


def example_keys(config, split) -> list:
  """(stored split, position in it) of each example of `split`, in the order its source
  serves them: an image's identity across split specs, so that a tool can tell that
  'train' and 'train[40000:]' (or 'train[:10%]+test') share images."""
  if config.data.get('arrays_dir'):  # whole files, no slices
    return [(split, i) for i in range(len(array_files.load(config.data.arrays_dir, split)[1]))]
  import tensorflow_datasets as tfds  # deferred: TFDS loads TensorFlow (seconds)
  stored = _builder(config).info.splits
  keys = []
  for part in tfds.core.ReadInstruction.from_spec(split).to_absolute(stored):
    start, stop, _ = slice(part.from_, part.to).indices(stored[part.splitname].num_examples)
    keys.extend((part.splitname, i) for i in range(start, stop))
  return keys


def _stats_path(config):
  directory = config.data.get('arrays_dir') or _builder(config).data_dir
  sample = config.data.get('statistics_images', 0)
  images = f'sample{sample}' if sample else 'all'
  return os.path.join(directory, f'alexnet_jax_stats_{config.data.train_split}_'
                      f'{config.data.resize_size or 0}_{images}.json'.replace('[', '_')
                      .replace(']', '_').replace(':', '-'))


STATISTICS_CHUNK = 1000  # images read at a time, so that a large split never sits in memory


def dataset_statistics(config, source: ImageSource = None) -> dict:
  """Per-pixel and per-channel means and the RGB PCA of the training images
  (pixels in [0, 1]), computed once, then cached next to the dataset.

  Over the whole training split by default, read in chunks: cuda-convnet's
  `data_mean` (the `cuda_convnet` normalization) is the mean of every training
  image, and the paper's PCA is "over the ImageNet training set" (section 4.1).
  `data.statistics_images=N` uses a seeded sample of N images instead, as the runs
  committed before 2026-12-04 did (N=10000). ImageNet (IMAGENET_NAMES) uses the
  published channel means and PCA."""
  if config.data.name in IMAGENET_NAMES:
    return {'channel_mean': IMAGENET_MEAN.tolist(), 'eigval': IMAGENET_EIGVAL.tolist(),
            'eigvec': IMAGENET_EIGVEC.tolist(), 'pixel_mean': None}
  path = _stats_path(config)
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  source = source or open_source(config, config.data.train_split)
  sample = config.data.get('statistics_images', 0)
  if sample:
    indices = np.sort(np.random.default_rng(0).choice(
        source.length, min(source.length, sample), replace=False))
  else:
    indices = np.arange(source.length)
  image_sum = pixel_sum = outer_sum = 0.0
  for start in range(0, len(indices), STATISTICS_CHUNK):
    images = source.get(indices[start:start + STATISTICS_CHUNK])[0].astype(np.float64) / 255.0
    pixels = images.reshape(-1, images.shape[-1])
    image_sum = image_sum + images.sum(0)
    pixel_sum = pixel_sum + pixels.sum(0)
    outer_sum = outer_sum + pixels.T @ pixels
  count = len(indices) * int(np.prod(image_sum.shape[:-1]))
  channel_mean = pixel_sum / count
  covariance = (outer_sum - count * np.outer(channel_mean, channel_mean)) / (count - 1)
  eigval, eigvec = np.linalg.eigh(np.atleast_2d(covariance))
  order = np.argsort(eigval)[::-1]
  stats = {'channel_mean': channel_mean.tolist(), 'pixel_mean': (image_sum / len(indices)).tolist(),
           'eigval': eigval[order].tolist(), 'eigvec': eigvec[:, order].tolist(),
           'images': len(indices)}
  try:
    results_io.write_text_atomic(path, json.dumps(stats))  # compact: a per-pixel mean
  except OSError:
    pass  # a read-only data_dir: recompute next time
  return stats


def crop_offsets(rng, count, full, size):
  return rng.integers(0, full - size + 1, (count, 2))


def crop(images, offsets, size):
  return np.stack([image[top:top + size, left:left + size]
                   for image, (top, left) in zip(images, offsets)])


def crop_and_flip(image, offset, side, flip):
  """uint8 [side, side, C]: the crop at `offset` (top, left) of a uint8 [H, W, C]
  array (a view if not flipped) or of a PIL image (by Pillow, then converted),
  mirrored left-right if `flip`."""
  top, left = offset
  if not isinstance(image, np.ndarray):
    image = image.crop((left, top, left + side, top + side))
    if flip:
      image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _as_array(image)
  view = image[top:top + side, left:left + side]
  if not flip:
    return view
  flipped = np.empty(view.shape, view.dtype)
  for c in range(view.shape[-1]):  # one channel at a time: ~10x faster than all at once
    np.copyto(flipped[..., c], view[:, ::-1, c])
  return flipped


def _as_array(image):
  """A PIL image (or an array) as a uint8 [H, W, C] array."""
  array = np.asarray(image)
  return array if array.ndim == 3 else array.reshape(array.shape[0], array.shape[1], -1)


def ten_view_offsets(full, size):
  """The paper's 10 views: four corners and the center (then flipped)."""
  far, mid = full - size, (full - size) // 2
  return [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]


def ten_views(images, size):
  """[B, 10, size, size, C]: 5 crops, then the same 5 flipped horizontally."""
  views = [crop(images, [offset] * len(images), size)
           for offset in ten_view_offsets(images.shape[1], size)]
  views += [view[:, :, ::-1] for view in views]
  return np.stack(views, axis=1)


def pca_noise(rng, count, eigval, eigvec, std):
  """RGB shifts [count, 3]: [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T, a_i ~ N(0, std)."""
  alphas = rng.normal(0.0, std, (count, len(eigval)))
  return (alphas * np.asarray(eigval)) @ np.asarray(eigvec).T


# config.data.normalization: what Preprocessor subtracts (validation reads the names).
NORMALIZATIONS = ('per_pixel', 'per_channel', 'none', 'cuda_convnet', 'torchvision', 'caffe')
RGB_NORMALIZATIONS = ('torchvision', 'caffe')  # fixed statistics of RGB images
# Normalizations whose constants come from the training split (dataset_statistics).
STATISTICS_NORMALIZATIONS = ('per_pixel', 'per_channel', 'cuda_convnet')


class Preprocessor:
  """Turns uint8 images into the network's float32 input, with the config's steps."""

  def __init__(self, config, stats):
    # A plain copy: a ConfigDict attribute read costs microseconds, and training
    # reads a dozen per image.
    self.data = types.SimpleNamespace(**config.data.to_dict())
    self.stats = stats
    self._images = {}  # (side, channels) -> (mean, std) as images
    self._eigen = tuple(np.asarray(stats[key]) for key in ('eigval', 'eigvec') if key in stats)
    mode = config.data.normalization
    self.pixel_scale = 1.0 / 255.0
    if mode == 'cuda_convnet':
      # cuda-convnet's CIFAR providers (convdata.py, CIFARDataProvider and
      # CroppedCIFARDataProvider) and cuda-convnet2's ImageNet one (ImageDataProvider):
      # raw 0-255 pixels minus the training set's mean image, the mean's central
      # image_size crop for every crop (also the random ones). Where only channel means
      # are known (ImageNet's published statistics), those.
      self.pixel_scale = 1.0
      if stats.get('pixel_mean') is None:
        self.mean = np.asarray(stats['channel_mean'], np.float32) * 255.0
      else:
        mean = np.asarray(stats['pixel_mean'], np.float32) * 255.0
        top = (mean.shape[0] - config.data.image_size) // 2
        self.mean = mean[top:top + config.data.image_size, top:top + config.data.image_size]
    elif mode == 'torchvision':
      self.mean = IMAGENET_MEAN
    elif mode == 'caffe':
      self.pixel_scale = 1.0
      self.mean = CAFFE_MEAN_BGR
    elif mode == 'per_pixel' and stats.get('pixel_mean') is not None:
      self.mean = np.asarray(stats['pixel_mean'], np.float32)
    elif mode in ('per_pixel', 'per_channel'):
      self.mean = np.asarray(stats['channel_mean'], np.float32)
    elif mode == 'none':
      self.mean = np.zeros((), np.float32)
    else:
      raise ValueError(f'config.data.normalization={mode!r}: choose one of '
                       f'{", ".join(NORMALIZATIONS)}')

  def _normalize(self, images):
    images = images.astype(np.float32) * np.float32(self.pixel_scale)
    if self.data.normalization == 'caffe':
      images = images[..., ::-1]  # Caffe's BGR channel order
    mean = self.mean
    if mean.ndim == 3 and mean.shape[:2] != images.shape[-3:-1]:
      mean = mean.mean((0, 1))  # a crop of the frame: subtract the mean image's channel means
    if self.data.normalization == 'torchvision':
      return (images - mean) / IMAGENET_STD
    return images - mean

  def _colour_shift(self, shift):
    """A PCA colour shift (RGB, pixels in [0, 1]) in the units of the normalized input.

    The eigenvalues are those of [0, 1] pixels (ImageNet's published ones are), and an
    input pixel is its 0-255 value times `pixel_scale`, so the shift is scaled by 255 x
    `pixel_scale` (1 for the [0, 1] normalizations, 255 for caffe and cuda_convnet)."""
    shift = shift * (255.0 * self.pixel_scale)
    if self.data.normalization == 'torchvision':
      return shift / IMAGENET_STD
    if self.data.normalization == 'caffe':
      return shift[:, ::-1]
    return shift

  def train(self, images, rng, out=None):
    """The training input of uint8 `images` [N, H, W, C]: crops, flips and colour
    noise drawn from `rng` (for all N images from its three spawned streams),
    written into `out` (float32 [N, size, size, C]) when given."""
    full = images.shape[1] + 2 * self.data.crop_padding
    offsets, flips, shifts = self.draw(rng.spawn(3), len(images), full)
    if out is None:
      side = min(full, self.data.image_size)
      out = np.empty((len(images), side, side, images.shape[-1]), np.float32)
    for i, image in enumerate(images):
      self._augment(image, offsets[i], flips[i], None if shifts is None else shifts[i], out[i])
    return out

  def train_image(self, image, rngs, out):
    """`train` for one image, written into `out` (float32 [size, size, C]).

    `image` is a uint8 [H, W, C] array or a PIL image (`decode_pil`), which
    Pillow crops and flips before it is converted: only the crop's pixels are
    copied into NumPy. `rngs` are the generators of crop offsets, flips and
    colour noise (`example_seeds.example_rngs`; `train` draws from `rng.spawn(3)`)."""
    height = image.shape[0] if isinstance(image, np.ndarray) else image.size[1]
    offsets, flips, shifts = self.draw(rngs, 1, height + 2 * self.data.crop_padding)
    self._augment(image, offsets[0], flips[0], None if shifts is None else shifts[0], out)
    return out

  def draw(self, rngs, count, full):
    """Crop offsets [count, 2], flips [count] and colour shifts [count, C] (in the
    normalized input's units; None without PCA noise) for `count` images of
    `full` x `full` pixels (padding included), each from its own generator of
    `rngs` (offsets, flips, colour noise), so that one draw never moves another."""
    offsets_rng, flip_rng, pca_rng = rngs
    size = self.data.image_size
    if self.data.random_crop and full > size:
      offsets = crop_offsets(offsets_rng, count, full, size)
    else:
      offsets = [((full - size) // 2,) * 2 if full > size else (0, 0)] * count
    flips = (flip_rng.random(count) < 0.5) if self.data.flip else np.zeros(count, bool)
    shifts = None
    if self.data.pca_std > 0:
      shift = pca_noise(pca_rng, count, *self._eigen, self.data.pca_std)
      shifts = self._colour_shift(shift).astype(np.float32)
    return offsets, flips, shifts

  def _augment(self, image, offset, flip, shift, out):
    """Crops, flips and normalizes one image into the C-contiguous `out` [side,
    side, C], with `_normalize`'s float32 arithmetic in its order, so that the
    result is bit for bit what normalizing the whole batch gives.

    Each pass runs over the image's rows of side * C values (pixels and channels
    interleaved): NumPy is ~10x slower on an innermost axis of 3, so per-channel
    operands are whole images (`_as_images`) or one tiled row (the colour shift)."""
    if not out.flags.c_contiguous:
      raise ValueError('Preprocessor: the output image must be C-contiguous')
    side, channels = out.shape[0], out.shape[-1]
    pad = self.data.crop_padding
    if pad:
      image = np.pad(_as_array(image), ((pad, pad), (pad, pad), (0, 0)))
    bgr = self.data.normalization == 'caffe'  # Caffe's BGR channel order
    # A row reversed is the row flipped with its channels reversed: BGR undoes one flip.
    pixels = crop_and_flip(image, offset, side, flip != bgr).reshape(side, side * channels)
    if bgr:
      pixels = pixels[:, ::-1]
    rows = out.reshape(side, side * channels)
    np.copyto(rows, pixels)
    if self.pixel_scale != 1.0:
      rows *= np.float32(self.pixel_scale)
    mean, std = self._as_images(side, channels)
    rows -= mean.reshape(rows.shape)
    if self.data.normalization == 'torchvision':
      rows /= std.reshape(rows.shape)
    if shift is not None:
      rows += np.tile(shift, side)

  def _mean_for(self, side):
    """The mean `_normalize` subtracts from a side x side image."""
    mean = self.mean
    if mean.ndim == 3 and mean.shape[:2] != (side, side):
      mean = mean.mean((0, 1))
    return mean

  def _as_images(self, side, channels):
    """The mean and torchvision's std as side x side x channels images (cached)."""
    if (side, channels) not in self._images:
      self._images[side, channels] = tuple(
          np.ascontiguousarray(np.broadcast_to(v, (side, side, channels)).astype(np.float32))
          for v in (self._mean_for(side),
                    IMAGENET_STD if self.data.normalization == 'torchvision' else 1.0))
    return self._images[side, channels]

  def eval(self, images):
    size = self.data.image_size
    if self.data.ten_views:
      return self._normalize(ten_views(images, size))
    full = images.shape[1]
    offset = (full - size) // 2
    return self._normalize(images[:, offset:offset + size, offset:offset + size])


def global_batch_plan(seed, step, batch_size, num_examples):
  """Example indices and global positions of training step `step` (pure function)."""
  positions = np.arange(step * batch_size, (step + 1) * batch_size, dtype=np.int64)
  epochs, within = np.divmod(positions, num_examples)
  indices = np.empty_like(positions)
  for epoch in np.unique(epochs):
    permutation = np.random.default_rng([seed, int(epoch)]).permutation(num_examples)
    chosen = epochs == epoch
    indices[chosen] = permutation[within[chosen]]
  return indices, positions


def local_batch_size(config, process_count):
  if config.batch_size % process_count:
    raise ValueError(f'config.batch_size={config.batch_size} is not divisible by the '
                     f'{process_count} processes')
  return config.batch_size // process_count


def train_batch_shapes(config, process_count=1) -> dict:
  """{key: (shape, dtype)} of a local training batch."""
  local = local_batch_size(config, process_count)
  size = config.data.image_size
  return {'image': ((local, size, size, config.data.channels), np.float32),
          'label': ((local,), np.int32), 'example_id': ((local,), np.int64)}


class TrainBatches:
  """This process's slice of each training step's batch, a pure function of
  (seed, step): what TrainIterator serves, made here or in worker processes."""

  def __init__(self, config, *, process_index=0, process_count=1, stats=None, threads=None,
               source=None):
    self.config = config
    self.local_batch = local_batch_size(config, process_count)
    self.process_index = process_index
    self.source = source or open_source(config, config.data.train_split, threads)
    if self.source.side is None:
      raise ConfigError(f'the images of {config.data.name!r} vary in size: set '
                        'config.data.resize_size (the paper: 256) to train on them')
    self.preprocessor = Preprocessor(config, stats or dataset_statistics(config, self.source))
    side = min(self.source.side + 2 * config.data.crop_padding, config.data.image_size)
    self.image_shape = (side, side, self.source.channels)

  def __call__(self, step, out=None):
    """The local batch of step `step`, written into the arrays of `out` if given.
    Each image is decoded, augmented (`Preprocessor.train_image`, with the
    generators of its position in the global batch) and written into its row of
    `out` in one go, while its pixels are still in the core's cache."""
    config, seed = self.config, self.config.seed
    indices, positions = global_batch_plan(seed, step, config.batch_size, self.source.length)
    lo, hi = self.process_index * self.local_batch, (self.process_index + 1) * self.local_batch
    if out is None:
      out = {'image': np.empty((hi - lo,) + self.image_shape, np.float32),
             'label': np.empty(hi - lo, np.int32), 'example_id': np.empty(hi - lo, np.int64)}
    elif out['image'].shape[1:] != self.image_shape:
      raise ValueError(f'training images are {self.image_shape}, not the '
                       f'{out["image"].shape[1:]} of config.data.image_size/channels')
    images, rngs = out['image'], example_seeds.example_rngs(seed, step, range(lo, hi))

    def augment(i, image):
      self.preprocessor.train_image(image, rngs[i], images[i])

    _, labels = self.source.map(indices[lo:hi], augment)
    out['label'][:] = labels
    out['example_id'][:] = positions[lo:hi]
    return out
