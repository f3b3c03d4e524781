"""Every bad config value is one clear line naming the key, raised before any
compilation; through the CLI it exits non-zero and leaves the workdir untouched."""

import os
import subprocess
import sys

import pytest

from alexnet_jax import errors, validation

CASES = [
    ('stop_at_train_error', 1.0, 'stop_at_train_error'),
    ('model.variant', 'vgg', 'model.variant'),
    ('model.activation', 'sigmoid', 'model.activation'),
    ('model.tanh_a', 0.0, 'model.tanh_a'),
    ('model.tanh_b', -1.0, 'model.tanh_b'),
    ('data.statistics_images', -5, 'data.statistics_images'),
    ('model.pooling', 'average', 'model.pooling'),
    ('model.init', 'xavier', 'model.init'),
    ('model.dtype', 'float16', 'model.dtype'),
    ('model.columns', 3, 'model.columns'),
    ('model.num_classes', 1, 'model.num_classes'),
    ('model.dropout_rate', 1.0, 'model.dropout_rate'),
    ('model.width_multiplier', 0.0, 'model.width_multiplier'),
    ('model.conv_chunk', -1, 'model.conv_chunk'),
    ('model.width_multiplier', 0.51, 'does not divide'),  # 64 * 0.51 = 33 kernels, 2 columns
    ('model.width_exempt', ('fc6',), 'model.width_exempt'),
    ('model.removed_layers', ('conv5',), 'model.removed_layers'),  # pools
    ('model.removed_layers', ('conv3', 'conv3'), 'names a layer twice'),
    ('model.lrn_n', 0, 'model.lrn_n'),
    ('model.lrn_k', 0.0, 'model.lrn_k'),
    ('data.image_size', 2, 'data.image_size'),
    ('batch_size', 0, 'batch_size'),
    ('eval.max_examples', -1, 'eval.max_examples'),
    ('optimizer.name', 'rmsprop', 'optimizer.name'),
    ('optimizer.learning_rate', -1.0, 'optimizer.learning_rate'),
    ('mode', 'fly', 'mode'),
    ('parallel.model_devices', 3, 'parallel.model_devices'),
    ('parallel.backend', 'pjit', 'parallel.backend'),
    ('benchmark.steps', 1, 'benchmark.steps'),
]


def set_field(config, dotted, value):
  *parents, leaf = dotted.split('.')
  node = config
  for name in parents:
    node = node[name]
  node[leaf] = value


@pytest.mark.parametrize('key,value,expected', CASES)
def test_bad_value_names_its_key(small_config, key, value, expected):
  set_field(small_config, key, value)
  with pytest.raises(errors.ConfigError, match=expected.replace('.', r'\.')) as error:
    validation.validate_config(small_config)
  assert '\n' not in str(error.value)


def test_default_configs_are_valid(small_config, paper_config):
  validation.validate_config(small_config)
  validation.validate_config(paper_config)


def test_paper_input_too_small(paper_config):
  paper_config.data.image_size = 64
  with pytest.raises(errors.ConfigError, match='conv5|pooling|kernel'):
    validation.validate_config(paper_config)


def test_columns_must_divide_kernels(small_config):
  small_config.model.width_multiplier = 1.0 / 64  # one kernel per layer
  with pytest.raises(errors.ConfigError, match='model.columns=2 does not divide'):
    validation.validate_config(small_config)


def test_two_model_devices_need_two_columns(small_config):
  small_config.model.columns = 1
  small_config.parallel.model_devices = 2
  with pytest.raises(errors.ConfigError, match='model.columns=2'):
    validation.validate_config(small_config)


@pytest.mark.parametrize('devices,data_devices,batch,expected', [
    (3, -1, 128, 'does not divide'),          # 2 model devices over 3
    (4, -1, 127, 'not divisible'),            # 2 data devices, odd batch
    (4, 4, 128, 'needs more than'),
])
def test_device_layout(small_config, devices, data_devices, batch, expected):
  small_config.parallel.model_devices = 2
  small_config.parallel.data_devices = data_devices
  small_config.batch_size = batch
  with pytest.raises(errors.ConfigError, match=expected):
    validation.validate_config(small_config, num_devices=devices)


@pytest.mark.parametrize('override, phrase', [
    ('--config.model.pooling=average', "config.model.pooling='average' is not allowed"),
    ('--config.model.lrm=False', 'lrm'),  # an unknown key
])
def test_cli_rejects_bad_input_without_writing(tmp_path, override, phrase):
  workdir = tmp_path / 'run'
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run(
      [sys.executable, '-m', 'alexnet_jax.main', '--config=configs/default.py',
       f'--workdir={workdir}', '--mode=summary', override],
      cwd=root, capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert phrase in result.stderr
  assert 'Traceback' not in result.stderr
  assert not workdir.exists()
