"""Images/s of the input pipeline alone (decode, crop, flip, PCA noise, mean
subtraction, batch), per core, to project the feed rate of a GPU host.

    python -m experiments.pipeline_throughput \\
        --out=experiments/results/pipeline_throughput.json

Makes ImageNet-like JPEGs itself (no download): `--jpegs` images of ImageNet's
common sizes (500x375, 375x500, 500x333, 333x500, 500x500, 400x300), smooth
random pictures plus noise, saved at quality 90 so that files are ImageNet-sized
(the mean size is recorded; ImageNet's training JPEGs average ~110 KB). They
are written as class folders and imported twice:

* `imagenet2012_256` by `python -m alexnet_jax.datasets prepare-imagenet`: the
  paper's 256x256 store (its import rate is recorded too);
* the original bytes, as TFDS's `imagenet2012` stores them (the full-size path,
  `resize_size=256`, JPEGs decoded at reduced scale where libjpeg allows; none
  of these sizes allows it, as ImageNet's typical ones do not).

Each is read with the paper's training augmentation at batch 128 (random 227
crops, flips, PCA colour noise, mean subtraction; configs/default.py:paper) by
the pipeline in this process on one thread (no prefetch: the cost of a batch on
one core) and by 1 and 2 worker processes (`data.worker_processes`); with
`--grain`, also by Grain's worker processes making the same batches
(experiments/grain_loader.py, the candidate measured against workers.py), each
right after workers.py's with the same count. Reported,
the best of `--rounds`: images/s, images/s per core (per worker process; the
main process only waits), and the CPU time all processes used, per image. CIFAR-10 (32px, in memory)
is measured too if it is imported. Compare with the training step's consumption
(`--mode=benchmark`, README's performance section).
"""

import argparse
import importlib.metadata
import io
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time

import numpy as np

from alexnet_jax import errors
from alexnet_jax.config import default
from alexnet_jax.data import importers
from alexnet_jax.data import input_pipeline, iterators
from alexnet_jax.runtime import machine as runtime_machine
from experiments import grain_loader

IMAGENET_SIZES = [(375, 500), (500, 375), (333, 500), (500, 333), (500, 500), (300, 400)]
CLASSES = 10
FULL_SIZE = 'synthetic_imagenet_full_size'


def cpu_seconds(pids):
  """User + system CPU seconds of the processes `pids` so far (Linux /proc)."""
  ticks = os.sysconf('SC_CLK_TCK')
  total = 0.0
  for pid in pids:
    try:
      with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
      total += (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError):
      pass
  return total


def best_of(rounds, config, batches, warmup, grain=False):
  """The fastest of `rounds` measurements (other load only slows a round down)."""
  runs = [measure(config, batches, warmup, grain) for _ in range(rounds)]
  best = max(runs, key=lambda run: run['images_per_s'])
  return {**best, 'rounds_images_per_s': [run['images_per_s'] for run in runs]}


def measure(config, batches, warmup, grain=False):
  """Images/s of the training iterator, or with `grain` of Grain's worker processes
  (experiments/grain_loader.py) making the same batches."""
  processes = iterators.worker_process_count(config)
  if grain:
    iterator = grain_loader.grain_batches(config, input_pipeline.dataset_statistics(config),
                                          processes)
  else:
    iterator = iterators.create_train_iterator(config)
  for _ in range(warmup):
    next(iterator)
  pids = [os.getpid()] + [p.pid for p in multiprocessing.active_children()]  # the workers
  cpu_start, start = cpu_seconds(pids), time.perf_counter()
  for _ in range(batches):
    batch = next(iterator)
  elapsed = time.perf_counter() - start
  cpu = cpu_seconds(pids) - cpu_start
  assert batch['image'].shape == (config.batch_size, config.data.image_size,
                                  config.data.image_size, 3)
  iterator.close()
  images = batches * config.batch_size
  return {'worker_processes': processes, 'batches': batches, 'batch_size': config.batch_size,
          'seconds': round(elapsed, 3), 'images_per_s': round(images / elapsed, 1),
          'images_per_s_per_core': round(images / elapsed / max(1, processes), 1),
          'cpu_ms_per_image': round(1e3 * cpu / images, 3)}


def synthetic_imagenet(root, count, quality=90):
  """Class folders root/train/<wnid>/*.JPEG of ImageNet-like pictures; returns
  [(bytes, label)] and the mean file size."""
  from PIL import Image
  rng = np.random.default_rng(0)
  items = []
  for i in range(count):
    h, w = IMAGENET_SIZES[i % len(IMAGENET_SIZES)]
    coarse = rng.uniform(0, 255, (h // 24 + 2, w // 24 + 2, 3)).astype(np.uint8)
    picture = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), np.float32)
    picture = np.clip(picture + rng.normal(0, 12, picture.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(picture).save(out, 'JPEG', quality=quality)
    label = i % CLASSES
    folder = os.path.join(root, 'train', f'n{label:08d}')
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f'{i:06d}.JPEG'), 'wb') as f:
      f.write(out.getvalue())
    items.append((out.getvalue(), label))
  return items, float(np.mean([len(data) for data, _ in items]))


def paper_config(name, data_dir, resize_size, worker_processes):
  config = default.get_config('paper')
  config.data.name, config.data.data_dir = name, data_dir
  config.data.in_memory_max_bytes = 0  # decode per batch, as ImageNet is
  config.data.train_split = 'train'
  config.data.resize_size = resize_size
  config.data.worker_processes = worker_processes
  config.data.num_workers = 1  # in this process: one decoding thread
  config.data.prefetch = 0 if worker_processes == 0 else config.data.prefetch
  config.model.num_classes = CLASSES
  return config


def versions():
  import jax
  import jaxlib
  import PIL
  import tensorflow_datasets as tfds
  try:
    grain = importlib.metadata.version('grain')
  except importlib.metadata.PackageNotFoundError:
    grain = None
  return {'python': platform.python_version(), 'jax': jax.__version__, 'grain': grain,
          'jaxlib': jaxlib.__version__, 'numpy': np.__version__, 'Pillow': PIL.__version__,
          'libjpeg_turbo': __import__('PIL.features').features.check_feature('libjpeg_turbo'),
          'tensorflow_datasets': tfds.__version__}


def machine():
  return (f'{runtime_machine.cpu_model()}, {os.cpu_count()} cores, {platform.system()} '
          f'{platform.machine()}')


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--out', default='pipeline_throughput.json')
  parser.add_argument('--jpegs', type=int, default=1024)
  parser.add_argument('--batches', type=int, default=24, help='timed batches of 128')
  parser.add_argument('--processes', type=int, nargs='+', default=[1, 2],
                      help='worker process counts to measure')
  parser.add_argument('--rounds', type=int, default=2, help='each figure: the best of these')
  parser.add_argument('--grain', action='store_true',
                      help="also Grain's worker processes (experiments/grain_loader.py), "
                           'each count right after workers.py\'s')
  args = parser.parse_args()
  results = {'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), 'machine': machine(),
             'versions': versions(), 'command': ' '.join([sys.executable] + sys.argv),
             'load_average_1_5_15_min_at_start': [round(x, 2) for x in os.getloadavg()]}

  cifar = default.get_config()
  cifar.data.name, cifar.data.image_size, cifar.data.channels = 'cifar10', 32, 3
  cifar.data.crop_padding, cifar.data.pca_std = 4, 0.1
  try:
    results['cifar10_32px_in_process'] = measure(cifar, args.batches * 4, warmup=2)
  except errors.DatasetNotFoundError as error:
    results['cifar10_32px_in_process'] = {'skipped': str(error)}

  with tempfile.TemporaryDirectory() as scratch:
    manual, data_dir = os.path.join(scratch, 'manual'), os.path.join(scratch, 'tfds')
    items, mean_bytes = synthetic_imagenet(manual, args.jpegs)
    results['synthetic_jpegs'] = {'count': args.jpegs, 'sizes': IMAGENET_SIZES,
                                  'mean_kb': round(mean_bytes / 1024, 1)}
    start = time.perf_counter()
    importers.prepare_imagenet(manual, data_dir, progress=False)
    results['prepare_imagenet'] = {
        'processes': os.cpu_count(),
        'images_per_s': round(args.jpegs / (time.perf_counter() - start), 1)}
    # The original bytes, as tfds.builder('imagenet2012') stores them, with ImageNet's
    # published colour statistics (what the pipeline uses for imagenet2012) in its cache.
    importers.store_encoded(FULL_SIZE, {'train': items},
                            [f'n{c:08d}' for c in range(CLASSES)], (None, None, 3), data_dir)
    full = paper_config(FULL_SIZE, data_dir, 256, 0)
    with open(input_pipeline._stats_path(full), 'w') as f:
      json.dump(input_pipeline.dataset_statistics(paper_config('imagenet2012', data_dir, 256, 0)),
                f)

    for store, name, resize_size in (('store_256', importers.IMAGENET_256, 0),
                                     ('full_size_jpeg', FULL_SIZE, 256)):
      runs = {}
      for processes in [0] + args.processes:
        config = paper_config(name, data_dir, resize_size, processes)
        batches = args.batches if resize_size == 0 else max(4, args.batches // 2)
        key = 'in_process_1_thread' if processes == 0 else f'{processes}_worker_processes'
        loaders = [(key, False)] + ([(f'grain_{key}', True)] if args.grain and processes else [])
        for key, grain in loaders:
          runs[key] = best_of(args.rounds, config, batches, max(2, 2 * processes), grain)
          print(f'{store:>15} {key:>28}: {runs[key]["images_per_s"]:8.1f} images/s, '
                f'{runs[key]["images_per_s_per_core"]:8.1f} per core', flush=True)
      few, many = args.processes[0], args.processes[-1]
      for loader in ('', 'grain_') if args.grain else ('',):
        if many != few:
          runs[f'{loader}speedup_{many}_vs_{few}_workers'] = round(
              runs[f'{loader}{many}_worker_processes']['images_per_s']
              / runs[f'{loader}{few}_worker_processes']['images_per_s'], 3)
      results[f'paper_augmentation_227px_{store}'] = runs
  results['load_average_1_5_15_min_at_end'] = [round(x, 2) for x in os.getloadavg()]
  print(json.dumps(results, indent=2))
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, 'w') as f:
    json.dump(results, f, indent=2)


if __name__ == '__main__':
  main()
