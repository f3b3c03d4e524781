"""`python -m alexnet_jax.ensemble`: the members' class probabilities averaged per example."""

import json
import os

import numpy as np
import pytest

import alexnet_jax
from alexnet_jax import ensemble, errors, evaluate
from alexnet_jax.training import restore
from conftest import make_tiny_config, tiny_arrays


@pytest.fixture(scope='module')
def two_runs(tiny_data_dir, tmp_path_factory):
  """Two tiny runs that differ only in their seed."""
  from alexnet_jax import train
  runs = []
  for seed in (0, 1):
    config = make_tiny_config(tiny_data_dir)
    config.seed = seed
    workdir = str(tmp_path_factory.mktemp(f'ensemble_seed{seed}'))
    runs.append((workdir, train.train_and_evaluate(config, workdir)))
  return runs


def _run(paths, out, *flags):
  code = ensemble.main([*paths, f'--out={out}', *flags])
  return code, (json.loads(out.read_text()) if out.exists() else None)


def test_the_ensemble_is_the_mean_of_its_members_probabilities(two_runs, tmp_path):
  code, record = _run([w for w, _ in two_runs], tmp_path / 'ensemble.json')
  assert code == 0
  for member, (_, trained) in zip(record['members'], two_runs):
    assert member['top1_error'] == pytest.approx(trained['top1_error'])
    assert member['num_examples'] == 37
  images, labels = tiny_arrays(37, 1)  # the tiny dataset's test split
  probabilities = []
  for workdir, _ in two_runs:  # the same prediction through the library API
    net = alexnet_jax.load(workdir)
    logits = np.asarray(net.logits(net.preprocess(images)), np.float64)
    probabilities.append(np.exp(logits - logits.max(1, keepdims=True)))
    probabilities[-1] /= probabilities[-1].sum(1, keepdims=True)
  mean = np.mean(probabilities, axis=0)
  assert record['ensemble']['top1_error'] == pytest.approx(np.mean(mean.argmax(1) != labels))
  assert record['ensemble']['loss'] == pytest.approx(
      -np.mean(np.log(mean[np.arange(37), labels])), rel=1e-4)
  assert record['member_mean']['top1_error'] == pytest.approx(
      np.mean([m['top1_error'] for m in record['members']]))


def test_one_member_on_ten_views_is_its_ten_view_evaluation(two_runs, tmp_path):
  workdir, _ = two_runs[0]
  code, record = _run([workdir], tmp_path / 'one.json', '--ten_views')
  assert code == 0 and record['views'] == 10
  config = restore.trained_run(workdir)[0]
  config.data.ten_views = True
  evaluated = evaluate.run(config, workdir, filename='eval_ten_views_check.json')
  for scores in (record['members'][0], record['ensemble']):
    assert scores['top1_error'] == pytest.approx(evaluated['top1_error'])
    assert scores['loss'] == pytest.approx(evaluated['loss'], rel=1e-5)


def test_members_on_different_classes_are_refused_before_any_evaluation(two_runs,
                                                                        monkeypatch):
  trained_run = restore.trained_run

  def other_classes(path):
    config, *rest = trained_run(path)
    if path == two_runs[1][0]:
      config.model.num_classes = 5
    return (config, *rest)

  monkeypatch.setattr(restore, 'trained_run', other_classes)
  with pytest.raises(errors.ConfigError, match='model.num_classes differs'):
    ensemble.load_members([w for w, _ in two_runs], ten_views=False)


def test_members_evaluate_in_batches_of_one_size(two_runs, monkeypatch):
  """A member trained with another eval batch size still lines up, batch for batch."""
  trained_run = restore.trained_run

  def other_batch_size(path):
    config, *rest = trained_run(path)
    config.eval_batch_size = 7 if path == two_runs[1][0] else config.eval_batch_size
    return (config, *rest)

  monkeypatch.setattr(restore, 'trained_run', other_batch_size)
  members = ensemble.load_members([w for w, _ in two_runs], ten_views=False)
  assert members[1][1].eval_batch_size == members[0][1].eval_batch_size == 10


def test_members_whose_labels_differ_are_refused(two_runs, monkeypatch):
  batches = ensemble._member_batches
  calls = []

  def shuffled(config, params):
    calls.append(1)
    for labels, mask, logits, probs in batches(config, params):
      yield (labels[::-1] if len(calls) == 2 else labels), mask, logits, probs

  monkeypatch.setattr(ensemble, '_member_batches', shuffled)
  members = ensemble.load_members([w for w, _ in two_runs], ten_views=False)
  with pytest.raises(errors.UserError, match='evaluates other examples'):
    ensemble.evaluate(members)


@pytest.mark.parametrize('arguments, phrase', [
    ([], 'expected at least one run directory'),
    (['RUN', '--out=result.txt'], 'expected a .json file'),
    (['RUN', '--out=missing/result.json'], 'expected a .json file in an existing directory'),
    (['not_a_run', '--out=result.json'], 'not a run directory'),
])
def test_bad_input_is_one_line_and_nothing_written(arguments, phrase, two_runs, tmp_path,
                                                   monkeypatch, capsys):
  monkeypatch.chdir(tmp_path)
  (tmp_path / 'not_a_run').mkdir()
  arguments = [two_runs[0][0] if a == 'RUN' else a for a in arguments]
  if not any(a.startswith('--out') for a in arguments):
    arguments.append('--out=result.json')
  assert ensemble.main(arguments) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ') and phrase in lines[0], lines
  assert sorted(os.listdir(tmp_path)) == ['not_a_run']
