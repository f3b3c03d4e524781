"""Offline imports: npz arrays and Debian's Fashion-MNIST into TFDS format."""

import os
from pathlib import Path

import numpy as np
import pytest

from alexnet_jax import datasets
from alexnet_jax.data import images, importers

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
  assert datasets.main(['import-fashion-mnist', f'--source={tmp_path}']) == 2  # bad input
  assert 'apt-get install dataset-fashion-mnist' in capsys.readouterr().err


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST), reason='dataset-fashion-mnist not installed')
def test_fashion_mnist_import(tmp_path):
  import tensorflow_datasets as tfds
  builder = importers.import_fashion_mnist(FASHION_MNIST, str(tmp_path))
  assert builder.info.splits['train'].num_examples == 60_000
  assert builder.info.splits['test'].num_examples == 10_000
  loaded = tfds.builder('fashion_mnist', data_dir=str(tmp_path))  # the official name
  assert loaded.is_prepared()
  labels = importers.read_idx(f'{FASHION_MNIST}/t10k-labels-idx1-ubyte.gz')
  source = tfds.data_source('fashion_mnist', split='test', data_dir=str(tmp_path))
  assert [int(source[i]['label']) for i in range(20)] == labels[:20].tolist()


@pytest.mark.skipif(SHARED_CIFAR10 is None, reason='../shared/data/cifar10 not present')
def test_cifar10_import_counts(tmp_path):
  builder = importers.import_npz('cifar10', str(SHARED_CIFAR10 / 'train.npz'),
                                 str(SHARED_CIFAR10 / 'test.npz'), str(tmp_path))
  assert builder.info.splits['train'].num_examples == 50_000
  assert builder.info.splits['test'].num_examples == 10_000
  import tensorflow_datasets as tfds
  for split, per_class in (('train', 5000), ('test', 1000)):
    source = tfds.data_source('cifar10', split=split, data_dir=str(tmp_path))
    labels = np.array([int(e['label']) for e in source.__getitems__(list(range(len(source))))])
    assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10


def ramp(h, w, axis):
  """uint8 [h, w, 3], 4 x the pixel's coordinate along `axis` (a linear image)."""
  coordinate = np.arange(h if axis == 0 else w, dtype=np.float64) * 4
  line = coordinate[:, None] if axis == 0 else coordinate[None, :]
  return np.repeat(np.broadcast_to(line, (h, w))[..., None], 3, axis=2).astype(np.uint8)


def paper_geometry(h, w, size):
  """(resized h, resized w, top, left), from the paper's words: shorter side to
  `size`, the longer in proportion, to the nearest pixel (halves up); central crop."""
  from fractions import Fraction
  short, long = min(h, w), max(h, w)
  long_resized = int(Fraction(long * size, short) + Fraction(1, 2))
  new_h, new_w = (size, long_resized) if h <= w else (long_resized, size)
  return new_h, new_w, (new_h - size) // 2, (new_w - size) // 2


# (h, w): square, exact crops, 2x shrink, fractional and half-pixel longer sides, upscale.
SHAPES = [(16, 16), (16, 24), (24, 16), (32, 48), (48, 32), (33, 50), (32, 33), (10, 35), (35, 10)]


@pytest.mark.parametrize('h,w', SHAPES)
def test_resize_and_center_crop_is_the_papers(h, w):
  from PIL import Image
  image = np.random.default_rng(h * 100 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
  out = images.resize_and_center_crop(image, 16)
  assert out.shape == (16, 16, 3) and out.dtype == np.uint8
  new_h, new_w, top, left = paper_geometry(h, w, 16)
  resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
  np.testing.assert_array_equal(out, resized[top:top + 16, left:left + 16])
  if min(h, w) == 16:  # no resampling at all: exactly the central crop
    np.testing.assert_array_equal(out, image[top:top + 16, left:left + 16])
  region = np.asarray(images.resize_and_center_crop_pil(Image.fromarray(image), 16,
                                                        crop_region_only=True))
  assert np.abs(region.astype(int) - out).max() <= 1  # the training path's shortcut
  gray = images.resize_and_center_crop(image[..., :1], 16)
  np.testing.assert_array_equal(gray[..., 0], np.asarray(
      Image.fromarray(image[..., 0]).resize((new_w, new_h), Image.BILINEAR))[top:top + 16,
                                                                             left:left + 16])


@pytest.mark.parametrize('h,w', [(32, 48), (48, 32), (33, 50), (50, 33)])
def test_resize_and_center_crop_maps_a_ramp_to_the_central_ramp(h, w):
  """Independent of Pillow: a linear image stays linear under a (symmetric, normalized)
  resampling filter, so each output pixel must hold the ramp's value at the source
  coordinate its center comes from, (i + offset + 0.5) * source / resized - 0.5."""
  axis = 1 if w > h else 0
  out = images.resize_and_center_crop(ramp(h, w, axis), 16).astype(np.float64)
  new_h, new_w, top, left = paper_geometry(h, w, 16)
  offset, source, resized = (left, w, new_w) if axis == 1 else (top, h, new_h)
  expected = 4 * ((np.arange(16) + offset + 0.5) * source / resized - 0.5)
  along = out[..., 0].mean(axis=1 - axis)
  np.testing.assert_allclose(along, expected, atol=1.0)


def write_folders(root, files):
  """Image files {relative path: (h, w)} of smooth gradients (or raw bytes)."""
  from PIL import Image
  rng = np.random.default_rng(0)
  originals = {}
  for relative, content in files.items():
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
      path.write_bytes(content)
      continue
    h, w = content
    image = (rng.integers(0, 128, 3) + 2 * np.arange(h)[:, None, None]
             + np.arange(w)[None, :, None]).clip(0, 255).astype(np.uint8)
    Image.fromarray(image).save(path, 'PNG' if relative.endswith('.png') else 'JPEG', quality=95)
    originals[relative] = np.asarray(Image.open(path).convert('RGB'))
  return originals


def test_prepare_imagenet_stores_the_papers_crops(tmp_path):
  import tensorflow_datasets as tfds
  originals = write_folders(tmp_path / 'manual', {
      'train/n02/b.JPEG': (40, 64), 'train/n01/a.JPEG': (64, 40), 'train/n01/c.png': (32, 32),
      'val/n02/v.JPEG': (48, 48)})
  data_dir = tmp_path / 'tfds'
  assert datasets.main(['prepare-imagenet', f'--manual_dir={tmp_path / "manual"}',
                        f'--data_dir={data_dir}', '--size=16', '--processes=1']) == 0
  builder = tfds.builder(importers.IMAGENET_256, data_dir=str(data_dir))
  assert builder.info.features['label'].names == ['n01', 'n02']
  assert builder.info.features['image'].shape == (16, 16, 3)
  assert sorted(os.listdir(data_dir)) == [importers.IMAGENET_256]  # no scratch folder left
  train = tfds.data_source(importers.IMAGENET_256, split='train', data_dir=str(data_dir))
  # Sorted by class folder, then file name.
  for i, (name, label) in enumerate([('train/n01/a.JPEG', 0), ('train/n01/c.png', 0),
                                     ('train/n02/b.JPEG', 1)]):
    assert int(train[i]['label']) == label
    expected = images.resize_and_center_crop(originals[name], 16).astype(np.float64)
    assert np.abs(train[i]['image'] - expected).mean() < 2  # JPEG quality 90
  validation = tfds.data_source(importers.IMAGENET_256, split='validation', data_dir=str(data_dir))
  assert len(validation) == 1 and int(validation[0]['label']) == 1


@pytest.mark.parametrize('files,culprit', [
    ({}, ''),
    ({'train/n01/a.JPEG': (8, 8), 'train/n02/notes.txt': b'x'}, 'train/n02'),
    ({'train/n01/a.JPEG': (8, 8), 'val/n09/b.JPEG': (8, 8)}, 'val/n09'),
    ({'train/n01/a.JPEG': (8, 8), 'train/n01/b.JPEG': b'\xff\xd8 not a jpeg'}, 'train/n01/b.JPEG'),
], ids=['missing_dir', 'empty_class', 'unknown_val_class', 'unreadable_jpeg'])
def test_prepare_imagenet_bad_input_is_one_line(tmp_path, capsys, files, culprit):
  write_folders(tmp_path / 'manual', files)
  data_dir = tmp_path / 'tfds'
  data_dir.mkdir()
  code = datasets.main(['prepare-imagenet', f'--manual_dir={tmp_path / "manual"}',
                        f'--data_dir={data_dir}', '--size=16', '--processes=1'])
  error = capsys.readouterr().err.strip().splitlines()[-1]
  assert code == 1 and error.startswith('error: ') and str(tmp_path / 'manual' / culprit) in error
  assert os.listdir(data_dir) == []  # nothing half-written
