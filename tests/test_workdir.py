"""A workdir is never lost: each fault a user can cause (a changed config, a second
process, a full disk, a bad command line) gives one line, a non-zero exit, no
traceback, and leaves every checkpoint of the previous run as it was, byte for byte."""

import contextlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from alexnet_jax import errors, train
from alexnet_jax.training import workdir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, cwd=ROOT):
  return subprocess.run([sys.executable, '-m', 'alexnet_jax.main', *args], cwd=cwd,
                        capture_output=True, text=True, timeout=300)


def tiny_flags(config):
  """The tiny config as command-line overrides of configs/default.py."""
  flat = {'data.name': config.data.name, 'data.data_dir': config.data.data_dir,
          'data.image_size': config.data.image_size, 'data.channels': config.data.channels,
          'data.crop_padding': config.data.crop_padding, 'data.flip': config.data.flip,
          'model.num_classes': config.model.num_classes,
          'model.width_multiplier': config.model.width_multiplier,
          'model.dropout_rate': config.model.dropout_rate, 'batch_size': config.batch_size,
          'eval_batch_size': config.eval_batch_size,
          'num_train_steps': config.num_train_steps, 'log_every_steps': 2,
          'eval_every_steps': config.eval_every_steps,
          'checkpoint.every_steps': config.checkpoint.every_steps,
          'optimizer.name': config.optimizer.name,
          'optimizer.learning_rate': config.optimizer.learning_rate}
  return ['--config=configs/default.py', *(f'--config.{k}={v}' for k, v in flat.items())]


def snapshot(directory):
  """{relative path: bytes} of every file under `directory` except the lock and the log."""
  files = {}
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, directory)
      if rel not in (workdir.LOCK, workdir.LOG):
        with open(path, 'rb') as f:
          files[rel] = f.read()
  return files


def checkpoint_files(directory):
  return {k: v for k, v in snapshot(directory).items() if k.startswith('checkpoints')}


def assert_one_line_error(result, *fragments):
  assert result.returncode != 0
  lines = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
  assert len(lines) == 1, result.stderr[-3000:]
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  output = result.stdout + result.stderr
  assert 'Traceback' not in output and 'never retrieved' not in output, output[-3000:]


@pytest.fixture(scope='module')
def trained_once(tiny_data_dir, tmp_path_factory):
  from conftest import make_tiny_config
  run = tmp_path_factory.mktemp('trained') / 'run'
  config = make_tiny_config(tiny_data_dir)
  config.checkpoint.async_save = False
  train.train_and_evaluate(config, str(run))
  return run


@pytest.fixture
def trained(trained_once, tiny_config, tmp_path):
  """(config, a copy of a finished 12-step tiny run): one training for the module."""
  run = tmp_path / 'run'
  shutil.copytree(trained_once, run)
  tiny_config.checkpoint.async_save = False
  return tiny_config, run


def test_changed_config_is_refused_and_nothing_is_lost(trained):
  config, run = trained
  before = snapshot(run)
  result = cli(*tiny_flags(config), f'--workdir={run}', '--config.model.width_multiplier=0.5',
               '--config.seed=3')
  assert_one_line_error(result, 'model.width_multiplier: 0.25 -> 0.5', 'seed: 0 -> 3',
                        '--config.resume=restart')
  assert snapshot(run) == before


def test_fields_that_may_change_resume(trained, capsys):
  config, run = trained
  config.num_train_steps = 14
  config.log_every_steps = 1
  config.checkpoint.keep = 5
  record = train.train_and_evaluate(config, str(run))
  assert record['step'] == 14
  assert 'resuming from step 12' in capsys.readouterr().out


def test_restart_moves_the_previous_run_aside(trained, capsys):
  config, run = trained
  before = snapshot(run)
  config.model.width_multiplier = 0.5
  config.resume = 'restart'
  train.train_and_evaluate(config, str(run))
  (moved,) = (run / workdir.PREVIOUS_RUNS).iterdir()
  assert snapshot(moved) == before
  assert f'previous run moved to {moved}' in capsys.readouterr().out
  assert json.loads((run / 'config.json').read_text())['model']['width_multiplier'] == 0.5


def test_a_checkpoint_of_another_model_is_refused_not_deleted(trained):
  """Without config.json to compare, the checkpoint's shapes tell another model apart
  from a damaged checkpoint."""
  config, run = trained
  os.rename(run / 'config.json', run / 'config.json.old')
  for meta in run.glob('checkpoints*/*/meta/metadata'):  # as written by an older version
    meta.write_text(json.dumps({'step': int(meta.parent.parent.name)}))
  before = checkpoint_files(run)
  config.model.width_multiplier = 0.5
  with pytest.raises(errors.CheckpointMismatchError, match='holds parameters of another'):
    train.train_and_evaluate(config, str(run))
  assert checkpoint_files(run) == before


def test_second_process_is_refused(trained):
  config, run = trained
  before = snapshot(run)
  with workdir.Lock(str(run)):
    result = cli(*tiny_flags(config), f'--workdir={run}', '--config.num_train_steps=14')
  assert_one_line_error(result, f'another process is training in {run}', f'pid {os.getpid()}')
  assert snapshot(run) == before


def test_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
  (tmp_path / workdir.LOCK).write_text('host elsewhere pid 99999999\n')
  with workdir.Lock(str(tmp_path)):
    assert f'pid {os.getpid()}' in (tmp_path / workdir.LOCK).read_text()
  assert 'taking over the lock' in capsys.readouterr().out
  assert (tmp_path / workdir.LOCK).read_text() == ''  # released cleanly


def test_read_only_modes_do_not_take_the_lock(trained):
  config, run = trained
  with workdir.Lock(str(run)):
    result = cli(*tiny_flags(config), f'--workdir={run}', '--mode=eval')
  assert result.returncode == 0, result.stderr[-3000:]


@contextlib.contextmanager
def small_filesystem(path, size):
  """A tmpfs of `size` at `path` (root only; skips elsewhere)."""
  path.mkdir()
  mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(path)],
                           capture_output=True)
  if mounted.returncode != 0:
    pytest.skip('cannot mount a small filesystem here (not root)')
  try:
    yield path
  finally:
    subprocess.run(['umount', '-l', str(path)], check=True)


def fill(directory, leave_bytes):
  free = os.statvfs(directory)
  with open(os.path.join(directory, 'filler'), 'wb') as f:
    f.write(b'\0' * max(0, free.f_bavail * free.f_frsize - leave_bytes))


def test_full_disk_is_one_line_and_keeps_the_checkpoints(trained, tmp_path):
  config, trained_run = trained
  with small_filesystem(tmp_path / 'disk', '24m') as disk:
    run = disk / 'run'
    shutil.copytree(trained_run, run)
    before = checkpoint_files(run)
    for leave_bytes, fragment in [
        (0, f'{run}/config.json: No space left on device'),  # the first write fails
        (256 << 10, f'could not write a checkpoint in {run}/checkpoints (No space left on '
                    'device)')]:  # room for the small files, not for a checkpoint
      fill(disk, leave_bytes)
      result = cli(*tiny_flags(config), f'--workdir={run}', '--config.num_train_steps=24')
      assert_one_line_error(result, fragment, f'the last good checkpoint is {run}/checkpoints/12')
      after = checkpoint_files(run)
      assert {k: v for k, v in after.items() if k in before} == before
      assert sorted(p.name for p in (run / 'checkpoints').iterdir() if p.name.isdigit()) == [
          '12', '6', '9']  # nothing half-written is taken for a checkpoint
      assert not [p for p in os.listdir(run) if p.endswith('.tmp')]
      os.remove(disk / 'filler')
    result = cli(*tiny_flags(config), f'--workdir={run}', '--mode=eval')
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize('args,fragment', [
    (['--config=configs/default.py', '--config.model.nonexistent=1'],
     '--config.model.nonexistent: no such config field'),
    (['--config=configs/default.py', '--config.seed=1', '--config.num_steps=5'],
     '--config.num_steps: no such config field'),  # absl names --config.seed
    (['--config=configs/nope.py'], "no such config file 'configs/nope.py'"),
    (['--config=configs/ablate_lrn.py:svhn'], "unknown preset 'svhn'"),
    (['--config=configs/run.py:/nonexistent/run'], 'not a run directory (no config.json'),
    (['--config=configs/default.py', '--config.model.lrn_n=4'], 'lrn_n=4 is even'),
    (['--config=configs/default.py', '--config.resume=maybe'], "config.resume='maybe'"),
    (['--config=configs/default.py', '--mode=fly'], '--mode=fly'),
])
def test_command_line_errors_are_one_line(tmp_path, args, fragment):
  result = cli('--mode=summary', *args, f'--workdir={tmp_path / "run"}')
  assert_one_line_error(result, fragment)
  assert not (tmp_path / 'run').exists()


def test_unknown_split_is_refused_before_training(tiny_config, tmp_path):
  result = cli(*tiny_flags(tiny_config), f'--workdir={tmp_path / "run"}',
               '--config.data.train_split=bogus')
  assert_one_line_error(result, "config.data.train_split='bogus' is not a split of "
                        'tiny_quadrants', 'test, train')
  assert not (tmp_path / 'run').exists()


def test_differences_ignore_the_fields_that_may_change():
  stored = {'seed': 0, 'num_train_steps': 10, 'model': {'lrn': True, 'conv_chunk': 0},
            'checkpoint': {'keep': 3}, 'data': {'data_dir': None, 'name': 'x'}}
  current = {'seed': 0, 'num_train_steps': 20, 'model': {'lrn': False, 'conv_chunk': 8},
             'checkpoint': {'keep': 5}, 'data': {'data_dir': '/d', 'name': 'x'},
             'new_field': 1}
  assert workdir.differences(stored, current) == [
      ('model.lrn', True, False), ('new_field', '<absent>', 1)]


def test_a_field_added_since_the_run_resumes_at_its_default():
  stored = {'seed': 0, 'optimizer': {'name': 'sgd'}}
  current = {'seed': 0, 'optimizer': {'name': 'sgd', 'layer_weight_decay': True},
             'init_from': ''}
  assert workdir.differences(stored, current) == []
  current['init_from'] = '/some/run'
  assert workdir.differences(stored, current) == [('init_from', '<absent>', '/some/run')]


def test_default_workdir():
  assert workdir.default_for('configs/ablate_lrn.py') == os.path.join('runs', 'ablate_lrn')
  assert workdir.default_for('configs/default.py:paper') == os.path.join('runs', 'default_paper')
  # configs/run.py:DIR reads a run directory's own config: its default workdir is DIR.
  assert workdir.default_for('configs/run.py:/sweep/no_lrn/seed1') == '/sweep/no_lrn/seed1'
  assert workdir.default_for('configs/run.py:./seed0') == './seed0'
