"""Offline imports into TFDS format, so local copies load by name like any TFDS dataset.

    python -m alexnet_jax.datasets import-fashion-mnist [--source=/usr/share/datasets/fashion-mnist]
    python -m alexnet_jax.datasets import-npz --name=cifar10 \\
        --train=../shared/data/cifar10/train.npz --test=../shared/data/cifar10/test.npz

Each import writes a real TFDS dataset (array_record files, `dataset_info.json`)
under the canonical name and version with the official features, so afterwards
`tfds.builder('fashion_mnist')` / `tfds.data_source('cifar10', ...)` find it
in `--data_dir` (default: TFDS's, ~/tensorflow_datasets) and never download.

TensorFlow: TFDS encodes images with TensorFlow when it writes a dataset, so
the project depends on `tensorflow-cpu` (installed by `pip install -e .`); JAX
does all the compute, TensorFlow only encodes PNGs here and decodes them when
the pipeline reads.
"""

import argparse
import gzip
import os
import sys
import time

import numpy as np

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
  import tensorflow_datasets as tfds
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


def import_fashion_mnist(source='/usr/share/datasets/fashion-mnist', data_dir=None):
  splits = {}
  for split, (image_file, label_file) in FASHION_MNIST_FILES.items():
    paths = [os.path.join(source, f) for f in (image_file, label_file)]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
      raise FileNotFoundError(
          f'{missing[0]} not found: install Debian\'s package with '
          '`apt-get install dataset-fashion-mnist`, or pass --source=DIR with the four idx .gz files')
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


def main(argv=None):
  parser = argparse.ArgumentParser(prog='python -m alexnet_jax.datasets', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  commands = parser.add_subparsers(dest='command', required=True)
  fmnist = commands.add_parser('import-fashion-mnist')
  fmnist.add_argument('--source', default='/usr/share/datasets/fashion-mnist')
  fmnist.add_argument('--data_dir', default=None)
  npz = commands.add_parser('import-npz')
  npz.add_argument('--name', required=True)
  npz.add_argument('--train', required=True)
  npz.add_argument('--test', required=True)
  npz.add_argument('--data_dir', default=None)
  args = parser.parse_args(argv)
  start = time.time()
  try:
    if args.command == 'import-fashion-mnist':
      builder = import_fashion_mnist(args.source, args.data_dir)
    else:
      builder = import_npz(args.name, args.train, args.test, args.data_dir)
  except (FileNotFoundError, ValueError, KeyError) as error:
    print(f'error: {error}', file=sys.stderr)
    return 1
  splits = {k: v.num_examples for k, v in builder.info.splits.items()}
  print(f'imported {builder.name} {builder.info.version} into {builder.data_dir} '
        f'({splits}) in {time.time() - start:.0f} s')
  return 0


if __name__ == '__main__':
  sys.exit(main())
