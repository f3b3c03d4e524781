"""The PyTorch comparison runs end to end at a tiny size (the real run is by hand)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_tiny_comparison_writes_json_and_table(tmp_path):
  done = subprocess.run([sys.executable, '-m', 'experiments.benchmark_vs_torch', '--tiny',
                         f'--out={tmp_path}'],
                        cwd=ROOT, capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  report = json.load(open(tmp_path / 'benchmark_vs_torch.json'))
  assert report['gemm']['gflops_per_s'] > 0
  (batch,) = report['batches']
  assert batch['batch_size'] == 2
  frameworks = batch['frameworks']
  jax_result = frameworks['alexnet_jax']
  for key in ('forward', 'train_step'):
    assert jax_result[key]['images_per_s'] > 0
    assert 0 < jax_result[key]['fraction_of_gemm_peak']
  try:
    import torch  # noqa: F401
    assert frameworks['torch eager']['train_step']['images_per_s'] > 0
  except ImportError:
    assert set(frameworks) == {'alexnet_jax'}
  import jax
  import jaxlib
  software = report['software']
  assert (software['jax'], software['jaxlib']) == (jax.__version__, jaxlib.__version__)
  from alexnet_jax.runtime import xla_flags
  applied = xla_flags.all_known()
  assert software['xla_cpu_settings_applied'] is applied
  assert all((f'{flag}={value}' in software['xla_flags']) is applied
             for flag, value in xla_flags.SETTINGS.items())
  table = open(tmp_path / 'benchmark_vs_torch.md').read()
  assert '| 2 | alexnet_jax |' in table
  assert f'jax {jax.__version__} (jaxlib {jaxlib.__version__})' in table
