"""Copies the small files of a sweep's finished runs into the repository.

    python -m experiments.collect_runs SWEEP_DIR experiments/results/cifar10_paper/<exp>/runs

For every `SWEEP_DIR/<variant>/seed<k>/` whose run.json says finished, copies
config.json, metrics.jsonl, run.json, eval.json and eval_ten_views.json (those
present), plus SWEEP_DIR/ablation.json: what `python -m alexnet_jax.report` needs to
rebuild the tables and plots, and what the ablation runner's `committed_runs`
reads to skip a run. Never checkpoints or TensorBoard events.
"""

import json
import os
import shutil
import sys

SMALL_FILES = ('config.json', 'metrics.jsonl', 'run.json', 'eval.json', 'eval_ten_views.json')


def collect(sweep_dir: str, dest_dir: str) -> list:
  copied = []
  for variant in sorted(os.listdir(sweep_dir)):
    variant_dir = os.path.join(sweep_dir, variant)
    if not os.path.isdir(variant_dir):
      continue
    for seed in sorted(os.listdir(variant_dir)):
      run_dir = os.path.join(variant_dir, seed)
      run_json = os.path.join(run_dir, 'run.json')
      if not os.path.exists(run_json) or not json.load(open(run_json)).get('finished'):
        continue
      target = os.path.join(dest_dir, variant, seed)
      os.makedirs(target, exist_ok=True)
      for name in SMALL_FILES:
        if os.path.exists(os.path.join(run_dir, name)):
          shutil.copy2(os.path.join(run_dir, name), os.path.join(target, name))
      copied.append(f'{variant}/{seed}')
  os.makedirs(dest_dir, exist_ok=True)
  shutil.copy2(os.path.join(sweep_dir, 'ablation.json'), os.path.join(dest_dir, 'ablation.json'))
  return copied


if __name__ == '__main__':
  if len(sys.argv) != 3 or not os.path.exists(os.path.join(sys.argv[1], 'ablation.json')):
    sys.exit('usage: python -m experiments.collect_runs SWEEP_DIR DEST_DIR '
             '(SWEEP_DIR must hold ablation.json)')
  runs = collect(sys.argv[1], sys.argv[2])
  print(f'copied {len(runs)} finished runs to {sys.argv[2]}: {", ".join(runs)}')
