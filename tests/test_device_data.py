"""Device-resident training data (data/device_data.py) and K steps per dispatch: the
augmentation arithmetic against the host path's, (seed, step) -> batch determinism,
the host path's example order, K-step dispatches equal to K single steps, and the
one-line errors."""

import json

import jax
import numpy as np
import pytest

from alexnet_jax import train, validation
from alexnet_jax.data import device_data, input_pipeline
from alexnet_jax.errors import ConfigError
from alexnet_jax.training import step_functions

from conftest import tiny_arrays

STATS = {  # made-up statistics of RGB images (pixels in [0, 1])
    'pixel_mean': np.random.default_rng(0).uniform(0.3, 0.6, (12, 12, 3)).tolist(),
    'channel_mean': [0.45, 0.42, 0.40],
    'eigval': [0.2, 0.02, 0.005],
    'eigvec': np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0].tolist(),
}


def _data_config(small_config, **data):
  config = small_config
  config.data.image_size = 10
  config.data.channels = 3
  config.batch_size = 8
  for key, value in data.items():
    config.data[key] = value
  return config


@pytest.mark.parametrize('data', [
    {'normalization': 'cuda_convnet'},
    {'normalization': 'cuda_convnet', 'pca_std': 0.1},
    {'normalization': 'per_pixel', 'pca_std': 0.1},
    {'normalization': 'per_channel', 'crop_padding': 2, 'image_size': 12},
    {'normalization': 'torchvision', 'pca_std': 0.1},
    {'normalization': 'caffe', 'pca_std': 0.1},
    {'normalization': 'none', 'random_crop': False},
])
def test_augmentation_equals_the_host_arithmetic(small_config, data):
  """Given the same offsets, flips and colour shifts, the device path's inputs are the
  host path's (Preprocessor._augment), element by element."""
  config = _data_config(small_config, **data)
  preprocessor = input_pipeline.Preprocessor(config, STATS)
  augmentation = device_data.Augmentation.from_preprocessor(preprocessor, 12, 3)
  images, _ = tiny_arrays(8, 3)
  full = 12 + 2 * config.data.crop_padding
  offsets, flips, shifts = augmentation.draw(jax.random.key(5), 8, full)
  if shifts is None:
    assert config.data.pca_std == 0
  expected = np.empty((8, config.data.image_size, config.data.image_size, 3), np.float32)
  for i in range(8):
    shift = None if shifts is None else np.asarray(shifts[i])
    preprocessor._augment(images[i], np.asarray(offsets[i]), bool(flips[i]), shift, expected[i])
  got = np.asarray(augmentation.apply(images, offsets, flips, shifts))
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)
  assert np.asarray(flips).any() or not config.data.flip


@pytest.mark.parametrize('normalization', ['caffe', 'cuda_convnet', 'torchvision'])
def test_colour_shifts_are_the_host_units(small_config, normalization):
  """The shift drawn for given alphas is Preprocessor's (_colour_shift of the PCA term):
  caffe's in BGR order and 0-255 units, cuda_convnet's in 0-255 units."""
  config = _data_config(small_config, normalization=normalization, pca_std=0.1)
  preprocessor = input_pipeline.Preprocessor(config, STATS)
  augmentation = device_data.Augmentation.from_preprocessor(preprocessor, 12, 3)
  key = jax.random.key(2)
  _, _, shifts = augmentation.draw(key, 6, 12)
  alphas = 0.1 * np.asarray(jax.random.normal(jax.random.split(key, 3)[2], (6, 3)))
  eigval, eigvec = np.asarray(STATS['eigval']), np.asarray(STATS['eigvec'])
  expected = preprocessor._colour_shift((alphas * eigval) @ eigvec.T)
  np.testing.assert_allclose(np.asarray(shifts), expected, rtol=1e-5, atol=1e-6)


def test_draws_have_the_host_distributions(small_config):
  config = _data_config(small_config, normalization='none', crop_padding=1)
  preprocessor = input_pipeline.Preprocessor(config, STATS)
  augmentation = device_data.Augmentation.from_preprocessor(preprocessor, 12, 3)
  offsets, flips, _ = augmentation.draw(jax.random.key(0), 20000, 14)
  offsets = np.asarray(offsets)
  assert offsets.min() == 0 and offsets.max() == 14 - 10  # every valid offset, no other
  counts = np.bincount(offsets.ravel(), minlength=5) / offsets.size
  np.testing.assert_allclose(counts, 0.2, atol=0.01)
  assert abs(np.asarray(flips).mean() - 0.5) < 0.01


def _device_data(config, count=50, steps_per_dispatch=1):
  images, labels = tiny_arrays(count, 0)
  preprocessor = input_pipeline.Preprocessor(config, STATS)
  return device_data.DeviceData(config, images, labels, preprocessor, jax.device_put,
                                steps_per_dispatch=steps_per_dispatch)


def _batch(data, step, replica=0, replicas=1):
  first = data.first_epoch(step)
  return jax.tree.map(np.asarray, data.make_batch(data.arrays, data.permutations(first), first,
                                                  np.int32(step), replica, replicas))


def test_batch_is_a_function_of_seed_and_step_with_the_host_order(small_config):
  config = _data_config(small_config, normalization='per_pixel')
  config.batch_size = 16
  data = _device_data(config)
  for step in (0, 3, 7):  # 50 examples, 16 a step: steps 3 and 6 span two epochs
    batch = _batch(data, step)
    again = _batch(_device_data(config), step)
    for key in batch:
      np.testing.assert_array_equal(batch[key], again[key])
    indices, positions = input_pipeline.global_batch_plan(config.seed, step, 16, 50)
    np.testing.assert_array_equal(batch['example_id'], positions)
    np.testing.assert_array_equal(batch['label'], tiny_arrays(50, 0)[1][indices])
  assert not np.array_equal(_batch(data, 1)['image'], _batch(data, 2)['image'])
  config.seed += 1
  assert not np.array_equal(_batch(_device_data(config), 1)['image'], _batch(data, 1)['image'])


def test_replicas_take_contiguous_slices_of_one_global_batch(small_config):
  config = _data_config(small_config, normalization='per_pixel', pca_std=0.1)
  data = _device_data(config)
  whole = _batch(data, 4)
  halves = [_batch(data, 4, replica, 2) for replica in range(2)]
  for key in whole:
    np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), whole[key])


def _device_state(config, compiled, placement):
  from alexnet_jax.models import alexnet
  from alexnet_jax.training import optimizers
  params = alexnet.init_params(alexnet.create_model(config.model), jax.random.key(0),
                               (config.data.image_size, config.data.image_size, 3))
  return placement.put_tree(optimizers.create_train_state(params, compiled.optimizer))


def test_k_step_dispatch_equals_k_single_steps(tiny_config):
  from alexnet_jax.devices import parallel
  config = tiny_config
  config.model.dropout_rate = 0.5  # the masks follow the step inside the scan too
  placement = parallel.Placement(parallel.layout_from_config(config))
  compiled = step_functions.CompiledSteps(config, placement)
  data = _device_data(config, count=40, steps_per_dispatch=4)
  rng = jax.random.key(1)
  rates = [0.02, 0.02, 0.01, 0.01]
  state_k, metrics_k = compiled.train_on_device(_device_state(config, compiled, placement),
                                                data, 0, rng, rates)
  state_1 = _device_state(config, compiled, placement)
  losses = []
  for step, rate in enumerate(rates):
    state_1, metrics = compiled.train_on_device(state_1, data, step, rng, [rate])
    losses.append(float(placement.from_device(metrics)['loss_sum']))
  np.testing.assert_allclose(placement.from_device(metrics_k)['step_losses'], losses,
                             rtol=1e-5)
  for a, b in zip(jax.tree.leaves(placement.get_tree(state_k)),
                  jax.tree.leaves(placement.get_tree(state_1))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert int(placement.from_device(state_k.step)) == 4


def _metrics(workdir):
  return [json.loads(line) for line in (workdir / 'metrics.jsonl').read_text().splitlines()]


def test_training_loop_with_k_steps_per_dispatch_matches_k_1(tiny_config, tmp_path):
  """The loop's records (train windows, epoch means, evals) are the same with 3 steps per
  dispatch as with one; the dispatches stop at epoch ends (200 // 16 = 12 steps)."""
  config = tiny_config
  config.checkpoint.async_save = False
  config.data.on_device = True
  config.num_train_steps = 15
  config.log_every_steps = 6
  config.eval_every_steps = -1  # once per epoch: 12 steps, then 3 more: the last dispatch is 1
  records = {}
  for k in (1, 2):
    config.steps_per_dispatch = k
    config.checkpoint.every_steps = 4
    train.train_and_evaluate(config, str(tmp_path / f'k{k}'))
    records[k] = _metrics(tmp_path / f'k{k}')
  assert [(r['split'], r['step']) for r in records[1]] == [(r['split'], r['step'])
                                                           for r in records[2]]
  for a, b in zip(records[1], records[2]):
    for key in ('loss', 'top1_error'):
      assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), (a, b)


@pytest.mark.parametrize('change, message', [
    ({'steps_per_dispatch': 4}, 'config.steps_per_dispatch=4 does not divide '
                                'config.log_every_steps=2'),
    ({'steps_per_dispatch': 2, 'data.on_device': False}, 'needs config.data.on_device=True'),
    ({'steps_per_dispatch': 0}, 'config.steps_per_dispatch=0 must be an integer >= 1'),
    ({'data.on_device': 'yes'}, "config.data.on_device='yes': choose"),
])
def test_bad_dispatch_settings_are_one_line(tiny_config, change, message):
  config = tiny_config
  config.data.on_device = True
  for key, value in change.items():
    node, _, name = key.rpartition('.')
    (config[node] if node else config)[name] = value
  with pytest.raises(ConfigError, match=message.replace('(', r'\(')):
    validation.validate_config(config)


def test_auto_keeps_data_on_the_host_of_a_cpu(tiny_config, tmp_path):
  config = tiny_config
  config.data.on_device = 'auto'
  assert not device_data.wanted(config, 'cpu') and device_data.wanted(config, 'gpu')
  config.steps_per_dispatch = 2
  config.checkpoint.every_steps = 4
  with pytest.raises(ConfigError, match="on_device='auto' keeps it on the host on this cpu"):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_a_dataset_larger_than_the_limit_is_one_line(tiny_config, tmp_path):
  config = tiny_config
  config.data.on_device = True
  config.data.on_device_max_bytes = 200 * 12 * 12 * 3 - 1
  with pytest.raises(ConfigError, match='take 0 MiB, more than config.data.on_device_max_bytes'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_device_data_gives_one_network_on_every_layout():
  """Each data replica cuts its own slice of the global batch on its device; with the
  columns on two devices both make the same slice. Two steps in one dispatch land where
  one device's do."""
  import os
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=4',
             JAX_PLATFORMS='cpu',
             PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get('PYTHONPATH')])))
  layouts = ('2x1:pmap', '2x2:shard_map')  # replicas' slices (pmap); with columns (shard_map)
  done = subprocess.run([sys.executable, os.path.join(root, 'tests', 'device_data_worker.py'),
                         '2', *layouts], env=env, capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  results = [json.loads(line[len('RESULT '):]) for line in done.stdout.splitlines()
             if line.startswith('RESULT ')]
  assert [r['layout'] for r in results] == list(layouts)
  # Per step, the replicas' gradient sums are added in another order than one device's:
  # float32 rounding that this CPU's kernels put above 1e-5 per step (2.4e-5 after two
  # steps on 2x1:pmap); a replica cutting the wrong slice trains on other images, a
  # difference of the order of a whole update.
  for result in results:
    assert result['max_abs_diff'] <= 5e-5 * max(1.0, result['max_abs']) * 2, result
