"""Offline imports into TFDS format, so local copies load by name like any TFDS dataset.

    python -m alexnet_jax.datasets import-fashion-mnist [--source=/usr/share/datasets/fashion-mnist]
    python -m alexnet_jax.datasets import-npz --name=cifar10 \\
        --train=../shared/data/cifar10/train.npz --test=../shared/data/cifar10/test.npz
    python -m alexnet_jax.datasets prepare-imagenet --manual_dir=DIR [--data_dir=...]

The imports themselves are in alexnet_jax/data/importers.py (module doc).
"""

import sys
import time

from absl import flags

from alexnet_jax.data.images import PAPER_STORED_SIZE
from alexnet_jax.data.importers import (IMAGENET_256, JPEG_QUALITY, import_fashion_mnist,
                                        import_npz, prepare_imagenet)
from alexnet_jax.runtime import cli, console

FLAGS = flags.FlagValues()
flags.DEFINE_string('data_dir', None, "TFDS data_dir to write into (default: TFDS's)",
                    flag_values=FLAGS)
flags.DEFINE_string('source', '/usr/share/datasets/fashion-mnist',
                    'import-fashion-mnist: the folder of the four idx .gz files',
                    flag_values=FLAGS)
flags.DEFINE_string('name', None, f'import-npz: the TFDS name (required); prepare-imagenet: '
                    f'the dataset written (default {IMAGENET_256})', flag_values=FLAGS)
flags.DEFINE_string('train', None, 'import-npz: the training split (.npz with x and y)',
                    flag_values=FLAGS)
flags.DEFINE_string('test', None, 'import-npz: the test split (.npz with x and y)',
                    flag_values=FLAGS)
flags.DEFINE_string('manual_dir', None, 'prepare-imagenet: holds train/<wnid>/*.JPEG and '
                    'optionally val/<wnid>/*.JPEG', flag_values=FLAGS)
flags.DEFINE_integer('size', PAPER_STORED_SIZE, 'prepare-imagenet: the stored side',
                     flag_values=FLAGS)
flags.DEFINE_integer('quality', JPEG_QUALITY, 'prepare-imagenet: JPEG quality', flag_values=FLAGS)
flags.DEFINE_integer('processes', None, 'prepare-imagenet: worker processes (default: one '
                     'per core)', flag_values=FLAGS)

# command -> (its required flags, the flags it reads besides data_dir)
COMMANDS = {
    'import-fashion-mnist': ((), ('source',)),
    'import-npz': (('name', 'train', 'test'), ('name', 'train', 'test')),
    'prepare-imagenet': (('manual_dir',), ('manual_dir', 'name', 'size', 'quality',
                                           'processes')),
}
USAGE = 'usage:\n' + __doc__.split('\n\n')[1]


def _check_command(args) -> str:
  """The command of `args`, or ValueError naming what is wrong with the command line."""
  if len(args) != 1 or args[0] not in COMMANDS:
    raise ValueError(f'expected one command of {", ".join(COMMANDS)}; got '
                     f'{" ".join(args) or "none"}')
  command = args[0]
  required, reads = COMMANDS[command]
  missing = [f'--{name}' for name in required if FLAGS[name].value is None]
  if missing:
    raise ValueError(f'{command} needs {", ".join(missing)}')
  stray = sorted(f'--{name}' for name in FLAGS
                 if FLAGS[name].present and name not in reads + ('data_dir',))
  if stray:
    raise ValueError(f'{command} does not read {", ".join(stray)}')
  return command


def main(argv) -> int:
  """`argv`: the arguments after the program name; returns the exit code."""
  args = cli.parse(FLAGS, argv, USAGE)
  try:
    command = _check_command(args)
  except ValueError as error:
    return cli.usage_error(str(error))
  console.quiet_native_logs()
  start = time.time()
  try:
    if command == 'import-fashion-mnist':
      builder = import_fashion_mnist(FLAGS.source, FLAGS.data_dir)
    elif command == 'prepare-imagenet':
      builder = prepare_imagenet(FLAGS.manual_dir, FLAGS.data_dir, FLAGS.name or IMAGENET_256,
                                 FLAGS.size, FLAGS.quality, FLAGS.processes)
    else:
      builder = import_npz(FLAGS.name, FLAGS.train, FLAGS.test, FLAGS.data_dir)
  except (FileNotFoundError, ValueError, KeyError) as error:
    return cli.fail(error)
  splits = {k: v.num_examples for k, v in builder.info.splits.items()}
  print(f'imported {builder.name} {builder.info.version} into {builder.data_dir} '
        f'({splits}) in {time.time() - start:.0f} s')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
