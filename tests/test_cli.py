"""The command line end to end in subprocesses at a tiny size: summary and benchmark modes,
the default workdir, and what the console shows."""

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import TINY_CLASSES, TINY_SIZE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_main(*args):
  """The finished command, its stdout and stderr decoded as they were written: text
  mode would turn each of tqdm's in-place \r redraws into a line break."""
  result = subprocess.run([sys.executable, '-m', 'alexnet_jax.main', *args], cwd=ROOT,
                          capture_output=True, timeout=300)
  result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def test_summary_writes_the_layer_table(tmp_path):
  result = run_main('--config=configs/default.py:paper', f'--workdir={tmp_path}',
                    '--mode=summary')
  summary = json.loads((tmp_path / 'summary.json').read_text())
  assert summary['total_params'] == 60_965_224
  assert [layer['name'] for layer in summary['layers']] == [
      'conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'fc8']
  assert sum(layer['macs'] for layer in summary['layers']) == summary['total_macs']
  assert '60,965,224' in result.stdout


def test_summary_follows_overrides(tmp_path):
  run_main('--config=configs/default.py', f'--workdir={tmp_path}', '--mode=summary',
           '--config.model.columns=1', '--config.model.num_classes=3')
  summary = json.loads((tmp_path / 'summary.json').read_text())
  assert summary['columns'] == 1
  assert summary['layers'][-1]['output_shape'] == [3]


def test_benchmark_writes_timings(tmp_path):
  result = run_main('--config=configs/default.py', f'--workdir={tmp_path}', '--mode=benchmark',
                    '--config.benchmark.batch_size=4', '--config.benchmark.steps=3',
                    '--config.benchmark.warmup_steps=1', '--config.model.width_multiplier=0.25')
  bench = json.loads((tmp_path / 'benchmark.json').read_text())
  for key in ('forward', 'train_step'):
    stats = bench[key]
    assert stats['mean_s'] > 0 and stats['median_s'] > 0 and stats['std_s'] >= 0
    assert stats['images_per_s'] == pytest.approx(4 / stats['mean_s'])
  assert bench['batch_size'] == 4 and bench['image_size'] == 28
  assert bench['dtype'] == 'float32' and bench['devices'] >= 1
  assert bench['gflops_per_s'] > 0
  assert 'images/s' in result.stdout


def test_without_workdir_a_run_goes_to_runs_under_the_current_directory(tmp_path):
  # From another directory and without PYTHONPATH: the config files import only the
  # installed package (alexnet_jax/config), never the repository's configs/.
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  result = subprocess.run(
      [sys.executable, '-m', 'alexnet_jax.main', f'--config={ROOT}/configs/ablate_lrn.py:cifar10',
       '--mode=summary'], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  workdir = os.path.join('runs', 'ablate_lrn_cifar10')
  assert result.stdout.splitlines()[0].split(' | ')[1].startswith(f'workdir {workdir} (default')
  summary = json.loads((tmp_path / workdir / 'summary.json').read_text())
  assert summary['image_shape'] == [32, 32, 3]


def test_a_run_directory_is_its_own_config(tiny_config, tmp_path):
  """configs/run.py:DIR: a run trained with overrides (an ablation's variant, say) is
  evaluated with the config it stored, without repeating them, and the outputs land in
  DIR; a folder that is not a run is refused by name."""
  from alexnet_jax import train
  tiny_config.num_train_steps = 2
  tiny_config.model.columns = 1  # an override the base config does not have
  run_dir = tmp_path / 'variant' / 'seed0'
  train.train_and_evaluate(tiny_config, str(run_dir))
  run_main(f'--config=configs/run.py:{run_dir}', '--mode=eval')
  result = json.loads((run_dir / 'eval.json').read_text())
  assert result['step'] == 2 and 0 <= result['top1_error'] <= 1
  # main turns a config file's ValueError into one line, exit 2 (test_workdir's
  # test_command_line_errors_are_one_line); these are the lines.
  from configs import run
  for preset, message in ((str(tmp_path / 'variant'), 'not a run directory (no config.json'),
                          ('seed0', 'write the run directory as a path (./seed0)'),
                          (None, 'needs a run directory')):
    with pytest.raises(ValueError, match=re.escape(message)):
      run.get_config(preset)


def test_a_short_run_prints_a_few_lines_and_logs_the_rest(tiny_config, tmp_path):
  """Header, progress bar, one line per evaluation, the final table: library logging
  (absl, orbax, TFDS, TensorFlow) goes to DIR/log.txt, not to the console."""
  from test_workdir import tiny_flags
  result = run_main(*tiny_flags(tiny_config), f'--workdir={tmp_path}')
  output = result.stdout + result.stderr
  # What a terminal keeps of each line: tqdm redraws in place with \r, and how often it
  # redraws depends on the machine's speed, so only \n-terminated lines are counted.
  lines = [line.rsplit('\r', 1)[-1] for line in output.split('\n')]
  assert len(lines) < 30, '\n'.join(lines)
  assert lines[0].startswith('configs/default.py (train) | workdir ')
  assert sum(line.startswith('eval step') for line in lines) == 2
  assert not [line for line in lines if 'absl' in line or line[:1] in 'IWE' and line[1:5].isdigit()]
  assert 'orbax' in (tmp_path / 'log.txt').read_text()


def test_verbosity_brings_the_library_logs_back(tmp_path):
  result = run_main('--config=configs/default.py', f'--workdir={tmp_path}', '--mode=summary',
                    '--verbosity=0')
  plain = run_main('--config=configs/default.py', f'--workdir={tmp_path}', '--mode=summary')
  assert len(result.stderr.splitlines()) > len(plain.stderr.splitlines())


@pytest.mark.parametrize('mode, empty_run', [('eval', False), ('kernels', True),
                                             ('export', True)])
def test_read_only_modes_on_a_missing_or_empty_run_write_nothing(tmp_path, tiny_data_dir, mode,
                                                                 empty_run):
  """A mode that reads a trained run says there is none in one line, and leaves the
  filesystem as it was: no workdir created, no log.txt in an existing one."""
  workdir = tmp_path / 'run'
  if empty_run:
    (workdir / 'checkpoints').mkdir(parents=True)
  before = sorted(str(p) for p in tmp_path.rglob('*'))
  done = subprocess.run([sys.executable, '-m', 'alexnet_jax.main', '--config=configs/default.py',
                         f'--mode={mode}', f'--workdir={workdir}',
                         # eval checks its dataset first: one that is always prepared
                         '--config.data.name=tiny_quadrants',
                         f'--config.data.data_dir={tiny_data_dir}',
                         f'--config.data.image_size={TINY_SIZE}', '--config.data.channels=3',
                         f'--config.model.num_classes={TINY_CLASSES}'], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode != 0
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: no checkpoints in'), done.stderr
  assert sorted(str(p) for p in tmp_path.rglob('*')) == before


CLIS = {  # module -> (a command line that is wrong before any work, a phrase of its error)
    'main': (['--config=configs/default.py', '--config.batch_size=0'], 'batch_size'),
    'datasets': (['import-npz', '--name=x'], 'needs --train, --test'),
    'report': (['--target_train_error=0.5'], 'expected one ablation directory'),
    'weights': (['import-torchvision', 'only-src'], 'expected COMMAND SRC DEST_DIR'),
    'ensemble': (['--out=x.json'], 'expected at least one run directory'),
    'neighbours': (['--out=x.json'], 'expected one run directory'),
}


@pytest.mark.parametrize('module', sorted(CLIS))
def test_every_command_line_has_help_and_one_exit_code_rule(module, tmp_path):
  """The package's command lines: `--help` exits 0 and names its flags or usage; a
  usage error is one `error:` line and exit 2 (runtime/cli.py), with nothing written."""
  command = [sys.executable, '-m', f'alexnet_jax.{module}']
  shown = subprocess.run(command + ['--help'], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
  assert shown.returncode == 0, shown.stderr[-2000:]
  assert 'usage' in shown.stdout.lower() or '--config' in shown.stdout
  argv, phrase = CLIS[module]
  failed = subprocess.run(command + argv + ([f'--workdir={tmp_path / "run"}']
                                            if module == 'main' else []),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert failed.returncode == 2
  lines = failed.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ') and phrase in lines[0], lines
  assert not (tmp_path / 'run').exists()


def _cifar_shaped_arrays(folder, count=64):
  import numpy as np
  rng = np.random.default_rng(0)
  folder.mkdir()
  for split in ('train', 'test'):
    np.savez(folder / f'{split}.npz', x=rng.integers(0, 256, (count, 32, 32, 3), np.uint8),
             y=rng.integers(0, 10, count))
  return folder


@pytest.mark.parametrize('mode', ['train', 'ablate'])
@pytest.mark.parametrize('change, phrase', [
    (['--config.steps_per_dispatch=390', '--config.log_every_steps=390'],
     "config.data.on_device='auto' keeps it on the host on this cpu backend"),
    (['--config.data.on_device=True', '--config.data.on_device_max_bytes=1000'],
     'more than config.data.on_device_max_bytes'),
])
def test_device_data_the_backend_refuses_is_one_line_before_any_write(tmp_path, mode, change,
                                                                      phrase):
  """What only the backend can decide (CPU: 'auto' keeps the data on the host) and the
  device-memory limit are refused before the workdir, its log.txt or ablation.json exist."""
  arrays = _cifar_shaped_arrays(tmp_path / 'arrays')
  workdir = tmp_path / 'run'
  done = subprocess.run([sys.executable, '-m', 'alexnet_jax.main',
                         '--config=configs/ablate_lrn.py:cuda_convnet_long', f'--mode={mode}',
                         f'--workdir={workdir}', f'--config.data.arrays_dir={arrays}', *change],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert done.returncode == 2, done.stderr
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and phrase in lines[0], done.stderr
  assert not workdir.exists()
