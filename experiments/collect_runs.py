"""Copies the small files of a sweep's finished runs into the repository.

    python -m experiments.collect_runs SWEEP_DIR experiments/results/cifar10_paper/<exp>/runs

For every `SWEEP_DIR/<variant>/seed<k>/` whose run.json says finished, copies
config.json, metrics.jsonl, machines.jsonl, run.json, eval.json, eval_ten_views.json,
eval_train.json and `--mode=kernels`' conv1_kernels.{json,png} (those present), plus
SWEEP_DIR/ablation.json: what `python -m alexnet_jax.report` needs to rebuild the tables and
plots, and what the ablation runner's `committed_runs` reads to skip a run. Never checkpoints
or TensorBoard events.

A run.json written before its `earlier_processes_s` field existed (the ablation
runner before 2026-12-05) counted only the process that finished the run in
`wall_time_s`; for a run resumed from a checkpoint, the copy adds the earlier
processes' time from the run's TensorBoard event files (each file's last event time
minus its first, every file but the newest) and records it as `earlier_processes_s`,
as the runner does now. The sweep's own run.json is left as it is.
"""

import json
import os
import shutil
import sys

from alexnet_jax.runtime import results_io
from alexnet_jax.training import metric_writers

SMALL_FILES = ('config.json', 'metrics.jsonl', 'machines.jsonl', 'run.json', 'eval.json',
               'eval_ten_views.json', 'eval_train.json', 'conv1_kernels.json',
               'conv1_kernels.png')


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
      _count_earlier_processes(run_dir, os.path.join(target, 'run.json'))
      copied.append(f'{variant}/{seed}')
  os.makedirs(dest_dir, exist_ok=True)
  shutil.copy2(os.path.join(sweep_dir, 'ablation.json'), os.path.join(dest_dir, 'ablation.json'))
  return copied


def _count_earlier_processes(run_dir: str, copied_run_json: str):
  info = json.load(open(copied_run_json))
  if 'earlier_processes_s' in info:
    return
  spans = metric_writers.process_spans(run_dir)
  info['earlier_processes_s'] = sum(last - first for first, last in spans[:-1])
  info['wall_time_s'] += info['earlier_processes_s']
  results_io.write_json_atomic(copied_run_json, info)


if __name__ == '__main__':
  if len(sys.argv) != 3 or not os.path.exists(os.path.join(sys.argv[1], 'ablation.json')):
    sys.exit('usage: python -m experiments.collect_runs SWEEP_DIR DEST_DIR '
             '(SWEEP_DIR must hold ablation.json)')
  runs = collect(sys.argv[1], sys.argv[2])
  print(f'copied {len(runs)} finished runs to {sys.argv[2]}: {", ".join(runs)}')
