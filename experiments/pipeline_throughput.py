"""Images/s of the input pipeline alone (decode, crop, flip, PCA, normalize, batch).

    python experiments/pipeline_throughput.py --out=experiments/results/pipeline_throughput.json

Measures two datasets: CIFAR-size (a prepared `cifar10`, held in memory; skipped
if it is not imported) and ImageNet-size JPEGs (a synthetic TFDS dataset of
`--jpegs` random 400x350 JPEG images written to a temporary directory, decoded,
resized to 256 and cropped to 227 every batch, with flips and PCA noise).
Compare with the training step's consumption rate from `--mode=benchmark`.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from alexnet_jax import input_pipeline  # noqa: E402
from configs import default  # noqa: E402


def measure(config, batches, warmup=2):
  iterator = input_pipeline.create_train_iterator(config)
  for _ in range(warmup):
    next(iterator)
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  elapsed = time.perf_counter() - start
  iterator.close()
  return {'batches': batches, 'batch_size': config.batch_size, 'seconds': elapsed,
          'images_per_s': batches * config.batch_size / elapsed}


def synthetic_jpegs(data_dir, count):
  """Random smooth images so that JPEG sizes are realistic (not noise)."""
  import tensorflow_datasets as tfds
  from tensorflow_datasets.core.dataset_builders import adhoc_builder
  rng = np.random.default_rng(0)

  def examples():
    for i in range(count):
      small = rng.integers(0, 256, (25, 22, 3), dtype=np.uint8)
      image = np.kron(small, np.ones((16, 16, 1), np.uint8))[:400, :350]
      yield i, {'image': image, 'label': i % 10}

  features = tfds.features.FeaturesDict({
      'image': tfds.features.Image(shape=(None, None, 3), encoding_format='jpeg'),
      'label': tfds.features.ClassLabel(num_classes=10)})
  adhoc_builder.store_as_tfds_dataset(name='synthetic_jpeg', version='1.0.0', features=features,
                                      split_datasets={'train': examples()}, data_dir=data_dir,
                                      file_format='array_record')


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--out', default='pipeline_throughput.json')
  parser.add_argument('--jpegs', type=int, default=512)
  parser.add_argument('--batches', type=int, default=10)
  parser.add_argument('--workers', type=int, default=os.cpu_count())
  args = parser.parse_args()
  results = {'machine': f'{platform.machine()}, {os.cpu_count()} cores',
             'date': time.strftime('%Y-%m-%d')}

  cifar = default.get_config()
  cifar.data.name, cifar.data.image_size, cifar.data.channels = 'cifar10', 32, 3
  cifar.data.crop_padding, cifar.data.pca_std = 4, 0.1
  try:
    results['cifar10_32px'] = measure(cifar, args.batches * 4)
  except input_pipeline.DatasetNotFoundError as error:
    results['cifar10_32px'] = {'skipped': str(error)}

  with tempfile.TemporaryDirectory() as data_dir:
    start = time.perf_counter()
    synthetic_jpegs(data_dir, args.jpegs)
    imagenet = default.get_config('paper')
    imagenet.data.name, imagenet.data.data_dir = 'synthetic_jpeg', data_dir
    imagenet.data.train_split = 'train'
    imagenet.data.normalization = 'per_channel'
    imagenet.data.num_workers = args.workers
    imagenet.model.num_classes = 10
    results['imagenet_size_jpeg_227px'] = measure(imagenet, args.batches)
    results['imagenet_size_jpeg_227px']['dataset_write_s'] = time.perf_counter() - start
  print(json.dumps(results, indent=2))
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, 'w') as f:
    json.dump(results, f, indent=2)


if __name__ == '__main__':
  main()
