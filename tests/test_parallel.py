"""Model and data parallelism give the same network as one device.

The layout checks run `parallel_worker.py` in a subprocess with forced CPU
devices (XLA_FLAGS must be set before JAX is imported).
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from alexnet_jax import errors, train
from alexnet_jax.devices import parallel
from alexnet_jax.models import alexnet
from alexnet_jax.training import optimizers, step_functions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, 'tests', 'parallel_worker.py')


def run_worker(variant, steps, layouts, devices=8):
  env = dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}',
             JAX_PLATFORMS='cpu',
             PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')])))
  done = subprocess.run([sys.executable, WORKER, variant, str(steps), *layouts], env=env,
                        capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  results = [json.loads(line[len('RESULT '):]) for line in done.stdout.splitlines()
             if line.startswith('RESULT ')]
  assert [r['layout'] for r in results] == list(layouts)
  return results


def assert_close(result, steps):
  diff, scale = result['max_abs_diff'], result['max_abs']
  name = result['layout']
  assert result['step'] == steps, name
  assert diff['columns_agree'] == 0.0, name  # both column devices hold the same logits
  assert diff['logits'] <= 1e-5 * max(1.0, scale['logits']), (name, diff)
  assert diff['metrics'] <= 1e-4, (name, diff)
  # The update is a few percent of the weights; this tolerance is far below it.
  assert diff['update'] <= 1e-5 * max(1.0, scale['update']) * steps, (name, diff)
  assert diff['params'] <= 1e-5 * max(1.0, scale['params']) * steps, (name, diff)
  assert diff['opt_state'] <= 1e-5 * steps, (name, diff)


def test_small_variant_equal_on_every_layout_and_backend():
  layouts = ('1x2:pmap', '2x2:pmap', '4x2:pmap', '4x1:pmap',
             '1x2:shard_map', '2x2:shard_map', '4x2:shard_map')
  for result in run_worker('small', 1, layouts):
    assert_close(result, 1)


def test_conv_chunk_equal_on_model_parallel_layouts():
  for result in run_worker('small_chunked', 1, ('1x2:pmap', '2x2:shard_map'), devices=4):
    assert_close(result, 1)


def test_lrn_across_columns_equal_on_model_parallel_layouts():
  for result in run_worker('small_lrn_across', 1, ('1x2:pmap', '1x2:shard_map'), devices=2):
    assert_close(result, 1)


def test_a_removed_exchange_layer_is_equal_on_model_parallel_layouts():
  for result in run_worker('small_no_conv3', 1, ('1x2:pmap', '1x2:shard_map'), devices=2):
    assert_close(result, 1)


def test_paper_variant_equal_on_1x2_2x2_4x2():
  for result in run_worker('paper', 1, ('1x2:pmap', '2x2:pmap', '4x2:shard_map')):
    assert_close(result, 1)


def test_twenty_sgd_steps_match_one_device():
  for result in run_worker('small', 20, ('1x2:pmap', '2x2:pmap', '2x2:shard_map'), devices=4):
    assert_close(result, 20)


# ---------------------------------------------------------------------------
# In-process: tree conversion, layouts, errors.
# ---------------------------------------------------------------------------


@pytest.fixture
def full_state(small_config):
  model = alexnet.create_model(small_config.model)
  params = alexnet.init_params(model, jax.random.key(0), (28, 28, 1))
  return optimizers.create_train_state(params, optimizers.create_optimizer(small_config.optimizer))


def test_column_shares_round_trip_params_and_optimizer_state(full_state):
  shares = [parallel.column_share(full_state, m, 2) for m in range(2)]
  assert set(shares[1].params) == {'column', 'fc8'}
  assert shares[1].params['column']['conv1']['kernel'] is \
      full_state.params['column1']['conv1']['kernel']
  joined = parallel.join_columns(shares)
  assert jax.tree.structure(joined) == jax.tree.structure(full_state)
  for a, b in zip(jax.tree.leaves(joined), jax.tree.leaves(full_state)):
    np.testing.assert_array_equal(a, b)


def test_share_is_about_half_the_model(paper_config):
  model = alexnet.create_model(paper_config.model)
  shapes = jax.eval_shape(lambda: alexnet.init_params(model, jax.random.key(0), (227, 227, 3)))
  share = parallel.column_share(shapes, 0, 2)
  fraction = alexnet.count_params(share) / alexnet.count_params(shapes)
  assert 0.5 < fraction < 0.54  # half of everything, plus the replicated fc8 (4.1M of 61M)


def test_groups_split_devices_into_replicas_and_columns():
  collectives = parallel.Collectives(parallel.Layout(data=3, model=2))
  assert collectives._groups(parallel.MODEL_AXIS) == [[0, 1], [2, 3], [4, 5]]
  assert collectives._groups(parallel.DATA_AXIS) == [[0, 2, 4], [1, 3, 5]]


@pytest.mark.parametrize('key,value,devices,message', [
    ('parallel.model_devices', 3, 4, 'parallel.model_devices'),
    ('parallel.model_devices', 2, 3, 'does not divide'),
    ('parallel.data_devices', 3, 4, 'needs more than'),
    ('batch_size', 129, 4, 'not divisible by the 2 data devices'),
])
def test_bad_layouts_name_the_key(small_config, key, value, devices, message):
  small_config.parallel.model_devices = 2
  section, _, name = key.rpartition('.')
  setattr(small_config[section] if section else small_config, name, value)
  with pytest.raises(errors.ConfigError, match=message):
    parallel.layout_from_config(small_config, devices)


def test_single_device_layout_runs_in_process(small_config, full_state):
  """The 1x1 layout (what this process has) through both backends equals jit."""
  model = alexnet.create_model(small_config.model)
  optimizer = optimizers.create_optimizer(small_config.optimizer)
  batch = {'image': np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype(np.float32),
           'label': np.arange(4)}
  rng = jax.random.key(1)
  expected, _ = jax.jit(step_functions.make_train_step(model, optimizer))(full_state, batch, rng)
  for backend in ('pmap', 'shard_map'):
    placement = parallel.Placement(parallel.Layout(1, 1, backend), jax.devices()[:1])
    step = placement.train_step(step_functions.make_train_step(model, optimizer, collectives=placement.collectives))
    state, metrics = step(placement.put_tree(full_state), placement.put_batch(batch), rng,
                          np.float32(small_config.optimizer.learning_rate))
    got = placement.get_tree(state)
    for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(expected.params)):
      np.testing.assert_allclose(a, b, atol=1e-6)
    assert placement.from_device(metrics)['count'] == 4


# ---------------------------------------------------------------------------
# Training under a layout; a checkpoint written under one restores under another.
# ---------------------------------------------------------------------------

TRAIN_IN_SUBPROCESS = '''
import json, os, sys
import ml_collections
from alexnet_jax import train
config = ml_collections.ConfigDict(json.loads(os.environ['ALEXNET_TEST_CONFIG']))
train.train_and_evaluate(config, sys.argv[1])
'''


def train_with_devices(config, workdir, devices):
  env = dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}',
             JAX_PLATFORMS='cpu', ALEXNET_TEST_CONFIG=config.to_json())
  done = subprocess.run([sys.executable, '-c', TRAIN_IN_SUBPROCESS, str(workdir)], env=env,
                        capture_output=True, text=True, timeout=900,
                        cwd=os.path.dirname(os.path.dirname(__file__)))
  assert done.returncode == 0, done.stderr[-3000:]
  return done.stdout


def final_params(config, workdir):
  from alexnet_jax.training import checkpoints
  model = alexnet.create_model(config.model)
  size = config.data.image_size
  params = alexnet.init_params(model, jax.random.key(0), (size, size, config.data.channels))
  state = optimizers.create_train_state(params, optimizers.create_optimizer(config.optimizer))
  checkpointer = checkpoints.Checkpointer(str(workdir))
  items, meta = checkpointer.restore_latest(checkpoints.abstract(state))
  checkpointer.close()
  return items['params'], meta['step']


def test_checkpoint_of_a_2x2_run_resumes_on_one_device(tiny_config, tmp_path):
  tiny_config.schedule.name = 'constant'
  tiny_config.model.dropout_rate = 0.5  # masks must not depend on the layout either
  tiny_config.num_train_steps = 8
  tiny_config.eval_every_steps = 4
  tiny_config.checkpoint.every_steps = 4
  train.train_and_evaluate(tiny_config, str(tmp_path / 'one_device'))
  expected, _ = final_params(tiny_config, tmp_path / 'one_device')

  split = tiny_config.copy_and_resolve_references()
  split.parallel.model_devices = 2
  split.num_train_steps = 4
  out = train_with_devices(split, tmp_path / 'moved', devices=4)
  assert 'devices: 2x2 (data x model, pmap)' in out
  assert final_params(tiny_config, tmp_path / 'moved')[1] == 4
  out = train.train_and_evaluate(tiny_config, str(tmp_path / 'moved'))  # 1x1, steps 4..8
  got, step = final_params(tiny_config, tmp_path / 'moved')
  assert step == 8
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, atol=2e-5)


TRAIN_ONE_PROCESS = '''
import json, os, sys
import ml_collections
from alexnet_jax import train
from alexnet_jax.devices import distributed
config = ml_collections.ConfigDict(json.loads(os.environ['ALEXNET_TEST_CONFIG']))
config.distributed.process_id = int(sys.argv[2])
distributed.initialize(config)
train.train_and_evaluate(config, sys.argv[1])
'''


def free_port():
  import socket
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_two_processes_match_one_process_with_four_devices(tiny_config, tmp_path):
  """Multi-host for real: two processes on 127.0.0.1 with 2 CPU devices each
  (2 data x 2 model) against one process with 4 devices."""
  tiny_config.schedule.name = 'constant'
  tiny_config.model.dropout_rate = 0.5
  tiny_config.num_train_steps = 4
  tiny_config.eval_every_steps = 4
  tiny_config.checkpoint.every_steps = 4
  tiny_config.parallel.model_devices = 2
  train_with_devices(tiny_config, tmp_path / 'one_process', devices=4)
  expected, _ = final_params(tiny_config, tmp_path / 'one_process')

  tiny_config.distributed.num_processes = 2
  tiny_config.distributed.coordinator_address = f'127.0.0.1:{free_port()}'
  tiny_config.distributed.timeout_s = 120
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2',
             JAX_PLATFORMS='cpu', ALEXNET_TEST_CONFIG=tiny_config.to_json())
  workdir = tmp_path / 'two_processes'
  processes = [subprocess.Popen([sys.executable, '-c', TRAIN_ONE_PROCESS, str(workdir), str(k)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
               for k in range(2)]
  outputs = [p.communicate(timeout=900) for p in processes]
  for process, (out, err) in zip(processes, outputs):
    assert process.returncode == 0, err[-3000:]
  assert 'process 1 of 2: 2 local of 4 devices' in outputs[1][0]
  got, step = final_params(tiny_config, workdir)
  assert step == 4
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, atol=2e-5)
  lines = open(workdir / 'metrics.jsonl').read().splitlines()
  assert len([line for line in lines if '"split": "eval"' in line]) == 1  # one writer


def test_unreachable_coordinator_is_one_clear_line(tmp_path):
  # benchmark mode needs no prepared dataset (train mode checks the data first, and CI
  # may lack Fashion-MNIST), and it joins the cluster like training does.
  done = subprocess.run(
      [sys.executable, '-m', 'alexnet_jax.main', '--config=configs/default.py',
       '--mode=benchmark',
       f'--workdir={tmp_path / "run"}', '--config.distributed.num_processes=2',
       '--config.distributed.process_id=1', '--config.distributed.timeout_s=2',
       f'--config.distributed.coordinator_address=127.0.0.1:{free_port()}'],
      capture_output=True, text=True, timeout=120,
      cwd=os.path.dirname(os.path.dirname(__file__)))
  assert done.returncode != 0
  assert 'config.distributed.coordinator_address=127.0.0.1:' in done.stderr
  assert 'no coordinator answered within 2 s' in done.stderr
  assert not (tmp_path / 'run').exists()
