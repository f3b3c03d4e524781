"""Chooses Figure 1's learning rate per activation from the rate search's run files.

    python -m experiments.figure1_rates experiments/results/cifar10_paper/figure1/lr_search/runs

The paper's criterion: the rate that reaches 25% training error in the fewest
epochs. When no run of an activation gets there within the search's epochs, the
rate with the lowest training error over the last epoch (the mean of its logged
intervals, steadier than the last interval alone). Training error only: the test
set takes no part in the choice. Prints a table and writes rates.json next to the
runs folder.
"""

import json
import os
import re
import statistics
import sys

from alexnet_jax.reporting import run_summary

VARIANT = re.compile(r'^(?P<activation>[a-z]+)_lr(?P<rate>[0-9p]+)$')


def summarize(runs_dir: str, target: float = 0.25) -> dict:
  rows = []
  for variant in sorted(os.listdir(runs_dir)):
    match = VARIANT.match(variant)
    if not match:
      continue
    for seed in sorted(os.listdir(os.path.join(runs_dir, variant))):
      run_info = os.path.join(runs_dir, variant, seed, 'run.json')
      if not os.path.exists(run_info) or not json.load(open(run_info)).get('finished'):
        continue  # an unfinished run would be compared over fewer epochs
      records = run_summary.read_jsonl(os.path.join(runs_dir, variant, seed, 'metrics.jsonl'))
      train = [r for r in records if r.get('split') == 'train']
      last_epoch = train[-1]['epoch']
      reached = next((r['epoch'] for r in train if r['top1_error'] <= target), None)
      rows.append({'activation': match['activation'],
                   'learning_rate': float(match['rate'].replace('p', '.')),
                   'seed': seed, 'epochs': last_epoch, 'epochs_to_target': reached,
                   'last_epoch_train_error': statistics.fmean(
                       r['top1_error'] for r in train if r['epoch'] > last_epoch - 1)})
  chosen = {}
  for activation in sorted({row['activation'] for row in rows}):
    mine = [row for row in rows if row['activation'] == activation]
    reached = [row for row in mine if row['epochs_to_target'] is not None]
    best = (min(reached, key=lambda row: row['epochs_to_target']) if reached
            else min(mine, key=lambda row: row['last_epoch_train_error']))
    chosen[activation] = {'learning_rate': best['learning_rate'],
                          'by': 'epochs to target' if reached else 'last-epoch training error'}
  return {'target_train_error': target, 'runs': rows, 'chosen': chosen}


if __name__ == '__main__':
  if len(sys.argv) != 2:
    sys.exit('usage: python -m experiments.figure1_rates RUNS_DIR')
  result = summarize(sys.argv[1])
  print(f"{'activation':<11}{'rate':>8}{'epochs':>8}{'to 25%':>8}{'last-epoch train err':>22}")
  for row in result['runs']:
    to_target = row['epochs_to_target']
    print(f"{row['activation']:<11}{row['learning_rate']:>8g}{row['epochs']:>8.1f}"
          f"{'-' if to_target is None else f'{to_target:.2f}':>8}"
          f"{row['last_epoch_train_error']:>22.2%}")
  print('chosen:', ', '.join(f"{a} {c['learning_rate']:g} ({c['by']})"
                             for a, c in result['chosen'].items()))
  path = os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), 'rates.json')
  with open(path, 'w') as f:
    json.dump(result, f, indent=2)
  print(f'wrote {path}')
