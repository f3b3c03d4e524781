"""Datasets from NumPy files (`config.data.arrays_dir`, data/array_files.py): the same run
as from the TFDS copy of the same arrays, a run on a machine without TensorFlow or TFDS,
and one-line errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from alexnet_jax import train, validation
from alexnet_jax.errors import ConfigError

from conftest import tiny_arrays

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def arrays_dir(tmp_path_factory):
  """tiny_quadrants' arrays (conftest.tiny_data_dir imports the same ones into TFDS)."""
  directory = tmp_path_factory.mktemp('arrays')
  for split, (count, seed) in {'train': (200, 0), 'test': (37, 1)}.items():
    images, labels = tiny_arrays(count, seed)
    np.savez_compressed(directory / f'{split}.npz', x=images, y=labels)
  return str(directory)


def _records(workdir):
  return [json.loads(line) for line in (workdir / 'metrics.jsonl').read_text().splitlines()]


def test_arrays_train_as_the_tfds_copy_of_them(tiny_config, arrays_dir, tmp_path):
  tiny_config.checkpoint.async_save = False
  train.train_and_evaluate(tiny_config, str(tmp_path / 'tfds'))
  tiny_config.data.arrays_dir = arrays_dir
  train.train_and_evaluate(tiny_config, str(tmp_path / 'arrays'))
  drop_rate = lambda r: {k: v for k, v in r.items() if k != 'images_per_s'}
  assert ([drop_rate(r) for r in _records(tmp_path / 'tfds')]
          == [drop_rate(r) for r in _records(tmp_path / 'arrays')])


def test_a_run_without_tensorflow_or_tfds(tiny_config, arrays_dir, tmp_path):
  """As on the GPU machine: both made unimportable; device-resident data, 2 steps a
  dispatch; metrics.jsonl and TensorBoard events (written without TensorFlow)."""
  workdir = tmp_path / 'run'
  flags = [f'--config.{k}={v}' for k, v in {
      'data.name': 'tiny_quadrants', 'data.arrays_dir': arrays_dir, 'data.image_size': 12,
      'data.channels': 3, 'data.crop_padding': 1, 'data.flip': False,
      'data.on_device': True, 'steps_per_dispatch': 2, 'model.num_classes': 4,
      'model.width_multiplier': 0.25, 'batch_size': 16, 'eval_batch_size': 10,
      'num_train_steps': 8, 'log_every_steps': 2, 'eval_every_steps': 4,
      'checkpoint.every_steps': 4}.items()]
  code = ("import sys; sys.modules['tensorflow'] = None; "
          "sys.modules['tensorflow_datasets'] = None; "
          "from absl import app; from alexnet_jax import main; "
          "app.run(main.main, flags_parser=main.parse_flags)")
  done = subprocess.run([sys.executable, '-c', code, '--config=configs/default.py',
                         f'--workdir={workdir}', *flags], cwd=ROOT, capture_output=True,
                        text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  records = _records(workdir)
  assert [r['step'] for r in records if r['split'] == 'eval'] == [4, 8]
  assert [path.name.startswith('events.out.tfevents')
          for path in (workdir / 'tensorboard').iterdir()] == [True]


def test_a_missing_split_file_is_one_line(tiny_config, arrays_dir):
  tiny_config.data.arrays_dir = arrays_dir
  tiny_config.data.eval_split = 'validation'
  with pytest.raises(ConfigError, match=r"has no validation.npz \(it has: test, train\)"):
    validation.validate_dataset(tiny_config)
