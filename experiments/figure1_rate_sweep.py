"""Figure 1's ratio against the learning rate: epochs to 25% training error per
activation and rate, and the tanh/ReLU ratios that the choice of rates alone produces.

    python -m experiments.figure1_rate_sweep \
        experiments/results/cifar10_paper/figure1/rate_sweep/runs \
        experiments/results/cifar10_paper/figure1/seeds/runs \
        --out=experiments/results/cifar10_paper/figure1/rate_sweep

Every RUNS_DIR holds `<variant>/seed<k>/` run files (`configs/ablate_activation.py`'s
`cuda_convnet_rate_sweep` and `cuda_convnet` presets, both stopped at the first epoch
whose mean training error is at most 25%, at most 40 epochs). Activation and rate are
read from each run's config.json (`model.activation`, `model.tanh_a`, `model.tanh_b`,
`optimizer.learning_rate`), so the chosen-rate runs of the `seeds` folder (variants
`relu` and `tanh`) join the sweep; only seed 0 of each (activation, rate) is used, the
sweep's one seed (where two folders hold one, the longer-trained run). A run that stopped at its epoch limit without reaching 25% gives a
lower bound (`>= 40`). Training error only: the test set takes no part.

Writes `rate_sweep.json`, `rate_sweep.md` and `epochs_vs_rate.png` into --out.
"""

import argparse
import itertools
import json
import os

from alexnet_jax.reporting import run_summary

TARGET = 0.25


def neuron(config: dict) -> str:
  """relu, tanh (a = b = 1) or scaled_tanh (LeCun's 1.7159 tanh(2x/3)), from a run config."""
  model = config['model']
  if model['activation'] == 'relu':
    return 'relu'
  a, b = model.get('tanh_a', 1.0), model.get('tanh_b', 1.0)
  if (a, b) == (1.0, 1.0):
    return 'tanh'
  if abs(a - 1.7159) < 1e-9 and abs(b - 2 / 3) < 1e-9:
    return 'scaled_tanh'
  return f'tanh[{a:g},{b:g}]'


def collect(runs_dirs) -> list:
  """One row per (activation, rate): seed 0's finished run."""
  rows = {}
  for runs_dir in runs_dirs:
    for variant in sorted(os.listdir(runs_dir)):
      run_dir = os.path.join(runs_dir, variant, 'seed0')
      if not os.path.isdir(run_dir):
        continue
      summary = run_summary.summarize_run(run_dir, TARGET)
      if not summary['finished']:
        continue  # an unfinished run has not had its chance to reach the target
      with open(os.path.join(run_dir, 'config.json')) as f:
        config = json.load(f)
      key = (neuron(config), config['optimizer']['learning_rate'])
      if key in rows and rows[key]['epochs_trained'] >= summary['epochs_trained']:
        continue  # the same (activation, rate) trained longer in another folder
      reached = summary['epochs_to_target']
      rows[key] = {
          'activation': key[0], 'learning_rate': key[1], 'run': os.path.relpath(run_dir),
          'epochs_to_target': reached,
          'epochs_to_target_interpolated': summary['epochs_to_target_interpolated'],
          'epochs_trained': round(summary['epochs_trained']),
          # Not reached: at least the epochs trained (a lower bound).
          'epochs_at_least': reached if reached is not None else round(summary['epochs_trained']),
          'last_train_error': summary['train_curve'][-1][1] if summary['train_curve'] else None,
      }
  return sorted(rows.values(), key=lambda r: (r['activation'], r['learning_rate']))


def ratios(rows) -> dict:
  """For each tanh kind against ReLU: the ratio at each one's fastest rate, and the
  range over every pair of rates (a lower-bounded tanh run makes its ratios lower
  bounds, a lower-bounded ReLU run upper bounds; such pairs are kept out of the range)."""
  relu = [r for r in rows if r['activation'] == 'relu']
  out = {}
  for kind in sorted({r['activation'] for r in rows} - {'relu'}):
    tanh = [r for r in rows if r['activation'] == kind]
    pairs = [(t, r) for t, r in itertools.product(tanh, relu)
             if t['epochs_to_target'] is not None and r['epochs_to_target'] is not None]
    if not pairs:
      continue
    values = [(t['epochs_to_target'] / r['epochs_to_target'], t, r) for t, r in pairs]
    low, high = min(values, key=lambda v: v[0]), max(values, key=lambda v: v[0])
    best_t = min((t for t, _ in pairs), key=lambda t: (t['epochs_to_target'],
                                                       t['epochs_to_target_interpolated']))
    best_r = min((r for _, r in pairs), key=lambda r: (r['epochs_to_target'],
                                                       r['epochs_to_target_interpolated']))
    censored = [t for t in tanh if t['epochs_to_target'] is None]
    out[kind] = {
        'at_fastest_rates': best_t['epochs_to_target'] / best_r['epochs_to_target'],
        'fastest_rates': {kind: best_t['learning_rate'], 'relu': best_r['learning_rate']},
        'min': low[0], 'min_rates': {kind: low[1]['learning_rate'], 'relu': low[2]['learning_rate']},
        'max': high[0], 'max_rates': {kind: high[1]['learning_rate'], 'relu': high[2]['learning_rate']},
        'max_with_unreached': max(
            [high[0]] + [t['epochs_at_least'] / min(r['epochs_to_target'] for _, r in pairs)
                         for t in censored]),
        'unreached_rates': [t['learning_rate'] for t in censored],
    }
  return out


def markdown(rows, ratio) -> str:
  lines = ['| activation | rate (epsW) | epochs to 25% training error | interpolated | '
           'epochs trained | training error, last epoch |', '|---|---|---|---|---|---|']
  for r in rows:
    reached = (f"{r['epochs_to_target']}" if r['epochs_to_target'] is not None
               else f">= {r['epochs_trained']} (not reached)")
    interpolated = ('' if r['epochs_to_target_interpolated'] is None
                    else f"{r['epochs_to_target_interpolated']:.2f}")
    last = '' if r['last_train_error'] is None else f"{100 * r['last_train_error']:.2f}%"
    lines.append(f"| {r['activation']} | {r['learning_rate']:g} | {reached} | {interpolated} | "
                 f"{r['epochs_trained']} | {last} |")
  lines += ['', '| ratio to ReLU | at each one\'s fastest rate | lowest (rates) | highest (rates) |',
            '|---|---|---|---|']
  for kind, v in ratio.items():
    low = ', '.join(f'{k} {x:g}' for k, x in v['min_rates'].items())
    high = ', '.join(f'{k} {x:g}' for k, x in v['max_rates'].items())
    extra = (f"; >= {v['max_with_unreached']:.1f} with the unreached rate(s) "
             f"{', '.join(f'{x:g}' for x in v['unreached_rates'])}"
             if v['unreached_rates'] else '')
    lines.append(f"| {kind} / relu | {v['at_fastest_rates']:.2f} | {v['min']:.2f} ({low}) | "
                 f"{v['max']:.2f} ({high}){extra} |")
  return '\n'.join(lines) + '\n'


def plot(rows, path):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  for kind in sorted({r['activation'] for r in rows}):
    mine = [r for r in rows if r['activation'] == kind]
    line, = ax.plot([r['learning_rate'] for r in mine], [r['epochs_at_least'] for r in mine],
                    marker='o', label=kind)
    unreached = [r for r in mine if r['epochs_to_target'] is None]
    if unreached:
      ax.plot([r['learning_rate'] for r in unreached], [r['epochs_at_least'] for r in unreached],
              marker='^', markersize=10, linestyle='', color=line.get_color(),
              markerfacecolor='none')
  ax.set_xscale('log')
  ax.set_ylim(bottom=0)
  ax.set_xlabel('learning rate (epsW)')
  ax.set_ylabel('epochs to 25% training error')
  ax.set_title('Figure 1 on cc_13pct: epochs to 25% vs rate\n(open triangle: not reached, a lower bound)')
  ax.grid(True, which='both', alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('runs_dirs', nargs='+', help='folders of <variant>/seed<k>/ run files')
  parser.add_argument('--out', required=True, help='folder for the table, JSON and plot')
  args = parser.parse_args(argv)
  for runs_dir in args.runs_dirs:
    if not os.path.isdir(runs_dir):
      parser.exit(2, f'error: {runs_dir} is not a folder of runs\n')
  rows = collect(args.runs_dirs)
  if not rows:
    parser.exit(1, f'error: no finished runs in {", ".join(args.runs_dirs)}\n')
  ratio = ratios(rows)
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, 'rate_sweep.json'), 'w') as f:
    json.dump({'target_train_error': TARGET, 'runs': rows, 'ratios': ratio}, f, indent=2)
  table = markdown(rows, ratio)
  with open(os.path.join(args.out, 'rate_sweep.md'), 'w') as f:
    f.write(table)
  plot(rows, os.path.join(args.out, 'epochs_vs_rate.png'))
  print(table)


if __name__ == '__main__':
  main()
