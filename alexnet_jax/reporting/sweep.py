"""A sweep's variants over their seeds: per-metric mean and spread over the finished runs,
each variant's difference to the baseline beside the paper's claim, epochs-to-target
ratios, and whether a difference is beyond the seed spread. The result is what
`results.json` holds."""

import math
import os
import re
import statistics

from alexnet_jax.reporting import run_summary
from alexnet_jax.training import run_files

SEED_DIR = re.compile(r'^seed(\d+)$')
METRICS = ('final_train_loss', 'final_train_top1_error', 'test_top1_error', 'test_top5_error',
           'test_top1_error_ten_views', 'epochs_to_target', 'epochs_to_target_interpolated',
           'steps_to_target', 'wall_time_s', 'images_per_s')
# From eval_train.json (ablations since it was written): in a sweep's statistics and
# tables only when one of its runs has it, so that older sweeps' reports are unchanged.
OVERFITTING_METRICS = ('train_top1_error_eval', 'overfitting_gap')


def _target_summary(runs) -> dict:
  """How many runs reached the target training error, and for those that did not,
  the fewest epochs they trained: the mean epochs-to-target covers only the runs
  that got there, so this says what it leaves out (a lower bound for the rest)."""
  missed = [run['epochs_trained'] for run in runs
            if run['epochs_to_target'] is None and run['epochs_trained'] is not None]
  return {'reached': sum(run['epochs_to_target'] is not None for run in runs),
          'runs': len(runs), 'not_reached_within_epochs': min(missed) if missed else None}


def _seed_ranges_overlap(variant, baseline, metric):
  """Whether the per-seed values of `variant` and `baseline` overlap, and how likely
  they would be not to if the two made no difference; None with fewer than two finished
  runs on either side. Non-overlapping values are this report's meaning of "a difference
  beyond the seed spread". With no difference every ordering of the n + m runs is equally
  likely, and 2 n! m! / (n + m)! of them separate the two groups: 1/3 for 2 seeds a side,
  1/10 for 3, so two seeds cannot show much and three make a weak test."""
  mine = [run[metric] for run in variant['runs'] if run['finished'] and run[metric] is not None]
  base = [run[metric] for run in baseline['runs'] if run['finished'] and run[metric] is not None]
  if len(mine) < 2 or len(base) < 2:
    return None
  chance = (2 * math.factorial(len(mine)) * math.factorial(len(base))
            / math.factorial(len(mine) + len(base)))
  return {'overlap': max(mine) >= min(base) and max(base) >= min(mine),
          'chance_without_effect': chance}


def _mean_std(values):
  values = [v for v in values if v is not None]
  if not values:
    return None, None, 0
  std = statistics.stdev(values) if len(values) > 1 else 0.0
  return statistics.fmean(values), std, len(values)


def _read_runs(variant_dir: str, target: float) -> list:
  """summarize_run of each `seed<k>` run directory of a variant, with its seed."""
  runs = []
  if os.path.isdir(variant_dir):
    for name in sorted(os.listdir(variant_dir)):
      match = SEED_DIR.match(name)
      run_dir = os.path.join(variant_dir, name)
      if match and os.path.exists(os.path.join(run_dir, run_files.METRICS)):
        run = run_summary.summarize_run(run_dir, target)
        run['seed'] = int(match.group(1))
        runs.append(run)
  return runs


def _metrics(runs_of: dict) -> tuple:
  """METRICS, and OVERFITTING_METRICS where a finished run of the sweep has them."""
  finished = [run for runs in runs_of.values() for run in runs if run['finished']]
  return METRICS + tuple(metric for metric in OVERFITTING_METRICS
                         if any(run[metric] is not None for run in finished))


def collect(workdir: str, target_train_error=None) -> dict:
  """Reads the sweep description and every run; returns the results.json content.
  `target_train_error` overrides the sweep's own target (e.g. for short runs that
  never get to the paper's 25%)."""
  sweep = run_summary.read_json(os.path.join(workdir, 'ablation.json'))
  if sweep is None:
    raise FileNotFoundError(
        f'{workdir}/ablation.json not found: not an ablation directory (run '
        '`python -m alexnet_jax.main --config=configs/ablate_<name>.py --workdir=DIR` first)')
  target = (sweep.get('target_train_error', 0.25) if target_train_error is None
            else target_train_error)
  runs_of = {variant: _read_runs(os.path.join(workdir, variant), target)
             for variant in sweep['variants']}
  metrics = _metrics(runs_of)
  variants = {}
  for variant, runs in runs_of.items():
    # Statistics cover finished runs only: a run still training (or killed) has
    # numbers from the middle of its schedule.
    finished = [run for run in runs if run['finished']]
    stats = {}
    for metric in metrics:
      mean, std, n = _mean_std([run[metric] for run in finished])
      stats[metric] = {'mean': mean, 'std': std, 'n': n}
    variants[variant] = {'runs': runs, 'stats': stats,
                         'finished_runs': len(finished),
                         'unfinished_runs': len(runs) - len(finished),
                         'target': _target_summary(finished)}
  baseline = sweep['baseline']
  claims = sweep.get('paper_claims', {})
  for name, variant in variants.items():
    differences = {}
    for metric in metrics:
      mine = variant['stats'][metric]['mean']
      base = variants[baseline]['stats'][metric]['mean']
      differences[metric] = None if mine is None or base is None else mine - base
    variant['difference_to_baseline'] = differences
    mine = variant['stats']['epochs_to_target']['mean']
    base = variants[baseline]['stats']['epochs_to_target']['mean']
    # Figure 1's claim is a ratio of epochs; only meaningful when every run got there.
    complete = (variant['target']['reached'] == variant['finished_runs'] > 0 and
                variants[baseline]['target']['reached'] == variants[baseline]['finished_runs'] > 0)
    variant['epochs_to_target_ratio'] = mine / base if complete and base else None
    mine_i = variant['stats']['epochs_to_target_interpolated']['mean']
    base_i = variants[baseline]['stats']['epochs_to_target_interpolated']['mean']
    variant['epochs_to_target_interpolated_ratio'] = (
        mine_i / base_i if complete and base_i else None)
    # Its spread: the ratio over every (variant seed, baseline seed) pair.
    for key in ('epochs_to_target', 'epochs_to_target_interpolated'):
      pairs = [run[key] / other[key]
               for run in variant['runs'] if run['finished']
               for other in variants[baseline]['runs'] if other['finished']
               if run[key] and other[key]] if complete else []
      variant[f'{key}_ratio_range'] = [min(pairs), max(pairs)] if pairs else None
    variant['paper_claim'] = claims.get(name)
    variant['seed_ranges_overlap'] = {
        metric: _seed_ranges_overlap(variant, variants[baseline], metric)
        for metric in ('test_top1_error', 'test_top1_error_ten_views', 'overfitting_gap')
        if metric in metrics}
  return {'ablation': sweep.get('name'), 'dataset': sweep.get('dataset'),
          'baseline': baseline, 'target_train_error': target, 'seeds': sweep.get('seeds'),
          'variants': variants}


def finished_test_curves(results) -> list:
  """(variant, run) for each finished run that evaluated during training."""
  return [(name, run) for name, variant in results['variants'].items()
          for run in variant['runs'] if run['finished'] and run.get('test_curve')]
