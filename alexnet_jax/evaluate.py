"""`--mode=eval`: restores a checkpoint's parameters (not the optimizer state) and
evaluates the eval split on center crops or, with `config.data.ten_views`, on
the paper's 10 views; every example counts, the partial last batch included.
Writes `DIR/eval.json`."""

import dataclasses
import os

import jax

from alexnet_jax.data import iterators
from alexnet_jax.devices import parallel
from alexnet_jax.errors import ConfigError
from alexnet_jax.models import alexnet
from alexnet_jax.runtime import results_io
from alexnet_jax.training import checkpoints, optimizers, step_functions


def select_checkpoint(config, workdir):
  """(manager, steps to try) for `config.eval.checkpoint`: latest | best | <step> | <path>;
  ConfigError, before anything is written, when there is none (main checks it for the
  modes that read a trained run, so that a failed command leaves no log.txt behind)."""
  choice = str(config.eval.checkpoint)
  if choice in ('latest', 'best') or choice.isdigit():
    directory = os.path.join(workdir, 'checkpoints_best' if choice == 'best' else 'checkpoints')
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


def _check_model_config(config, meta):
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


def restore_params(config, workdir: str):
  """(params, meta, manager) of the checkpoint `config.eval.checkpoint` names, after
  checking that it was trained with this config's model; damaged checkpoints are
  skipped with a warning."""
  manager, steps = select_checkpoint(config, workdir)
  latest_meta = checkpoints.read_config(manager, max(steps))
  _check_model_config(config, latest_meta)
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


def run(config, workdir: str, filename: str = 'eval.json') -> dict:
  layout = parallel.layout_from_config(config)
  params, meta, manager = restore_params(config, workdir)
  placement = parallel.Placement(layout)
  compiled = step_functions.CompiledSteps(config, placement)
  result = step_functions.evaluate(compiled.eval_fn(placement.put_tree(params)),
                                   iterators.create_eval_iterator(config))
  record = {'step': int(meta['step']), 'split': config.data.eval_split,
            'views': 10 if config.data.ten_views else 1, 'checkpoint':
            os.path.join(str(manager.directory), str(meta['step'])), **result}
  table = (f"{'step':>8} {'split':>12} {'views':>6} {'examples':>9} {'top-1 err':>10} "
           f"{'top-5 err':>10}\n"
           f"{record['step']:>8} {record['split']:>12} {record['views']:>6} "
           f"{record['num_examples']:>9} {record['top1_error']:>10.2%} "
           f"{record['top5_error']:>10.2%}")
  results_io.show_and_write(table, workdir, filename, record)
  return record
