"""`--mode=ablate`: runs every variant x seed of an ablation config with the normal
training code, then builds the report.

An ablation config (configs/ablate_*.py) is a base config plus `config.ablation`:
`name`, `variants` (ordered names), `overrides` (per variant, a partial config
tree merged into the base), `baseline`, `seeds`, `paper_claims` and
`target_train_error`. Each run lives in `DIR/<variant>/seed<k>/` and is an
ordinary training workdir: finished runs (their `run.json` says so) are skipped,
unfinished ones resume from their checkpoints; a run made with another config is
refused before anything runs (workdir.check_resume), and `--config.resume=restart`
moves every planned run aside and starts it over. `ablation.only` restricts a
machine to some runs (e.g. `lrn_off/seed1,lrn_off/seed2`), so several machines
can share a sweep; `python -m alexnet_jax.report DIR` then builds the report
from all of them. After each run: the paper's 10-view test (`ten_views_eval`) and
the error on a fixed sample of the training images (`train_eval_examples`), for the
report's overfitting table.

`start_from` (variant -> an earlier variant) chains runs, as cuda-convnet's
Methodology resumed a net with `-f` on other batches: the run `<variant>/seed<k>`
starts from the weights of the finished `<earlier>/seed<k>` of the same sweep
(`config.init_from`; the momentum starts again from zero, which cuda-convnet's
resume would have kept).
"""

import json
import os
import time

import ml_collections

from alexnet_jax import errors, evaluate, report, train, validation
from alexnet_jax.runtime import results_io
from alexnet_jax.training import metric_writers, run_files
from alexnet_jax.training import workdir as workdirs


def _merge(base: ml_collections.ConfigDict, overrides, path=''):
  for key, value in overrides.items():
    if key not in base:
      raise errors.ConfigError(
          f'config.ablation.overrides{path}.{key}: no such field config{path}.{key}')
    if isinstance(value, (dict, ml_collections.ConfigDict)):
      _merge(base[key], value, f'{path}.{key}')
    else:
      base[key] = value


def run_config(config, variant: str, seed: int, workdir: str = '') -> ml_collections.ConfigDict:
  """The training config of one run: the base, the variant's overrides, the seed; with
  `workdir` (the sweep's), a chained run's `init_from` (`start_from`)."""
  run = ml_collections.ConfigDict(config.to_dict())
  del run['ablation']
  run.mode = 'train'
  run.seed = seed
  _merge(run, config.ablation.overrides.get(variant, {}).to_dict()
         if variant in config.ablation.overrides else {})
  source = _start_from(config).get(variant)
  if source and workdir:
    run.init_from = os.path.join(workdir, source, f'seed{seed}')
  return run


def _start_from(config) -> dict:
  start_from = config.ablation.get('start_from', None)
  return start_from.to_dict() if start_from else {}


def planned_runs(config):
  """(variant, seed) pairs this invocation should run, in order."""
  runs = [(v, s) for v in config.ablation.variants for s in config.ablation.seeds]
  only = config.ablation.get('only') or ''
  if only:
    wanted = {item.strip() for item in only.split(',') if item.strip()}
    known = {f'{v}/seed{s}' for v, s in runs}
    unknown = sorted(wanted - known)
    if unknown:
      raise errors.ConfigError(
          f'config.ablation.only names unknown runs {unknown}; known: {sorted(known)}')
    runs = [(v, s) for v, s in runs if f'{v}/seed{s}' in wanted]
  return runs


def validate(config):
  """Checks the sweep and every run's config before anything runs or is written."""
  ablation = config.ablation
  if ablation.baseline not in ablation.variants:
    raise errors.ConfigError(
        f'config.ablation.baseline={ablation.baseline!r} is not one of the variants '
        f'{list(ablation.variants)}')
  for name in ablation.overrides:
    if name not in ablation.variants:
      raise errors.ConfigError(f'config.ablation.overrides has unknown variant {name!r}')
  if not ablation.seeds:
    raise errors.ConfigError('config.ablation.seeds is empty')
  sample = ablation.get('train_eval_examples', 0)
  if not isinstance(sample, int) or isinstance(sample, bool) or sample < 0:
    raise errors.ConfigError(f'config.ablation.train_eval_examples={sample!r} must be an '
                             'integer >= 0 (0: no evaluation on the training split)')
  order = list(ablation.variants)
  for variant, source in _start_from(config).items():
    if variant not in order or source not in order or order.index(source) >= order.index(variant):
      raise errors.ConfigError(
          f'config.ablation.start_from.{variant}={source!r}: both must be variants, the '
          f'source one listed first in {order}')
  for variant, seed in planned_runs(config):
    validation.validate_config(run_config(config, variant, seed))


def check_device_data(config, info):
  """`validation.check_device_data` for every planned run (it needs JAX's backend, so
  it is not part of `validate`, which runs before `jax.distributed.initialize`)."""
  for variant, seed in planned_runs(config):
    validation.check_device_data(run_config(config, variant, seed), info)


def sweep_description(config) -> dict:
  ablation = config.ablation
  return {
      'name': ablation.name,
      'dataset': config.data.name,
      'variants': list(ablation.variants),
      'baseline': ablation.baseline,
      'seeds': list(ablation.seeds),
      'target_train_error': ablation.target_train_error,
      'paper_claims': {k: dict(v) for k, v in ablation.paper_claims.to_dict().items()},
  }


def is_finished(run_dir: str) -> bool:
  path = os.path.join(run_dir, 'run.json')
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return bool(json.load(f).get('finished'))


def _evaluate_last_checkpoint(run_settings, run_dir: str, filename: str, data=None, eval_=None):
  """Evaluates the finished run's last checkpoint with its own settings, `data` and
  `eval_` updated, into `run_dir/filename` (a copy: `run_settings` is not changed)."""
  settings = ml_collections.ConfigDict(run_settings.to_dict())
  settings.data.update(data or {})
  settings.eval.update({'checkpoint': 'latest', **(eval_ or {})})
  evaluate.run(settings, run_dir, filename=filename)


def _evaluate_ten_views(run_settings, run_dir: str):
  """The multiview test of the finished run (cuda-convnet's --multiview-test, the
  paper's 10 views): `run_dir/eval_ten_views.json`, which the report reads."""
  _evaluate_last_checkpoint(run_settings, run_dir, 'eval_ten_views.json',
                            data={'ten_views': True})


def _evaluate_training_split(run_settings, run_dir: str, max_examples: int):
  """The finished run's error on (a fixed sample of) its own training images, as the
  test split is evaluated (no dropout, no augmentation, the center crop):
  `run_dir/eval_train.json`. Test error minus this is how far the net overfits, which
  is what the paper says dropout (section 4.2) and augmentation (4.1) reduce."""
  _evaluate_last_checkpoint(
      run_settings, run_dir, run_files.TRAIN_EVAL,
      data={'eval_split': run_settings.data.train_split, 'ten_views': False},
      eval_={'max_examples': max_examples})


def run(config, workdir: str):
  """Runs the planned variant x seed runs (skipping finished ones), then the report."""

  validate(config)
  check_device_data(config, validation.validate_dataset(config))
  runs = planned_runs(config)
  restart = config.get('resume', 'auto') == 'restart'
  for variant, seed in runs:  # a changed sweep is refused before any run starts
    workdirs.check_resume(run_config(config, variant, seed, workdir),
                          os.path.join(workdir, variant, f'seed{seed}'))
  results_io.write_json_atomic(os.path.join(workdir, 'ablation.json'), sweep_description(config))
  for index, (variant, seed) in enumerate(runs, start=1):
    run_dir = os.path.join(workdir, variant, f'seed{seed}')
    label = f'[{index}/{len(runs)}] {variant} seed {seed}'
    if is_finished(run_dir) and not restart:
      print(f'{label}: finished earlier, skipped')
      continue
    committed = config.ablation.get('committed_runs', '')
    if committed and is_finished(os.path.join(committed, variant, f'seed{seed}')) and not restart:
      print(f'{label}: its results are committed in {committed}, skipped')
      continue
    this_run = run_config(config, variant, seed, workdir)
    source = _start_from(config).get(variant)
    if source and not is_finished(this_run.init_from):
      raise errors.ConfigError(
          f'{variant}/seed{seed} starts from {this_run.init_from}, which has not finished: run '
          f'{source}/seed{seed} first (it is missing from config.ablation.only, or it failed)')
    print(f'{label}: training in {run_dir}')
    start = time.time()
    train.train_and_evaluate(this_run, run_dir)
    if config.ablation.get('ten_views_eval', False):
      _evaluate_ten_views(this_run, run_dir)
    if config.ablation.get('train_eval_examples', 0):
      _evaluate_training_split(this_run, run_dir, config.ablation.train_eval_examples)
    # A resumed run's time includes what the processes before this one spent on it.
    earlier_s = metric_writers.earlier_processes_s(run_dir, start)
    results_io.write_json_atomic(os.path.join(run_dir, 'run.json'), {
        'finished': True, 'variant': variant, 'seed': seed,
        'wall_time_s': time.time() - start + earlier_s, 'earlier_processes_s': earlier_s})
  return report.build(workdir)
