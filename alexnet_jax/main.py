"""Command line: `python -m alexnet_jax.main --config=configs/X.py --workdir=DIR [--mode=...]`.

Parses flags, validates the config (before anything is compiled or written),
and hands over to the library function of the mode. No logic lives here.
"""

import sys

from absl import app, flags
from ml_collections import config_flags

from alexnet_jax import distributed, host_memory, validation, xla_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Config file (configs/*.py[:preset]).',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for results, metrics and checkpoints.')
flags.DEFINE_enum('mode', None, list(validation.MODES),
                  'What to do; defaults to config.mode.')
flags.mark_flags_as_required(['config', 'workdir'])


def _dispatch(mode: str):
  """The library function of each mode, imported lazily so that a bad config is
  reported before JAX starts."""
  if mode == 'summary':
    from alexnet_jax import summary
    return summary.run
  if mode == 'benchmark':
    from alexnet_jax import benchmark
    return benchmark.run
  if mode == 'train':
    from alexnet_jax import train
    return lambda config, workdir: train.train_and_evaluate(config, workdir)
  if mode == 'eval':
    from alexnet_jax import evaluate
    return evaluate.run
  if mode == 'kernels':
    from alexnet_jax import visualize
    return visualize.run
  if mode == 'ablate':
    from alexnet_jax import ablation
    return ablation.run
  raise validation.ConfigError(f'--mode={mode} is not available yet in this version')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  host_memory.retain_freed_memory()  # before XLA's threads allocate: see host_memory
  xla_flags.apply()  # before anything is compiled: see xla_flags
  config = FLAGS.config
  if FLAGS.mode is not None:
    with config.unlocked():
      config.mode = FLAGS.mode
  try:
    validation.validate_config(config)
    distributed.validate(config)
    if 'ablation' in config:
      from alexnet_jax import ablation
      ablation.validate(config)
    run = _dispatch(config.mode)
    distributed.initialize(config)
  except validation.ConfigError as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(2)
  from alexnet_jax import input_pipeline, train
  try:
    run(config, FLAGS.workdir)
  except (validation.ConfigError, input_pipeline.DatasetNotFoundError,
          train.NonFiniteLossError) as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
  app.run(main)
