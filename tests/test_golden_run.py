"""Checkpoints across JAX versions: a run written by the oldest JAX the project supports
(tests/data/golden_run, made by tests/make_golden_run.py with jax 0.10.2) is restored,
evaluated, resumed and exported by whichever JAX this leg has (0.12 on Python 3.13)."""

import json
import os
import shutil

import numpy as np
import pytest

import alexnet_jax
from tests import make_golden_run

from alexnet_jax import errors

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'golden_run')


@pytest.fixture(scope='module')
def expected():
  with open(os.path.join(GOLDEN, 'expected.json')) as f:
    return json.load(f)


@pytest.fixture
def golden_copy(tmp_path):
  """A writable copy: evaluation and resume write into the run directory."""
  path = str(tmp_path / 'golden_run')
  shutil.copytree(GOLDEN, path, ignore=shutil.ignore_patterns('expected.json'))
  return path


def _close(got, want, rtol):
  want = np.asarray(want, np.float32)
  np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())


def test_written_by_the_oldest_supported_jax(expected):
  assert expected['written_by']['jax'] == '0.10.2'


def test_restored_logits_equal_the_stored_ones(expected):
  net = alexnet_jax.load(GOLDEN)
  assert net.step == 3
  _close(net.logits(net.preprocess(make_golden_run.test_images())), expected['logits_step3'],
         rtol=1e-5)


def test_evaluation_gives_the_stored_one(expected, golden_copy, tiny_data_dir):
  from alexnet_jax import evaluate
  record = evaluate.run(make_golden_run.golden_config(tiny_data_dir), golden_copy)
  assert record['step'] == 3
  for key, value in expected['eval_step3'].items():
    assert record[key] == pytest.approx(value), key


def test_resuming_trains_the_missing_step_as_the_writer_did(expected, golden_copy,
                                                            tiny_data_dir, capsys):
  from alexnet_jax import train
  train.train_and_evaluate(make_golden_run.golden_config(tiny_data_dir), golden_copy)
  assert 'resuming from step 3' in capsys.readouterr().out
  net = alexnet_jax.load(golden_copy)
  assert net.step == 4
  # One step of SGD on another JAX: the same batch and update, summed in XLA's order.
  _close(net.logits(net.preprocess(make_golden_run.test_images())), expected['logits_step4'],
         rtol=1e-4)


def test_export_gives_the_stored_logits(expected, tmp_path):
  tf = pytest.importorskip('tensorflow')
  from alexnet_jax import export
  path = export.export(alexnet_jax.load(GOLDEN), str(tmp_path / 'saved_model'))
  out = tf.saved_model.load(path).signatures['serving_default'](
      images=tf.constant(make_golden_run.test_images()))
  _close(out['logits'].numpy(), expected['logits_step3'], rtol=1e-5)


def test_an_unreadable_checkpoint_names_the_versions_that_wrote_and_read_it(
    golden_copy, tiny_data_dir):
  """What a user sees if a JAX version cannot read the checkpoint: one line saying which
  versions wrote and which read it (simulated by damaging the params' data)."""
  from alexnet_jax.training import restore
  params = os.path.join(golden_copy, 'checkpoints', '3', 'params')
  for root, _, files in os.walk(params):
    for name in files:
      if name not in ('_METADATA', 'commit_success.txt', '_sharding'):
        with open(os.path.join(root, name), 'wb') as f:
          f.write(b'not a checkpoint')
  with pytest.raises(errors.ConfigError) as error:
    restore.restore_params(make_golden_run.golden_config(tiny_data_dir), golden_copy)
  message = str(error.value)
  assert '\n' not in message and 'read by jax ' in message
  assert 'written by jax 0.10.2 (orbax-checkpoint ' in message
