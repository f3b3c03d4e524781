"""Checkpoints: exact resume after SIGKILL, damaged-checkpoint fallback, evaluation
from a checkpoint equal to the in-training evaluation."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from alexnet_jax import evaluate, train
from alexnet_jax.errors import ConfigError
from alexnet_jax.training import checkpoints, restore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def overrides(config):
  flat = {
      'data.name': config.data.name, 'data.data_dir': config.data.data_dir,
      'data.image_size': config.data.image_size, 'data.channels': config.data.channels,
      'data.crop_padding': config.data.crop_padding,
      'model.num_classes': config.model.num_classes,
      'model.width_multiplier': config.model.width_multiplier,
      'model.dropout_rate': 0.5, 'batch_size': config.batch_size,
      'eval_batch_size': config.eval_batch_size, 'num_train_steps': 30,
      'log_every_steps': 2, 'eval_every_steps': 10, 'checkpoint.every_steps': 2,
      'optimizer.name': config.optimizer.name,
      'optimizer.learning_rate': config.optimizer.learning_rate,
  }
  return [f'--config.{k}={v}' for k, v in flat.items()]


def command(config, workdir, mode='train', extra=()):
  return [sys.executable, '-m', 'alexnet_jax.main', '--config=configs/default.py',
          f'--workdir={workdir}', f'--mode={mode}', *overrides(config), *extra]


def final_params(workdir):
  manager = checkpoints.manager_for(os.path.join(workdir, 'checkpoints'))
  step = max(manager.all_steps())
  import orbax.checkpoint as ocp
  restored = manager.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore()))
  return step, restored['params']


def _last_train_step(workdir):
  path = workdir / 'metrics.jsonl'
  if not path.exists():
    return 0
  steps = [json.loads(line)['step'] for line in path.read_text().splitlines()
           if line.endswith('}') and '"train"' in line]
  return max(steps, default=0)


def _kill_after_step(process, workdir, step, jitter_s):
  """SIGKILLs `process` once its metrics show training past `step` (plus a little
  jitter, so kills land in steps and in checkpoint writes alike). Progress, not a
  fixed delay, decides: a fast machine must not finish the run before the kill.
  Returns whether the process was killed (False if it ended first)."""
  deadline = time.monotonic() + 300
  while process.poll() is None and time.monotonic() < deadline:
    if _last_train_step(workdir) >= step:
      time.sleep(jitter_s)
      break
    time.sleep(0.02)
  if process.poll() is not None:
    return False
  process.send_signal(signal.SIGKILL)
  process.wait()
  return True


@pytest.mark.parametrize('extra, kill_after', [
    ((), (4, 12, 20)),
    # data/device_data.py: batches made inside the step, two steps per dispatch
    (('--config.data.on_device=True', '--config.steps_per_dispatch=2'), (6, 18)),
], ids=['host_fed', 'on_device'])
def test_killed_and_resumed_run_equals_uninterrupted(tiny_config, tmp_path, extra, kill_after):
  reference = tmp_path / 'reference'
  subprocess.run(command(tiny_config, reference, extra=extra), cwd=ROOT, check=True,
                 capture_output=True, timeout=600)
  resumed = tmp_path / 'resumed'
  rng = random.Random(0)
  kills = 0
  for step in kill_after:
    process = subprocess.Popen(command(tiny_config, resumed, extra=extra), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kills += _kill_after_step(process, resumed, step, rng.uniform(0.0, 0.2))
  result = subprocess.run(command(tiny_config, resumed, extra=extra), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  assert kills == len(kill_after)
  step_a, params_a = final_params(reference)
  step_b, params_b = final_params(resumed)
  assert step_a == step_b == 30
  leaves_a, leaves_b = _leaves(params_a), _leaves(params_b)
  assert len(leaves_a) == len(leaves_b) > 0
  for a, b in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  lines = [json.loads(l) for l in (resumed / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in lines if r['split'] == 'train'] == list(range(2, 31, 2))


def _leaves(tree):
  import jax
  return jax.tree.leaves(tree)


@pytest.fixture
def trained(tiny_config, tmp_path):
  tiny_config.checkpoint.async_save = False
  train.train_and_evaluate(tiny_config, str(tmp_path))
  return tiny_config, tmp_path


def test_each_training_process_records_its_machine(trained):
  import jax
  from alexnet_jax.runtime import machine
  config, workdir = trained
  config.num_train_steps = 14
  train.train_and_evaluate(config, str(workdir))  # resumes from step 12
  records = [json.loads(l) for l in (workdir / 'machines.jsonl').read_text().splitlines()]
  assert [r['start_step'] for r in records] == [0, 12]
  assert records[1]['cpu'] == machine.cpu_model() and records[1]['backend'] == 'cpu'
  assert records[1]['packages']['jax'] == jax.__version__
  assert records[1]['devices'] == len(jax.devices())


def test_eval_from_checkpoint_equals_in_training_eval(trained):
  config, workdir = trained
  record = evaluate.run(config, str(workdir))
  lines = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
  in_training = [r for r in lines if r['split'] == 'eval' and r['step'] == 12][0]
  assert record['step'] == 12 and record['num_examples'] == 37
  assert record['top1_error'] == pytest.approx(in_training['top1_error'])
  assert record['top5_error'] == pytest.approx(in_training['top5_error'])
  assert json.loads((workdir / 'eval.json').read_text())['top1_error'] == record['top1_error']


def test_damaged_latest_checkpoint_falls_back(trained, capsys):
  config, workdir = trained
  latest = workdir / 'checkpoints' / '12' / 'params'
  for path in latest.rglob('*'):
    if path.is_file():
      path.write_bytes(b'')  # truncated files
  config.eval.checkpoint = 'latest'
  record = evaluate.run(config, str(workdir))
  assert record['step'] == 9
  assert 'checkpoints/12 is damaged' in capsys.readouterr().out


def test_training_resumes_past_a_damaged_checkpoint(trained, capsys):
  config, workdir = trained
  import shutil
  shutil.rmtree(workdir / 'checkpoints' / '12' / 'opt_state')
  config.num_train_steps = 14
  train.train_and_evaluate(config, str(workdir))
  out = capsys.readouterr().out
  assert 'damaged' in out and 'resuming from step 9' in out
  assert (workdir / 'checkpoints' / '12.damaged' / 'params').is_dir()  # moved, not deleted
  import tensorflow as tf
  events = [(value.tag, event.step) for path in sorted((workdir / 'tensorboard').iterdir())
            for event in tf.compat.v1.train.summary_iterator(str(path))
            for value in event.summary.value]
  assert len(events) == len(set(events)) > 0  # the redone steps are held once


def test_rerunning_a_finished_run_evaluates_it_again(trained):
  """A run whose last checkpoint is its final step has nothing to train; it is
  evaluated, the record is logged, and nothing is trained or lost."""
  config, workdir = trained
  before = (workdir / 'metrics.jsonl').read_text().splitlines()
  record = train.train_and_evaluate(config, str(workdir))
  after = (workdir / 'metrics.jsonl').read_text().splitlines()
  assert record['step'] == 12 and record['split'] == 'eval'
  assert after[:len(before)] == before and json.loads(after[-1]) == record


def test_eval_errors(trained, tmp_path_factory):
  config, workdir = trained
  with pytest.raises(ConfigError, match='no checkpoints'):
    evaluate.run(config, str(tmp_path_factory.mktemp('empty')))
  config.model.activation = 'tanh'
  with pytest.raises(ConfigError, match='config.model.activation'):
    evaluate.run(config, str(workdir))
  config.model.activation = 'relu'
  config.eval.checkpoint = '77'
  with pytest.raises(ConfigError, match='no such step'):
    evaluate.run(config, str(workdir))


def test_eval_reads_a_stored_model_as_create_model_does(small_config):
  """A run stored before a model field existed (absent: its default) or with another
  conv_chunk (how, not what, the network computes) is the same network."""
  from alexnet_jax.training import checkpoints
  stored = checkpoints.config_json(small_config)
  del stored['model']['lrn_across_columns']
  stored['model']['conv_chunk'] = 7
  restore.check_model_config(small_config, {'config': stored})
  stored['model']['activation'] = 'tanh'
  with pytest.raises(ConfigError, match=r"config.model.activation='tanh'"):
    restore.check_model_config(small_config, {'config': stored})
