"""Offline imports into TFDS format, so local copies load by name like any TFDS dataset.

    python -m alexnet_jax.datasets import-fashion-mnist [--source=/usr/share/datasets/fashion-mnist]
    python -m alexnet_jax.datasets import-npz --name=cifar10 \\
        --train=../shared/data/cifar10/train.npz --test=../shared/data/cifar10/test.npz
    python -m alexnet_jax.datasets prepare-imagenet --manual_dir=DIR [--data_dir=...]

The imports themselves are in alexnet_jax/data/importers.py (module doc).
"""

import argparse
import sys
import time

from alexnet_jax.data.importers import (IMAGENET_256, JPEG_QUALITY, import_fashion_mnist,
                                        import_npz, prepare_imagenet)
from alexnet_jax.data.images import PAPER_STORED_SIZE
from alexnet_jax.runtime import console


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
  imagenet = commands.add_parser('prepare-imagenet',
                                 help='ImageNet class folders, stored at 256x256 (module doc)')
  imagenet.add_argument('--manual_dir', required=True,
                        help='holds train/<wnid>/*.JPEG and optionally val/<wnid>/*.JPEG')
  imagenet.add_argument('--data_dir', default=None)
  imagenet.add_argument('--name', default=IMAGENET_256)
  imagenet.add_argument('--size', type=int, default=PAPER_STORED_SIZE)
  imagenet.add_argument('--quality', type=int, default=JPEG_QUALITY, help='JPEG quality')
  imagenet.add_argument('--processes', type=int, default=None, help='default: one per core')
  args = parser.parse_args(argv)
  console.quiet_native_logs()
  start = time.time()
  try:
    if args.command == 'import-fashion-mnist':
      builder = import_fashion_mnist(args.source, args.data_dir)
    elif args.command == 'prepare-imagenet':
      builder = prepare_imagenet(args.manual_dir, args.data_dir, args.name, args.size,
                                 args.quality, args.processes)
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
