"""One run's numbers, read from the files in its directory (`metrics.jsonl`, `eval.json`,
`run.json`, `machines.jsonl` and, where written, `eval_ten_views.json`, `eval_train.json`
and `conv1_kernels.json`), so that a report can be rebuilt from runs made on other
machines."""

import json
import math
import os
import statistics

from alexnet_jax.training import run_files


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


def read_json(path):
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def summarize_run(run_dir: str, target_train_error: float) -> dict:
  """The numbers of one run, from its metrics.jsonl (and eval.json, run.json)."""
  records = read_jsonl(os.path.join(run_dir, run_files.METRICS))
  train = sorted((r for r in records if r.get('split') == 'train'), key=lambda r: r['step'])
  evals = sorted((r for r in records if r.get('split') == 'eval'), key=lambda r: r['step'])
  final_eval = read_json(os.path.join(run_dir, 'eval.json')) or (evals[-1] if evals else {})
  run_info = read_json(os.path.join(run_dir, 'run.json')) or {}
  ten_views = read_json(os.path.join(run_dir, 'eval_ten_views.json')) or {}
  on_train = read_json(os.path.join(run_dir, run_files.TRAIN_EVAL)) or {}
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
  kernels = read_json(os.path.join(run_dir, run_files.KERNELS)) or {}
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
