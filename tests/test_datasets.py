"""Offline imports: npz arrays and Debian's Fashion-MNIST into TFDS format."""

import os
from pathlib import Path

import numpy as np
import pytest

from alexnet_jax import datasets

FASHION_MNIST = '/usr/share/datasets/fashion-mnist'
SHARED_CIFAR10 = next((p for p in (Path(__file__).resolve().parents[2] / 'shared/data/cifar10',
                                   Path('/work/shared/data/cifar10')) if p.exists()), None)


def test_npz_import_round_trips(tmp_path):
  import tensorflow_datasets as tfds
  rng = np.random.default_rng(0)
  arrays = {split: (rng.integers(0, 256, (n, 5, 5, 3), dtype=np.uint8), rng.integers(0, 3, n))
            for split, n in (('train', 7), ('test', 3))}
  for split, (x, y) in arrays.items():
    np.savez(tmp_path / f'{split}.npz', x=x, y=y)
  assert datasets.main(['import-npz', '--name=toy', f'--train={tmp_path / "train.npz"}',
                        f'--test={tmp_path / "test.npz"}', f'--data_dir={tmp_path / "d"}']) == 0
  source = tfds.data_source('toy', split='train', data_dir=str(tmp_path / 'd'))
  assert len(source) == 7
  np.testing.assert_array_equal(source[3]['image'], arrays['train'][0][3])
  assert source[3]['label'] == arrays['train'][1][3]


def test_missing_files_are_one_clear_line(tmp_path, capsys):
  assert datasets.main(['import-fashion-mnist', f'--source={tmp_path}']) == 1
  assert 'apt-get install dataset-fashion-mnist' in capsys.readouterr().err


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST), reason='dataset-fashion-mnist not installed')
def test_fashion_mnist_import(tmp_path):
  import tensorflow_datasets as tfds
  builder = datasets.import_fashion_mnist(FASHION_MNIST, str(tmp_path))
  assert builder.info.splits['train'].num_examples == 60_000
  assert builder.info.splits['test'].num_examples == 10_000
  loaded = tfds.builder('fashion_mnist', data_dir=str(tmp_path))  # the official name
  assert loaded.is_prepared()
  labels = datasets.read_idx(f'{FASHION_MNIST}/t10k-labels-idx1-ubyte.gz')
  source = tfds.data_source('fashion_mnist', split='test', data_dir=str(tmp_path))
  assert [int(source[i]['label']) for i in range(20)] == labels[:20].tolist()


@pytest.mark.skipif(SHARED_CIFAR10 is None, reason='../shared/data/cifar10 not present')
def test_cifar10_import_counts(tmp_path):
  builder = datasets.import_npz('cifar10', str(SHARED_CIFAR10 / 'train.npz'),
                                str(SHARED_CIFAR10 / 'test.npz'), str(tmp_path))
  assert builder.info.splits['train'].num_examples == 50_000
  assert builder.info.splits['test'].num_examples == 10_000
  import tensorflow_datasets as tfds
  for split, per_class in (('train', 5000), ('test', 1000)):
    source = tfds.data_source('cifar10', split=split, data_dir=str(tmp_path))
    labels = np.array([int(e['label']) for e in source.__getitems__(list(range(len(source))))])
    assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
