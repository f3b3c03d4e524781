"""The report's tables: `results.md` (the sweep's table, the seed-spread verdicts,
overfitting, Figure 3's kernels, the machines, per-run numbers and the error curves) and
`results.csv` (the statistics, one row per variant)."""

import csv
import io
import statistics

from alexnet_jax.reporting import sweep


def _fmt(stat, scale=1.0, digits=2):
  if stat['mean'] is None:
    return 'n/a'
  if stat.get('n', 2) < 2:  # one run has no spread; "± 0.00" would claim one
    return f"{stat['mean'] * scale:.{digits}f}"
  return f"{stat['mean'] * scale:.{digits}f} ± {stat['std'] * scale:.{digits}f}"


def _fmt_diff(value, scale=1.0, digits=2):
  return 'n/a' if value is None else f'{value * scale:+.{digits}f}'


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


def _test_curve_lines(results) -> list:
  """Center-crop test error at each evaluation of each finished run: whether the
  curves had flattened when training stopped is part of reading the final numbers."""
  runs = sweep.finished_test_curves(results)
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


def csv_text(results: dict) -> str:
  """results.csv: one row per variant, each metric's mean, std and difference to the
  baseline (the metrics every variant has)."""
  buffer = io.StringIO(newline='')
  writer = csv.writer(buffer)
  variants = results['variants']
  metrics = [m for m in sweep.METRICS + sweep.OVERFITTING_METRICS
             if all(m in variant['stats'] for variant in variants.values())]
  writer.writerow(['variant', 'n'] + [f'{m}_{s}' for m in metrics for s in ('mean', 'std')]
                  + [f'diff_{m}' for m in metrics])
  for name, variant in variants.items():
    writer.writerow([name, variant['finished_runs']]
                    + [variant['stats'][m][s] for m in metrics for s in ('mean', 'std')]
                    + [variant['difference_to_baseline'][m] for m in metrics])
  return buffer.getvalue()
