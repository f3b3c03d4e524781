"""Training: the paper's update rule, learning, the NaN guard, and the loop's files."""

import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from alexnet_jax import benchmark, errors, train
from alexnet_jax.devices import parallel
from alexnet_jax.runtime import xla_flags
from alexnet_jax.training import optimizers, schedules, step_functions


def test_paper_update_rule_by_hand():
  """v <- 0.9 v - 0.0005 lr w - lr g; w <- w + v, with a learning-rate change."""
  optimizer = optimizers.create_optimizer(
      type('C', (), dict(name='sgd', learning_rate=0.1, momentum=0.9, weight_decay=5e-4)))
  w = jnp.array([1.0, -2.0])
  state = optimizer.init(w)
  grads = [jnp.array([0.5, 0.25]), jnp.array([-1.0, 2.0]), jnp.array([0.3, 0.0])]
  rates = [0.1, 0.1, 0.01]
  w_ref, v_ref = np.array([1.0, -2.0]), np.zeros(2)
  for g, lr in zip(grads, rates):
    state.hyperparams['learning_rate'] = jnp.asarray(lr)
    updates, state = optimizer.update(g, state, w)
    w = optax.apply_updates(w, updates)
    v_ref = 0.9 * v_ref - 0.0005 * lr * w_ref - lr * np.asarray(g)
    w_ref = w_ref + v_ref
  np.testing.assert_allclose(w, w_ref, rtol=1e-6)


@pytest.mark.parametrize('name', ['sgd', 'adam'])
def test_apply_optimizer_is_the_optimizers_update(name):
  """The vmap arrangement of the update changes how XLA fuses it, not the result."""
  optimizer = optimizers.create_optimizer(
      type('C', (), dict(name=name, learning_rate=0.1, momentum=0.9, weight_decay=5e-4)))
  rng = np.random.default_rng(0)
  params = {'w': jnp.asarray(rng.normal(size=(7, 5)), jnp.float32), 'b': jnp.ones(5)}
  grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), params)
  opt_state = optimizer.init(params)
  for _ in range(2):  # the second step has a non-zero momentum
    updates, expected_state = optimizer.update(grads, opt_state, params)
    expected = optax.apply_updates(params, updates)
    params, opt_state = jax.jit(
        lambda g, o, p: step_functions.apply_optimizer(optimizer, g, o, p))(grads, opt_state, params)
    for got, want in zip(jax.tree.leaves((params, opt_state)),
                         jax.tree.leaves((expected, expected_state))):
      np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(not xla_flags.all_known(),
                    reason="this jaxlib's XLA does not know the copy-insertion flag")
def test_training_step_updates_parameters_without_copying_them():
  """The compiled step of the small net writes the new parameters and momentum in
  place: no parameter-sized buffer is copied. Without step_functions.apply_optimizer and
  xla_flags' region analysis it copied 39 of them (jax 0.10.2)."""
  from alexnet_jax.config import default
  config = default.get_config()
  config.benchmark.batch_size = 8
  placement = parallel.Placement(parallel.layout_from_config(config))
  compiled = step_functions.CompiledSteps(config, placement)
  state, batch, rng, rate = benchmark.random_step_inputs(config, placement, compiled)
  hlo = compiled.train_step.lower(state, batch, rng, rate).compile().as_text()
  parameter_shapes = {','.join(map(str, p.shape)) for p in jax.tree.leaves(state.params)
                      if p.size > 1000}
  copied = re.findall(r'= f32\[([0-9,]+)\]\{[^}]*\} copy\(', hlo)
  assert parameter_shapes
  assert '--xla_cpu_copy_insertion_use_region_analysis=true' in os.environ['XLA_FLAGS']
  assert [shape for shape in copied if shape in parameter_shapes] == []


def test_top1_and_top5_errors_match_lax_top_k_ties_included():
  rng = np.random.default_rng(0)
  logits = jnp.asarray(np.round(rng.normal(size=(64, 20)) * 2) / 2 + 0.0, jnp.float32)  # ties; no -0.0
  labels = jnp.asarray(rng.integers(0, 20, size=64))
  top5 = jax.lax.top_k(logits, 5)[1]
  metrics = step_functions.classification_metrics(logits, labels)
  assert float(metrics['top1_errors']) == float(jnp.sum(top5[:, 0] != labels))
  assert float(metrics['top5_errors']) == float(jnp.sum(~jnp.any(top5 == labels[:, None], -1)))
  assert 0 < float(metrics['top5_errors']) < float(metrics['top1_errors']) < 64


def test_a_nan_logit_for_the_label_counts_as_an_error():
  logits = jnp.zeros((2, 10)).at[0, 3].set(jnp.nan)
  metrics = step_functions.classification_metrics(logits, jnp.array([3, 0]))
  assert float(metrics['top1_errors']) == 1.0 and float(metrics['top5_errors']) == 1.0


def test_loss_goes_down(tiny_config, tmp_path):
  tiny_config.num_train_steps = 40
  tiny_config.eval_every_steps = 40
  train.train_and_evaluate(tiny_config, str(tmp_path))
  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  losses = [r['loss'] for r in records if r['split'] == 'train']
  assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3])
  final = [r for r in records if r['split'] == 'eval'][-1]
  assert final['top1_error'] < 0.5 and final['num_examples'] == 37


def test_loop_writes_its_files(tiny_config, tmp_path):
  train.train_and_evaluate(tiny_config, str(tmp_path))
  config = json.loads((tmp_path / 'config.json').read_text())
  assert config['data']['name'] == 'tiny_quadrants'
  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  train_steps = [r['step'] for r in records if r['split'] == 'train']
  assert train_steps == [2, 4, 6, 8, 10, 12]
  assert [r['step'] for r in records if r['split'] == 'eval'] == [6, 12]
  for record in records:
    assert {'loss', 'top1_error', 'top5_error', 'epoch'} <= set(record)
  assert all('learning_rate' in r and 'images_per_s' in r for r in records
             if r['split'] == 'train')
  assert sorted(p.name for p in (tmp_path / 'checkpoints').iterdir()
                if p.name.isdigit()) == ['12', '6', '9']
  assert any((tmp_path / 'tensorboard').iterdir())


def _records(workdir, split):
  lines = (workdir / 'metrics.jsonl').read_text().splitlines()
  return [r for r in map(json.loads, lines) if r['split'] == split]


def test_epoch_means_are_logged_and_a_missed_target_trains_on(tiny_config, tmp_path):
  tiny_config.num_train_steps = 36  # 3 epochs of 12 steps (200 images, batch 16)
  tiny_config.stop_at_train_error = 1e-9  # active, never reached
  train.train_and_evaluate(tiny_config, str(tmp_path))
  epochs = _records(tmp_path, 'train_epoch')
  assert [(r['epoch'], r['step']) for r in epochs] == [(1, 12), (2, 24), (3, 36)]
  windows = _records(tmp_path, 'train')  # the epoch mean is the mean of its windows
  first = [r['top1_error'] for r in windows if r['step'] <= 12]
  assert epochs[0]['top1_error'] == pytest.approx(np.mean(first))
  assert max(r['step'] for r in windows) == 36


def test_stop_at_train_error_ends_the_run_and_a_rerun_trains_no_further(tiny_config, tmp_path):
  tiny_config.num_train_steps = 60
  tiny_config.stop_at_train_error = 0.99  # any first epoch of a 4-class task is below
  train.train_and_evaluate(tiny_config, str(tmp_path))
  assert max(r['step'] for r in _records(tmp_path, 'train')) == 12
  assert [r['step'] for r in _records(tmp_path, 'eval')] == [6, 12]
  checkpoints = sorted(int(p.name) for p in (tmp_path / 'checkpoints').iterdir()
                       if p.name.isdigit())
  assert max(checkpoints) == 12
  before = (tmp_path / 'metrics.jsonl').read_text()
  train.train_and_evaluate(tiny_config, str(tmp_path))  # resumes a stopped run
  after = _records(tmp_path, 'train')
  assert max(r['step'] for r in after) == 12
  assert (tmp_path / 'metrics.jsonl').read_text().startswith(before)


def test_non_finite_loss_stops_with_the_step(tiny_config, tmp_path):
  tiny_config.optimizer.learning_rate = 1e12
  tiny_config.checkpoint.every_steps = 1
  with pytest.raises(errors.NonFiniteLossError, match=r'at step \d+') as error:
    train.train_and_evaluate(tiny_config, str(tmp_path))
  bad_step = int(str(error.value).split('at step ')[1].split(';')[0])
  steps = [int(p.name) for p in (tmp_path / 'checkpoints').iterdir() if p.name.isdigit()]
  assert steps and max(steps) < bad_step


@pytest.mark.parametrize('name,expected', [
    ('constant', [0.1, 0.1, 0.1]),
    ('step', [0.1, 0.01, 0.001]),
    ('cosine', [0.1, 0.05, 0.0]),
])
def test_schedules(tiny_config, name, expected):
  tiny_config.optimizer.learning_rate = 0.1
  tiny_config.schedule.name = name
  schedule = schedules.LearningRateSchedule(tiny_config, 100)
  np.testing.assert_allclose([schedule(0), schedule(50), schedule(100)], expected, atol=1e-9)


def test_plateau_divides_by_ten_at_most_three_times(tiny_config):
  tiny_config.optimizer.learning_rate = 0.01
  tiny_config.schedule.name = 'plateau'
  tiny_config.schedule.patience = 1
  schedule = schedules.LearningRateSchedule(tiny_config, 100)
  assert schedule.observe(0.5) is True
  rates = []
  for _ in range(5):
    schedule.observe(0.6)
    rates.append(schedule(0))
  np.testing.assert_allclose(rates, [1e-3, 1e-4, 1e-5, 1e-5, 1e-5])
