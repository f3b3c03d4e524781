"""Command line:

    python -m alexnet_jax.main --config=configs/X.py[:preset] [--workdir=DIR] [--mode=...]

Parses flags, validates the config (before anything is compiled or written),
and hands over to the library function of the mode. No logic lives here.
"""

import importlib
import sys

from absl import app, flags
from ml_collections import config_flags

from alexnet_jax import ablation, errors, validation
from alexnet_jax.devices import distributed
from alexnet_jax.runtime import cli, console, startup
from alexnet_jax.training import restore, workdir

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues) -> None:
  """The command line's flags, on `flag_values`: a function so that the tests can parse
  the commands the docs show with exactly these definitions, on a fresh FlagValues."""
  config_flags.DEFINE_config_file('config', None, 'Config file (configs/*.py[:preset]).',
                                  lock_config=True, flag_values=flag_values)
  flags.DEFINE_string('workdir', None, 'Directory for results, metrics and checkpoints; '
                      'default: runs/<config file name>[_<preset>] under the current '
                      'directory.', flag_values=flag_values)
  flags.DEFINE_enum('mode', None, list(validation.MODES),
                    'What to do; defaults to config.mode.', flag_values=flag_values)
  flags.mark_flags_as_required(['config'], flag_values=flag_values)


define_flags(FLAGS)


def _dispatch(mode: str):
  """The library function of a (validated) mode, `validation.MODES`: only the asked
  mode's module is imported (export's TensorFlow path, say, stays unloaded)."""
  module, function = validation.MODES[mode].split(':')
  return getattr(importlib.import_module(f'alexnet_jax.{module}'), function)


def parse_flags(argv):
  """absl's flag parsing, with every error (a missing config file, an unknown preset
  or `--config.` key, a bad flag value) as one line instead of a traceback. `--help`
  exits 0, as in the package's other command lines (absl's own exits 1)."""
  if any(arg in cli.HELP_FLAGS for arg in argv[1:]):
    app.usage(shorthelp='--helpfull' not in argv, writeto_stdout=True, exitcode=0)
  try:
    args = FLAGS(argv)
    FLAGS.config.get('mode')  # a config file that failed to load raises only when read
    return args
  except Exception as error:  # SystemExit (--help) passes
    sys.exit(cli.usage_error(validation.flag_error(argv, error)))


def main(argv):
  if len(argv) > 1:
    sys.exit(cli.usage_error(f'unexpected arguments: {" ".join(argv[1:])}'))
  startup.setup()  # before XLA's threads allocate or anything is compiled
  console.quiet_native_logs()  # before TensorFlow or XLA load
  console.buffer(verbose=FLAGS['verbosity'].present)
  config = FLAGS.config
  config_arg = config_flags.get_config_filename(FLAGS['config'])
  workdir_path = FLAGS.workdir or workdir.default_for(config_arg)
  if FLAGS.mode is not None:
    with config.unlocked():
      config.mode = FLAGS.mode
  try:  # the modes check again when called as library functions (milliseconds)
    validation.validate_config(config)
    distributed.validate(config)
    if 'ablation' in config:
      ablation.validate(config)
    if config.mode in validation.DATA_MODES:
      info = validation.validate_dataset(config)
    if config.mode in validation.CHECKPOINT_MODES:
      restore.select_checkpoint(config, workdir_path)
    run = _dispatch(config.mode)
    distributed.initialize(config)
    # Device-resident data is checked against the backend, which starts only now.
    if config.mode == 'train':
      validation.check_device_data(config, info)
    elif config.mode == 'ablate':
      ablation.check_device_data(config, info)
  except errors.UserError as error:  # every check before the run is a usage error
    sys.exit(cli.usage_error(str(error)))
  try:
    console.to_file(workdir_path)
    dataset = config.data.name if config.mode in validation.DATA_MODES else None
    print(console.header(config, config_arg, workdir_path, FLAGS.workdir is None, dataset),
          flush=True)
    run(config, workdir_path)
  except errors.UserError as error:
    sys.exit(cli.fail(error))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
