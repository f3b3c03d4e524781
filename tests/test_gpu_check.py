"""experiments/gpu_check.py, the GPU check, in a tiny setting on the CPU: it runs as one
command, writes its JSON and Markdown, measures every JAX path, and its JAX part imports
neither TensorFlow nor TFDS (the GPU machine has neither)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_check_runs_and_reports(tmp_path):
  done = subprocess.run(
      [sys.executable, '-m', 'experiments.gpu_check', f'--out={tmp_path}', '--nets=cc_18pct',
       '--batch_size=8', '--paper_batches=', '--steps_per_dispatch=2', '--examples=64',
       '--torch_modes=', '--min_time=0.05'],
      cwd=ROOT, capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  report = json.loads((tmp_path / 'gpu_check.json').read_text())
  assert report['environment']['jax_part_imported'] == []
  assert report['environment']['imported_at_end'] == [] and report['complete'] is True
  paths = {row['path']: row for row in report['rows']}
  assert set(paths) == {'jax_step', 'jax_host_fed', 'jax_on_device_k1', 'jax_on_device_k2'}
  for row in paths.values():
    assert row['images_per_s'] > 0 and row['calls'] >= 3 and row['flops_per_image'] > 0
  table = (tmp_path / 'gpu_check.md').read_text()
  assert '| cc_18pct | 8 | jax_on_device_k2 |' in table and 'Partial' not in table


def test_a_partial_report_says_so(tmp_path):
  """What is written after each group before the last: complete false, and the table says
  it is partial."""
  import argparse
  from experiments import gpu_check
  rows = [{'net': 'cc_18pct', 'batch': 8, 'path': 'jax_step', 'images_per_s': 100.0,
           'calls': 3},
          {'net': 'cc_18pct', 'batch': 8, 'path': 'torch_eager', 'images_per_s': 50.0,
           'calls': 3}]
  gpu_check.write_report(str(tmp_path), gpu_check.environment(), rows,
                         argparse.Namespace(out=str(tmp_path), nets='cc_18pct'), [],
                         complete=False)
  report = json.loads((tmp_path / 'gpu_check.json').read_text())
  assert report['complete'] is False and report['best_torch'] == {'cc_18pct/8': 50.0}
  table = (tmp_path / 'gpu_check.md').read_text()
  assert 'Partial' in table and '| cc_18pct | 8 | jax_step | 100 | 2.00 |' in table


def test_gpu_check_refuses_an_unknown_net(tmp_path):
  done = subprocess.run([sys.executable, '-m', 'experiments.gpu_check', f'--out={tmp_path}',
                         '--nets=cc_99pct'], cwd=ROOT, capture_output=True, text=True,
                        timeout=300)
  assert done.returncode == 2
  assert done.stderr.strip().splitlines() == [
      "gpu_check: unknown net 'cc_99pct'; choose from cc_11pct, cc_13pct, cc_18pct"]
  assert not (tmp_path / 'gpu_check.json').exists()
