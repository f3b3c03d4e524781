"""Ablation report, built only from the files of the run directories.

    python -m alexnet_jax.report DIR [--out=OUT_DIR] [--target_train_error=0.4]

reads `DIR/<variant>/seed<k>/{metrics.jsonl,eval.json,run.json,machines.jsonl}` and,
where the ablation wrote them, `eval_ten_views.json` and `eval_train.json` (written by
the training loop and the ablation runner, possibly yesterday on other machines)
and `DIR/ablation.json` (the sweep: variants, baseline, the paper's claims),
and writes `DIR/results.{md,csv,json}` and the plots `DIR/train_error.png`,
`DIR/test_error.png` (where matplotlib is installed; a line says when it is not).

Per variant, over seeds: mean +/- std of the final training loss and training error
(the last epoch's mean over its batches, as logged), the test
top-1/top-5 error, the epochs and steps to reach the target training error
(the paper's Figure 1 uses 25% on CIFAR-10), wall time and images/s; and the
difference of each to the baseline, with the paper's claimed difference beside it;
how far each variant overfits (test error minus the error on training images evaluated
alike); conv1's colour statistics per column (Figure 3) for the runs that
`--mode=kernels` measured (`conv1_kernels.json`); the machines the runs trained on (runs
from before machines.jsonl have none); and per run, the training error of every k-th epoch
(with the seeds' mean) and the test error at each evaluation.
"""

import csv
import json
import math
import os
import re
import statistics
import sys

from absl import flags

from alexnet_jax.runtime import cli, optional, results_io
from alexnet_jax.training import run_files

FLAGS = flags.FlagValues()
flags.DEFINE_string('out', None, 'write the report here (default: the sweep directory)',
                    flag_values=FLAGS)
flags.DEFINE_float('target_train_error', None, "training error for the epochs-to-target "
                   "column (default: the sweep's)", flag_values=FLAGS)
flags.register_validator('target_train_error', lambda value: value is None or 0 < value < 1,
                         message='must be in (0, 1)', flag_values=FLAGS)
USAGE = 'usage: python -m alexnet_jax.report ABLATION_DIR [--out=DIR] [--target_train_error=E]'

SEED_DIR = re.compile(r'^seed(\d+)$')
METRICS = ('final_train_loss', 'final_train_top1_error', 'test_top1_error', 'test_top5_error',
           'test_top1_error_ten_views', 'epochs_to_target', 'epochs_to_target_interpolated',
           'steps_to_target', 'wall_time_s', 'images_per_s')
# From eval_train.json (ablations since it was written): in a sweep's statistics and
# tables only when one of its runs has it, so that older sweeps' reports are unchanged.
OVERFITTING_METRICS = ('train_top1_error_eval', 'overfitting_gap')


def read_jsonl(path):
  """Lines of a JSONL file; a torn last line (a run killed mid-write) is ignored."""
  records = []
  with open(path) as f:
    for line in f:
      line = line.strip()
      if not line:
        continue
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:
        continue
  return records


def _read_json(path):
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def summarize_run(run_dir: str, target_train_error: float) -> dict:
  """The numbers of one run, from its metrics.jsonl (and eval.json, run.json)."""
  records = read_jsonl(os.path.join(run_dir, run_files.METRICS))
  train = sorted((r for r in records if r.get('split') == 'train'), key=lambda r: r['step'])
  evals = sorted((r for r in records if r.get('split') == 'eval'), key=lambda r: r['step'])
  final_eval = _read_json(os.path.join(run_dir, 'eval.json')) or (evals[-1] if evals else {})
  run_info = _read_json(os.path.join(run_dir, 'run.json')) or {}
  ten_views = _read_json(os.path.join(run_dir, 'eval_ten_views.json')) or {}
  on_train = _read_json(os.path.join(run_dir, run_files.TRAIN_EVAL)) or {}
  train_error, test_error = on_train.get('top1_error'), final_eval.get('top1_error')
  # Epoch means (split 'train_epoch') are Figure 1's quantity; older runs have only
  # the log-interval windows, each a noisier estimate that crosses the target earlier.
  epochs = sorted((r for r in records if r.get('split') == 'train_epoch'), key=lambda r: r['step'])
  curve = epochs or train
  # The last epoch's mean over its (augmented) batches: what the paper's claims about
  # training error (Figure 1, weight decay in section 5) are about, as the net trained.
  final_train_error = curve[-1].get('top1_error') if curve else None
  index = next((i for i, r in enumerate(curve)
                if r.get('top1_error', math.inf) <= target_train_error), None)
  reached = None if index is None else curve[index]
  rates = [r['images_per_s'] for r in train if r.get('images_per_s')]
  machines_path = os.path.join(run_dir, run_files.MACHINES)
  machines = read_jsonl(machines_path) if os.path.exists(machines_path) else []
  kernels = _read_json(os.path.join(run_dir, run_files.KERNELS)) or {}
  return {
      'run_dir': run_dir,
      'finished': bool(run_info.get('finished', False)),
      'final_train_loss': train[-1].get('loss') if train else None,
      'final_train_top1_error': final_train_error,
      'test_top1_error': test_error,
      'test_top5_error': final_eval.get('top5_error'),
      'test_top1_error_ten_views': ten_views.get('top1_error'),  # the multiview test
      # The same net and preprocessing on training images: test minus train is overfitting.
      'train_top1_error_eval': train_error,
      'train_eval_examples': on_train.get('num_examples'),
      'overfitting_gap': (None if train_error is None or test_error is None
                          else test_error - train_error),
      'epochs_to_target': reached.get('epoch') if reached else None,
      'epochs_to_target_interpolated': _crossing(curve, index, target_train_error),
      'steps_to_target': reached['step'] if reached else None,
      'epochs_trained': train[-1].get('epoch') if train else None,
      'wall_time_s': run_info.get('wall_time_s'),
      'images_per_s': statistics.median(rates) if rates else None,
      'train_curve': [(r.get('epoch', r['step']), r.get('top1_error')) for r in curve],
      'train_curve_per_epoch': bool(epochs),
      'test_curve': [(r.get('epoch', r['step']), r.get('top1_error')) for r in evals],
      'machines': sorted({machine_label(m) for m in machines}),
      # --mode=kernels on the run's checkpoint (Figure 3), where it was run.
      'conv1_kernels': ({key: kernels[key] for key in ('step', 'columns', 'column_difference')}
                        if kernels.get('columns') else None),
  }


def machine_label(record) -> str:
  """'Intel(R) Xeon(R) Processor, 2 cores, jax 0.10.2' (or the accelerators, for a
  GPU or TPU run) from one machines.jsonl record."""
  if record.get('backend', 'cpu') == 'cpu':
    where = f"{record.get('cpu', '?')}, {record.get('cpu_count', '?')} cores"
  else:
    where = f"{record.get('devices', '?')} x {', '.join(record.get('device_kinds', ['?']))}"
  return f"{where}, jax {record.get('packages', {}).get('jax', '?')}"


def _crossing(curve, index, target):
  """Where the training-error curve crosses `target`, linear between the last point
  above it and the first at or below it: finer than whole epochs, so that runs that
  reach the target in the same epoch still differ. None if it never does."""
  if index is None:
    return None
  here = curve[index]
  if index == 0:
    return here.get('epoch')
  before = curve[index - 1]
  drop = before['top1_error'] - here['top1_error']
  fraction = (before['top1_error'] - target) / drop if drop > 0 else 1.0
  return before['epoch'] + fraction * (here['epoch'] - before['epoch'])


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


def _fmt_target(variant) -> str:
  target, stat = variant['target'], variant['stats']['epochs_to_target']
  if not target['runs']:
    return 'n/a'
  if not target['reached']:
    return f"> {target['not_reached_within_epochs']:.1f} (0/{target['runs']} reached)"
  text = _fmt(stat)
  if target['reached'] < target['runs']:
    text += (f" ({target['reached']}/{target['runs']} reached; the others "
             f"> {target['not_reached_within_epochs']:.1f})")
  ratio = variant.get('epochs_to_target_ratio')
  return text + (f' (x{ratio:.2f})' if ratio is not None else '')


def _fmt_count(variant) -> str:
  unfinished = variant.get('unfinished_runs', 0)
  return f"{variant['finished_runs']}" + (f' (+{unfinished} unfinished)' if unfinished else '')


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
        run = summarize_run(run_dir, target)
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
  sweep = _read_json(os.path.join(workdir, 'ablation.json'))
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


def _fmt(stat, scale=1.0, digits=2):
  if stat['mean'] is None:
    return 'n/a'
  if stat.get('n', 2) < 2:  # one run has no spread; "± 0.00" would claim one
    return f"{stat['mean'] * scale:.{digits}f}"
  return f"{stat['mean'] * scale:.{digits}f} ± {stat['std'] * scale:.{digits}f}"


def _fmt_diff(value, scale=1.0, digits=2):
  return 'n/a' if value is None else f'{value * scale:+.{digits}f}'


def markdown_table(results: dict) -> str:
  target = results['target_train_error']
  lines = [
      f"# Ablation `{results['ablation']}` on {results['dataset']}",
      '',
      f"Baseline: `{results['baseline']}`. Mean ± std over seeds (n = finished runs). "
      f"Errors in percent. Epochs to {target:.0%} training error as in the paper's Figure 1 "
      "(mean over the runs that reached it; (xR): ratio to the baseline's).",
      '',
      '| variant | n | final train loss | final train top-1 err | test top-1 err | Δ top-1 '
      f'| paper Δ top-1 | test top-5 err | test top-1 err, 10 views '
      f'| epochs to {target:.0%} train err | wall time (s) | images/s |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for name, variant in results['variants'].items():
    stats, diff = variant['stats'], variant['difference_to_baseline']
    claim = variant.get('paper_claim') or {}
    lines.append(
        f"| {name} | {_fmt_count(variant)} | {_fmt(stats['final_train_loss'], digits=3)} "
        f"| {_fmt(stats['final_train_top1_error'], 100)} "
        f"| {_fmt(stats['test_top1_error'], 100)} | {_fmt_diff(diff['test_top1_error'], 100)} "
        f"| {claim.get('text', '')} | {_fmt(stats['test_top5_error'], 100)} "
        f"| {_fmt(stats['test_top1_error_ten_views'], 100)} "
        f"| {_fmt_target(variant)} | {_fmt(stats['wall_time_s'], digits=0)} "
        f"| {_fmt(stats['images_per_s'], digits=0)} |")
  for name, variant in results['variants'].items():
    spread = variant.get('epochs_to_target_ratio_range')
    if spread and name != results['baseline']:
      lines += ['', f"Epochs to {target:.0%} training error, `{name}` / `{results['baseline']}`: "
                    f"{variant['epochs_to_target_ratio']:.2f} (ratio of the means; "
                    f"{spread[0]:.2f}-{spread[1]:.2f} over all pairs of seeds)."]
      fine = variant.get('epochs_to_target_interpolated_ratio_range')
      if fine:
        ratio = variant['epochs_to_target_interpolated_ratio']
        lines[-1] += f' Interpolated between epochs: {ratio:.2f} ({fine[0]:.2f}-{fine[1]:.2f}).'
  lines += _spread_lines(results)
  lines += _overfitting_lines(results)
  lines += _kernel_lines(results)
  lines += _machine_lines(results)
  lines += ['', '## Per run', '',
            f'| variant | seed | finished | epochs trained | epochs to {target:.0%} train err '
            '| interpolated | test top-1 err | test top-1 err, 10 views |',
            '|---|---|---|---|---|---|---|---|']
  for name, variant in results['variants'].items():
    for run in variant['runs']:
      lines.append(
          f"| {name} | {run['seed']} | {'yes' if run['finished'] else 'no'} "
          f"| {_num(run['epochs_trained'], 1)} | {_num(run['epochs_to_target'], 1)} "
          f"| {_num(run['epochs_to_target_interpolated'], 2)} "
          f"| {_num(run['test_top1_error'], 2, 100)} "
          f"| {_num(run['test_top1_error_ten_views'], 2, 100)} |")
  lines += _train_curve_lines(results)
  lines += _test_curve_lines(results)
  return '\n'.join(lines) + '\n'


def _spread_lines(results) -> list:
  """One line per variant and test measure: the difference to the baseline and
  whether it is beyond the seed spread (the per-seed values do not overlap)."""
  lines = []
  labels = {'test_top1_error': 'test top-1 error', 'test_top1_error_ten_views':
            'test top-1 error, 10 views', 'overfitting_gap':
            'overfitting (test minus training-image top-1 error)'}
  baseline = results['baseline']
  for name, variant in results['variants'].items():
    if name == baseline:
      continue
    for metric, label in labels.items():
      spread = variant.get('seed_ranges_overlap', {}).get(metric)
      diff = variant['difference_to_baseline'].get(metric)
      if spread is None or diff is None:
        continue
      verdict = ('within the seed spread (the per-seed values overlap)' if spread['overlap']
                 else 'beyond the seed spread (the per-seed values do not overlap; without '
                      'any effect that happens with probability '
                      f"{spread['chance_without_effect']:.2f})")
      lines += ['', f'`{name}` minus `{baseline}`, {label}: {diff * 100:+.2f} points, {verdict}.']
  return lines


def _overfitting_lines(results) -> list:
  """The overfitting table: top-1 error on a fixed sample of training images and on
  the test split, both evaluated alike (no dropout, no augmentation), and their gap;
  nothing for sweeps without eval_train.json."""
  variants = results['variants']
  if not any('overfitting_gap' in variant['stats'] for variant in variants.values()):
    return []
  examples = sorted({run['train_eval_examples'] for variant in variants.values()
                     for run in variant['runs'] if run.get('train_eval_examples')})
  lines = ['', '## Overfitting', '',
           f"Top-1 error on {' or '.join(f'{n:,}' for n in examples)} training images "
           '(a fixed sample, the same for every run) evaluated as the test split is: no '
           'dropout, no augmentation. The gap is test minus training error.', '',
           '| variant | n | train top-1 err | test top-1 err | gap | Δ gap |',
           '|---|---|---|---|---|---|']
  for name, variant in variants.items():
    stats = variant['stats']
    lines.append(
        f"| {name} | {stats['overfitting_gap']['n']} "
        f"| {_fmt(stats['train_top1_error_eval'], 100)} | {_fmt(stats['test_top1_error'], 100)} "
        f"| {_fmt(stats['overfitting_gap'], 100)} "
        f"| {_fmt_diff(variant['difference_to_baseline']['overfitting_gap'], 100)} |")
  return lines


def _kernel_lines(results) -> list:
  """Figure 3's table, for the runs whose conv1 kernels `--mode=kernels` measured: each
  column's mean colour fraction (at initialization), how far the kernels moved, and for
  two columns their difference with its permutation p-value; nothing otherwise."""
  measured = [(name, run) for name, variant in results['variants'].items()
              for run in variant['runs'] if run.get('conv1_kernels')]
  if not measured:
    return []
  lines = ['', '## conv1 kernels (Figure 3)', '',
           "`--mode=kernels` on the run's checkpoint: each column's mean colour fraction (0: "
           'grey kernels; random ones about 2/3), at initialization in brackets, how far the '
           'kernels moved (x their initial norm), and column0 minus column1 with the share of '
           'random deals of the kernels to the columns that differ as much (p).', '',
           'Quartiles: the 25th, 50th and 75th percentiles of each column\'s per-kernel '
           'fractions, where the kernel file has them (a colour-agnostic column has all three '
           'near 0).', '',
           '| variant | seed | step | colour fraction per column (initial) | quartiles per column '
           '| moved | column0 - column1 | p |', '|---|---|---|---|---|---|---|---|']
  for name, run in measured:
    kernels = run['conv1_kernels']
    columns = kernels['columns'].values()
    fractions = ' / '.join(
        f"{column['mean_colour_fraction']:.3f}"
        + (f" ({column['initial_mean_colour_fraction']:.3f})"
           if 'initial_mean_colour_fraction' in column else '') for column in columns)
    quartiles = [', '.join(f'{q:.2f}' for q in statistics.quantiles(
                     column['colour_fractions'], n=4, method='inclusive'))
                 if len(column.get('colour_fractions', ())) > 1 else 'n/a'
                 for column in columns]
    spread = ' / '.join(quartiles) if set(quartiles) != {'n/a'} else 'n/a'
    moved = ' / '.join(f"{column['relative_change']:.2f}" for column in columns
                       if 'relative_change' in column) or 'n/a'
    difference = kernels.get('column_difference') or {}
    lines.append(f"| {name} | {run['seed']} | {kernels['step']} | {fractions} | {spread} "
                 f"| {moved} "
                 f"| {_fmt_diff(difference.get('mean_colour_fraction_difference'), digits=3)} "
                 f"| {_num(difference.get('p_value'), 3)} |")
  return lines


def _machine_lines(results) -> list:
  """Which machines trained the runs (a run resumed elsewhere counts for each): the
  same config can round differently on another CPU model. Nothing for sweeps whose runs
  all predate machines.jsonl."""
  runs = [run for variant in results['variants'].values() for run in variant['runs']]
  counts = {}
  for run in runs:
    for label in run.get('machines', []):
      counts[label] = counts.get(label, 0) + 1
  if not counts:
    return []
  parts = [f'{label} ({n} run{"s" if n != 1 else ""})' for label, n in sorted(counts.items())]
  unrecorded = sum(1 for run in runs if not run.get('machines'))
  if unrecorded:
    parts.append(f'not recorded ({unrecorded} run{"s" if unrecorded != 1 else ""})')
  return ['', 'Trained on: ' + '; '.join(parts) + '.']


def _finished_test_curves(results) -> list:
  """(variant, run) for each finished run that evaluated during training."""
  return [(name, run) for name, variant in results['variants'].items()
          for run in variant['runs'] if run['finished'] and run.get('test_curve')]


def _test_curve_lines(results) -> list:
  """Center-crop test error at each evaluation of each finished run: whether the
  curves had flattened when training stopped is part of reading the final numbers."""
  runs = _finished_test_curves(results)
  if not runs:
    return []
  epochs = sorted({round(epoch, 2) for _, run in runs for epoch, _ in run['test_curve']})
  lines = ['', '## Test top-1 error during training (%)', '',
           '| variant | seed | ' + ' | '.join(f'{e:g}' for e in epochs) + ' |',
           '|---|---|' + '---|' * len(epochs)]
  for name, run in runs:
    at = {round(epoch, 2): error for epoch, error in run['test_curve']}
    lines.append(f"| {name} | {run['seed']} | " + ' | '.join(
        _num(at.get(e), 1, 100) if e in at else '' for e in epochs) + ' |')
  return lines


# Column strides for the training-error table: the smallest that gives at most
# TRAIN_CURVE_COLUMNS columns, so that an 80-epoch run shows every 5th epoch.
TRAIN_CURVE_STRIDES = (1, 2, 5, 10, 20, 25, 50, 100)
TRAIN_CURVE_COLUMNS = 16


def _train_curve_lines(results) -> list:
  """Each epoch's mean training error (over the batches it trained on, augmentation
  and dropout included) at every k-th epoch of each finished run, and the mean over a
  variant's seeds: claims about training error (Figure 1, weight decay in section 5)
  are about the whole curve, not only its last point. Runs that logged only
  log-interval windows (before per-epoch means existed) are left out."""
  runs = [(name, run) for name, variant in results['variants'].items()
          for run in variant['runs']
          if run['finished'] and run.get('train_curve_per_epoch') and run.get('train_curve')]
  if not runs:
    return []
  last = max(int(epoch) for _, run in runs for epoch, _ in run['train_curve'])
  stride = next((s for s in TRAIN_CURVE_STRIDES if last // s <= TRAIN_CURVE_COLUMNS),
                TRAIN_CURVE_STRIDES[-1])
  epochs = list(range(stride, last + 1, stride))
  lines = ['', '## Training top-1 error during training (%)', '',
           "Each epoch's mean over the batches it trained on (with the run's augmentation "
           'and dropout), every ' + (f'{stride} epochs' if stride > 1 else 'epoch')
           + '; "mean": over the seeds shown.', '',
           '| variant | seed | ' + ' | '.join(str(e) for e in epochs) + ' |',
           '|---|---|' + '---|' * len(epochs)]
  by_variant = {}
  for name, run in runs:
    by_variant.setdefault(name, []).append(run)
  for name, variant_runs in by_variant.items():
    curves = []
    for run in variant_runs:
      at = {int(epoch): error for epoch, error in run['train_curve'] if epoch == int(epoch)}
      curves.append(at)
      lines.append(f"| {name} | {run['seed']} | " + ' | '.join(
          _num(at.get(e), 2, 100) if e in at else '' for e in epochs) + ' |')
    if len(curves) > 1:
      means = [statistics.mean(c[e] for c in curves) if all(e in c for c in curves) else None
               for e in epochs]
      lines.append(f'| {name} | mean | ' + ' | '.join(
          '' if m is None else _num(m, 2, 100) for m in means) + ' |')
  return lines


def _num(value, digits, scale=1.0):
  return 'n/a' if value is None else f'{value * scale:.{digits}f}'


def write_csv(results: dict, path: str):
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    variants = results['variants']
    metrics = [m for m in METRICS + OVERFITTING_METRICS
               if all(m in variant['stats'] for variant in variants.values())]
    writer.writerow(['variant', 'n'] + [f'{m}_{s}' for m in metrics for s in ('mean', 'std')]
                    + [f'diff_{m}' for m in metrics])
    for name, variant in variants.items():
      writer.writerow([name, variant['finished_runs']]
                      + [variant['stats'][m][s] for m in metrics for s in ('mean', 'std')]
                      + [variant['difference_to_baseline'][m] for m in metrics])


def plot(results: dict, workdir: str):
  """Training error vs epochs (linear, Figure 1 style: a line style per variant, the
  target dashed), test error during training where the runs evaluated as they went,
  and test error bars."""
  import matplotlib  # deferred: only figures need it
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(6, 4))
  for name, variant in results['variants'].items():
    for i, run in enumerate(run for run in variant['runs'] if run['finished']):
      points = [(x, y) for x, y in run['train_curve'] if y is not None and y > 0]
      if points:
        xs, ys = zip(*points)
        order = list(results['variants']).index(name)
        ax.plot(xs, ys, color=f'C{order}', linestyle=('-', '--', ':', '-.')[order % 4],
                alpha=0.8, label=name if i == 0 else None)
  ax.axhline(results['target_train_error'], color='grey', linestyle='--', linewidth=1)
  ax.set_ylim(bottom=0)  # linear, as the paper's Figure 1
  ax.set_xlabel('epochs')
  ax.set_ylabel('training error (top-1)')
  ax.set_title(f"{results['ablation']}: training error")
  if ax.get_legend_handles_labels()[0]:  # runs too short to log a nonzero training error have none
    ax.legend()
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, 'train_error.png'), dpi=120)
  plt.close(fig)

  curves = _finished_test_curves(results)
  if curves:  # test error at each evaluation: has it flattened by the end?
    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(results['variants'])
    labelled = set()
    for name, run in curves:
      points = [(x, y * 100) for x, y in run['test_curve'] if y is not None]
      if not points:
        continue
      xs, ys = zip(*points)
      order = names.index(name)
      ax.plot(xs, ys, color=f'C{order}', linestyle=('-', '--', ':', '-.')[order % 4],
              marker='.', alpha=0.8, label=None if name in labelled else name)
      labelled.add(name)
    ax.set_xlabel('epochs')
    ax.set_ylabel('test top-1 error (%), center crop')
    ax.set_title(f"{results['ablation']}: test error during training")
    if labelled:
      ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(workdir, 'test_curve.png'), dpi=120)
    plt.close(fig)

  fig, ax = plt.subplots(figsize=(6, 4))
  names = list(results['variants'])
  means = [(results['variants'][n]['stats']['test_top1_error']['mean'] or 0) * 100 for n in names]
  stds = [(results['variants'][n]['stats']['test_top1_error']['std'] or 0) * 100 for n in names]
  ax.bar(names, means, yerr=stds, capsize=6, color=[f'C{i}' for i in range(len(names))])
  ax.set_ylabel('test top-1 error (%)')
  ax.set_title(f"{results['ablation']}: test error (mean ± std over seeds)")
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, 'test_error.png'), dpi=120)
  plt.close(fig)


def build(workdir: str, out_dir=None, target_train_error=None) -> dict:
  """Writes results.{json,md,csv} and the plots (into `out_dir`, default the sweep
  directory); returns the results."""
  results = collect(workdir, target_train_error)
  out_dir = out_dir or workdir
  os.makedirs(out_dir, exist_ok=True)
  results_io.write_json_atomic(os.path.join(out_dir, 'results.json'), results)
  table = markdown_table(results)
  results_io.write_text_atomic(os.path.join(out_dir, 'results.md'), table)
  write_csv(results, os.path.join(out_dir, 'results.csv'))
  print(table)
  if optional.installed('matplotlib'):
    plot(results, out_dir)
  else:  # a JAX-only host: the tables are written; `report DIR` draws the plots elsewhere
    print('matplotlib is not installed: no plots (results.md, .csv and .json are written; '
          '`python -m alexnet_jax.report DIR` draws them where it is)', flush=True)
  return results


def main(argv) -> int:
  """`argv`: the arguments after the program name; returns the exit code."""
  args = cli.parse(FLAGS, argv, USAGE)
  if len(args) != 1:
    return cli.usage_error(f'expected one ablation directory; got {" ".join(args) or "none"}')
  try:
    build(args[0], FLAGS.out, FLAGS.target_train_error)
  except FileNotFoundError as error:
    return cli.fail(error)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
