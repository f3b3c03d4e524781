"""A non-editable install stands on its own: `alexnet_jax.load` and
`python -m alexnet_jax.main` work from another directory with only the installed
package (nothing from the repository's configs/ or tests/ on the path)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import alexnet_jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, 'tests', 'data', 'golden_run')


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
  """The package installed (a wheel built from a copy of the source, no deps) into a
  folder of its own, and the environment that puts only that folder on the path."""
  source = tmp_path_factory.mktemp('source')
  for name in ('pyproject.toml', 'README.md'):
    shutil.copy(os.path.join(ROOT, name), source)
  shutil.copytree(os.path.join(ROOT, 'alexnet_jax'), source / 'alexnet_jax',
                  ignore=shutil.ignore_patterns('__pycache__'))
  target = tmp_path_factory.mktemp('site')
  done = subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
                         '--no-build-isolation', '--no-index', f'--target={target}',
                         str(source)], capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  env = {**os.environ, 'PYTHONPATH': str(target)}
  return str(target), env


def test_load_works_from_the_installed_package(installed, tmp_path):
  target, env = installed
  run = str(tmp_path / 'golden_run')
  shutil.copytree(GOLDEN, run, ignore=shutil.ignore_patterns('expected.json'))
  code = ('import json, sys, numpy as np, alexnet_jax\n'
          'net = alexnet_jax.load(sys.argv[1])\n'
          'x = np.linspace(-1, 1, np.prod(net.input_shape), dtype=np.float32)\n'
          'print(json.dumps({"file": alexnet_jax.__file__, "step": net.step,\n'
          '  "logits": net.logits(x.reshape(1, *net.input_shape)).tolist()}))\n')
  done = subprocess.run([sys.executable, '-c', code, run], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  result = json.loads(done.stdout.strip().splitlines()[-1])
  assert result['file'].startswith(target)
  net = alexnet_jax.load(run)  # the same network, loaded from the repository
  x = np.linspace(-1, 1, np.prod(net.input_shape), dtype=np.float32)
  assert result['step'] == net.step
  np.testing.assert_allclose(result['logits'], net.logits(x.reshape(1, *net.input_shape)),
                             rtol=1e-5, atol=1e-5)


def test_main_runs_a_config_file_from_another_directory(installed, tmp_path):
  _, env = installed
  done = subprocess.run(
      [sys.executable, '-m', 'alexnet_jax.main',
       f'--config={ROOT}/configs/ablate_lrn.py:cuda_convnet', '--mode=summary',
       f'--workdir={tmp_path / "summary"}'],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  with open(tmp_path / 'summary' / 'summary.json') as f:
    assert json.load(f)['total_params'] == 2_112_970  # r541's 11pct net
