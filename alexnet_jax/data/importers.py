"""Offline imports into TFDS format, so local copies load by name like any TFDS dataset
(the command line is `python -m alexnet_jax.datasets`, datasets.py).

Each import writes a real TFDS dataset (array_record files, `dataset_info.json`)
under the canonical name and version with the official features, so afterwards
`tfds.builder('fashion_mnist')` / `tfds.data_source('cifar10', ...)` find it
in `--data_dir` (default: TFDS's, ~/tensorflow_datasets) and never download.

TensorFlow: TFDS encodes images with TensorFlow when it writes a dataset, so
the project depends on `tensorflow-cpu` (installed by `pip install -e .`); JAX
does all the compute, TensorFlow only encodes PNGs here and decodes them when
the pipeline reads.

ImageNet (`prepare-imagenet`) is stored the paper's way (section 2): every image's
shorter side resized to 256, the central 256x256 crop kept, re-encoded as JPEG,
in the TFDS dataset `imagenet2012_256` (splits `train` and `validation`, labels
the sorted class folder names, as TFDS's imagenet2012 orders its wnids). It reads
the class-folder layout that PyTorch's ImageNet example uses:

    DIR/train/<wnid>/*.JPEG      e.g. DIR/train/n01440764/n01440764_10026.JPEG
    DIR/val/<wnid>/*.JPEG        optional; the validation tar sorted into class folders
                                 (e.g. by PyTorch's examples/imagenet/extract_ILSVRC.sh)

(.JPEG, .jpg, .jpeg and .png files; CMYK and grayscale images become RGB). Worker
processes, one per core, decode and re-encode; a bad file stops the import with its
path, and nothing is left half-written (the dataset is written to a temporary
folder and moved into `--data_dir` at the end). A 256x256 JPEG decodes about 8x
faster than an ImageNet original of ~500x375 plus its resize (docs/performance_log.md).
"""

import gzip
import io
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from alexnet_jax.data.images import PAPER_STORED_SIZE, resize_and_center_crop_pil

# Official TFDS names, versions and class counts of the datasets we can import.
CANONICAL = {
    'fashion_mnist': ('3.0.1', 10),
    'mnist': ('3.0.1', 10),
    'cifar10': ('3.0.2', 10),
}
FASHION_MNIST_FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}


# prepare-imagenet: the dataset it writes, the folders it reads, the files it takes.
IMAGENET_256 = 'imagenet2012_256'
IMAGENET_SPLIT_FOLDERS = {'train': 'train', 'validation': 'val'}
IMAGE_SUFFIXES = ('.jpeg', '.jpg', '.png')
JPEG_QUALITY = 90


def read_idx(path: str) -> np.ndarray:
  """Reads an idx file (gzipped or not), the MNIST/Fashion-MNIST format."""
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'rb') as f:
    data = f.read()
  dims = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims))
  return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def store(name: str, splits: dict, data_dir=None, num_classes=None, version=None):
  """Writes `splits` ({split: (images uint8 NHWC, labels)}) as TFDS dataset `name`."""
  import tensorflow_datasets as tfds  # deferred: TFDS loads TensorFlow (seconds)
  from tensorflow_datasets.core.dataset_builders import adhoc_builder

  if name in CANONICAL:
    version = version or CANONICAL[name][0]
    num_classes = num_classes or CANONICAL[name][1]
  version = version or '1.0.0'
  first = next(iter(splits.values()))[0]
  num_classes = num_classes or int(max(int(np.max(y)) for _, y in splits.values()) + 1)
  features = tfds.features.FeaturesDict({
      'image': tfds.features.Image(shape=first.shape[1:]),
      'label': tfds.features.ClassLabel(num_classes=num_classes),
  })

  def examples(images, labels):
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {'image': image, 'label': int(label)}

  for split, (images, labels) in splits.items():
    if images.dtype != np.uint8 or images.ndim != 4:
      raise ValueError(f'{split}: images must be uint8 NHWC, got {images.dtype} {images.shape}')
    if len(images) != len(labels):
      raise ValueError(f'{split}: {len(images)} images but {len(labels)} labels')
  return adhoc_builder.store_as_tfds_dataset(
      name=name, version=version, features=features, data_dir=data_dir,
      split_datasets={split: examples(*arrays) for split, arrays in splits.items()},
      file_format='array_record', disable_shuffling=True,  # keep the source order
      description=f'{name} imported offline by alexnet_jax.datasets')


def store_encoded(name: str, splits: dict, class_names, image_shape, data_dir=None,
                  version='1.0.0', encoding_format='jpeg'):
  """Writes `splits` ({split: iterable of (encoded image bytes, label)}) as TFDS
  dataset `name`, the bytes stored as they are (no re-encoding by TensorFlow)."""
  import tensorflow_datasets as tfds  # deferred: TFDS loads TensorFlow (seconds)
  from tensorflow_datasets.core.dataset_builders import adhoc_builder

  features = tfds.features.FeaturesDict({
      'image': tfds.features.Image(shape=image_shape, encoding_format=encoding_format),
      'label': tfds.features.ClassLabel(names=list(class_names)),
  })

  def examples(items):
    for i, (encoded, label) in enumerate(items):
      yield i, {'image': encoded, 'label': int(label)}

  return adhoc_builder.store_as_tfds_dataset(
      name=name, version=version, features=features, data_dir=data_dir,
      split_datasets={split: examples(items) for split, items in splits.items()},
      file_format='array_record', disable_shuffling=True,  # keep the folders' order
      description=f'{name} imported offline by alexnet_jax.datasets')


def paper_jpeg(path: str, size: int = PAPER_STORED_SIZE, quality: int = JPEG_QUALITY) -> bytes:
  """One file as the paper stored it: RGB, `resize_and_center_crop`, JPEG."""
  try:
    with Image.open(path) as image:
      stored = resize_and_center_crop_pil(image.convert('RGB'), size)
  except (OSError, SyntaxError, ValueError) as error:  # PIL's errors for bad files
    raise ValueError(f'{path}: not a readable image ({error})') from None
  out = io.BytesIO()
  stored.save(out, 'JPEG', quality=quality)
  return out.getvalue()


def list_imagenet(manual_dir: str) -> tuple:
  """(class names, {split: [(path, label)]}) of the class-folder layout (module
  docstring); ValueError names the first folder that does not fit it."""
  if not os.path.isdir(manual_dir):
    raise ValueError(f'--manual_dir={manual_dir}: not a directory')
  train_dir = os.path.join(manual_dir, IMAGENET_SPLIT_FOLDERS['train'])
  if not os.path.isdir(train_dir):
    raise ValueError(f'{train_dir} not found: prepare-imagenet reads DIR/train/<wnid>/*.JPEG '
                     '(and optionally DIR/val/<wnid>/*.JPEG)')
  classes = sorted(d for d in os.listdir(train_dir) if os.path.isdir(os.path.join(train_dir, d)))
  if not classes:
    raise ValueError(f'{train_dir} holds no class folders (expected train/<wnid>/*.JPEG)')
  files = {}
  for split, folder in IMAGENET_SPLIT_FOLDERS.items():
    split_dir = os.path.join(manual_dir, folder)
    if not os.path.isdir(split_dir):
      continue
    items = []
    for entry in sorted(os.listdir(split_dir)):
      class_dir = os.path.join(split_dir, entry)
      if not os.path.isdir(class_dir):
        continue
      if entry not in classes:
        raise ValueError(f'{class_dir}: class {entry!r} has no folder in {train_dir}')
      names = sorted(f for f in os.listdir(class_dir) if f.lower().endswith(IMAGE_SUFFIXES))
      if not names:
        raise ValueError(f'{class_dir} holds no images ({", ".join(IMAGE_SUFFIXES)})')
      label = classes.index(entry)
      items += [(os.path.join(class_dir, name), label) for name in names]
    if not items:
      raise ValueError(f'{split_dir} holds no class folders with images')
    files[split] = items
  return classes, files


def prepare_imagenet(manual_dir: str, data_dir=None, name=IMAGENET_256, size=PAPER_STORED_SIZE,
                     quality=JPEG_QUALITY, processes=None, progress=True):
  """Imports the class folders of `manual_dir` as `name`, each image stored as the
  paper stored it (`paper_jpeg`), by `processes` worker processes (default: one
  per core). Writes to a temporary folder inside `data_dir` and moves the
  finished dataset into place, so a failure leaves nothing behind."""
  import tensorflow_datasets as tfds  # deferred: TFDS loads TensorFlow (seconds)
  from tensorflow_datasets.core import constants
  classes, files = list_imagenet(manual_dir)
  data_dir = os.path.abspath(os.path.expanduser(data_dir or constants.DATA_DIR))
  target = os.path.join(data_dir, name)
  if os.path.exists(target):
    raise ValueError(f'{target} already exists; remove it to import again')
  os.makedirs(data_dir, exist_ok=True)
  scratch = tempfile.mkdtemp(prefix=f'.{name}.incomplete.', dir=data_dir)
  tfds.disable_progress_bar()  # ours below counts the images
  total, done, start = sum(len(items) for items in files.values()), 0, time.time()
  context = multiprocessing.get_context('spawn')  # no state shared with TensorFlow's threads
  try:
    with context.Pool(processes or os.cpu_count()) as pool:

      def encoded(items):
        nonlocal done
        paths = [path for path, _ in items]
        jobs = pool.imap(_paper_jpeg_job, [(p, size, quality) for p in paths], chunksize=16)
        for data, (_, label) in zip(jobs, items):
          done += 1
          if progress and (done % 1000 == 0 or done == total):
            rate = done / max(time.time() - start, 1e-9)
            print(f'\r{done}/{total} images, {rate:.0f}/s, ETA {(total - done) / rate:.0f} s',
                  end='', file=sys.stderr, flush=True)
          yield data, label

      store_encoded(name, {split: encoded(items) for split, items in files.items()},
                    classes, (size, size, 3), scratch)
    if progress:
      print(file=sys.stderr)
    os.rename(os.path.join(scratch, name), target)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  return tfds.builder(name, data_dir=data_dir)


def _paper_jpeg_job(args):
  return paper_jpeg(*args)


def import_fashion_mnist(source='/usr/share/datasets/fashion-mnist', data_dir=None):
  splits = {}
  for split, (image_file, label_file) in FASHION_MNIST_FILES.items():
    paths = [os.path.join(source, f) for f in (image_file, label_file)]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
      raise FileNotFoundError(
          f'{missing[0]} not found: install Debian\'s package with '
          '`apt-get install dataset-fashion-mnist`, or pass --source=DIR with the four idx .gz '
          'files')
    splits[split] = (read_idx(paths[0])[..., None], read_idx(paths[1]).astype(np.int64))
  return store('fashion_mnist', splits, data_dir)


def import_npz(name, train, test, data_dir=None):
  splits = {}
  for split, path in (('train', train), ('test', test)):
    if not os.path.exists(path):
      raise FileNotFoundError(f'{path} not found (an .npz with x uint8 NHWC and y labels)')
    with np.load(path) as arrays:
      splits[split] = (arrays['x'], arrays['y'].astype(np.int64))
  return store(name, splits, data_dir)
