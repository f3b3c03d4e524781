"""The parameters of a trained run: which checkpoint a command means
(`config.eval.checkpoint`, or a path), checked against the config's network before
anything is restored, and restored without the optimizer state. Evaluation, the
kernel figures, export, `alexnet_jax.load` and `config.init_from` all read runs here."""

import dataclasses
import os

import jax
import ml_collections

from alexnet_jax.errors import ConfigError
from alexnet_jax.models import alexnet
from alexnet_jax.training import checkpoints, optimizers, run_files


def select_checkpoint(config, workdir):
  """(manager, steps to try) for `config.eval.checkpoint`: latest | best | <step> | <path>;
  ConfigError, before anything is written, when there is none (main checks it for the
  modes that read a trained run, so that a failed command leaves no log.txt behind)."""
  choice = str(config.eval.checkpoint)
  if choice in ('latest', 'best') or choice.isdigit():
    directory = os.path.join(workdir, run_files.BEST_CHECKPOINTS if choice == 'best'
                             else run_files.CHECKPOINTS)
  else:
    directory, step = os.path.split(os.path.abspath(choice))
    if not step.isdigit() or not os.path.isdir(choice):
      raise ConfigError(f'config.eval.checkpoint={choice!r}: not latest, best, a step number '
                        'or the path of a checkpoint step directory')
    choice = step
  if not os.path.isdir(directory):
    raise ConfigError(f'no checkpoints in {directory}: train first (--mode=train) or set '
                      'config.eval.checkpoint')
  manager = checkpoints.manager_for(directory)
  steps = manager.all_steps()
  if not steps:
    raise ConfigError(f'no checkpoints in {directory}: train first (--mode=train)')
  if choice.isdigit():
    if int(choice) not in steps:
      raise ConfigError(f'config.eval.checkpoint={choice}: no such step in {directory} '
                        f'(have {sorted(steps)})')
    steps = [int(choice)]
  return manager, steps


# Model fields that change how the network is computed, not what it computes.
COMPUTE_ONLY = ('conv_chunk',)


def check_model_config(config, meta):
  """The checkpoint's network must be this config's. Both are read as `create_model`
  reads them (alexnet.ModelSpec), so a field added to the code after the run was
  stored counts with its default rather than as a difference."""
  stored = dataclasses.asdict(alexnet.ModelSpec.from_config(meta['config']['model']))
  current = dataclasses.asdict(alexnet.ModelSpec.from_config(config.model))
  differing = sorted(k for k in stored if stored[k] != current[k] and k not in COMPUTE_ONLY)
  if differing:
    key = differing[0]
    raise ConfigError(f'checkpoint was trained with config.model.{key}={stored[key]!r}, '
                      f'but this config has {current[key]!r} (differing: {differing})')


def initial_params(config):
  """The parameters a run of `config` starts from, before `init_from` replaces any:
  drawn from `config.seed` on the configured image shape. train.py draws them here, so
  that a trained run's initialization can be recomputed from its stored config."""
  image_shape = (config.data.image_size, config.data.image_size, config.data.channels)
  return alexnet.init_params(alexnet.create_model(config.model), jax.random.key(config.seed),
                             image_shape)


def restore_params(config, workdir: str):
  """(params, meta, manager) of the checkpoint `config.eval.checkpoint` names, after
  checking that it was trained with this config's model; damaged checkpoints are
  skipped with a warning."""
  manager, steps = select_checkpoint(config, workdir)
  latest_meta = checkpoints.read_config(manager, max(steps))
  check_model_config(config, latest_meta)
  model = alexnet.create_model(config.model)
  image_shape = (config.data.image_size, config.data.image_size, config.data.channels)
  params = jax.eval_shape(lambda: alexnet.init_params(model, jax.random.key(0), image_shape))
  abstract_state = optimizers.TrainState(step=None, params=params, opt_state=None)
  restored = checkpoints.restore_good(manager, abstract_state, steps, params_only=True)
  if restored is None:
    raise ConfigError(f'no readable checkpoint among steps {sorted(steps)} in '
                      f'{manager.directory} ({checkpoints.versions_note(latest_meta)})')
  items, meta = restored
  return items['params'], meta, manager


def locate(path: str):
  """(workdir, config.eval.checkpoint choice) for a run or checkpoint step directory."""
  path = os.path.abspath(path)
  name = os.path.basename(path)
  if name.isdigit() and os.path.basename(os.path.dirname(path)).startswith(run_files.CHECKPOINTS):
    return os.path.dirname(os.path.dirname(path)), path
  if os.path.isdir(os.path.join(path, run_files.CHECKPOINTS)):
    return path, 'latest'
  raise ValueError(f'{path}: not a run directory (no checkpoints/ in it) nor a checkpoint '
                   'step directory (DIR/checkpoints/<step>)')


def trained_run(path: str):
  """(config, params, step, checkpoint path) of a run directory, a checkpoint step
  directory or an imported-weights directory, with the config stored in its checkpoint
  (so nothing else needs to be passed); ValueError when `path` holds no checkpoint."""
  workdir, choice = locate(path)
  directory = (os.path.dirname(choice) if choice != 'latest'
               else os.path.join(workdir, run_files.CHECKPOINTS))
  manager = checkpoints.manager_for(directory)
  steps = manager.all_steps()
  if not steps:
    raise ValueError(f'{directory}: no checkpoints')
  step = int(os.path.basename(choice)) if choice != 'latest' else max(steps)
  config = ml_collections.ConfigDict(checkpoints.read_config(manager, step)['config'])
  config.eval.checkpoint = choice
  params, meta, manager = restore_params(config, workdir)
  step = int(meta['step'])
  return config, params, step, os.path.join(str(manager.directory), str(step))
