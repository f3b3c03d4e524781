"""`alexnet_jax.load`: on a tiny trained run (its predictions give the run's own
evaluation) and on imported Caffe weights (features against PyTorch)."""

import json
import os
import shutil

import numpy as np
import pytest

import alexnet_jax
from conftest import make_tiny_config, tiny_arrays


@pytest.fixture(scope='module')
def trained_run(tiny_data_dir, tmp_path_factory):
  from alexnet_jax import train
  config = make_tiny_config(tiny_data_dir)
  workdir = str(tmp_path_factory.mktemp('api_run'))
  record = train.train_and_evaluate(config, workdir)
  return workdir, record


@pytest.fixture(scope='module')
def caffe_run(tmp_path_factory):
  pytest.importorskip('torch')
  import test_weights
  return test_weights.import_caffe(tmp_path_factory.mktemp('caffe'))


def test_predictions_of_a_trained_run_give_its_evaluation(trained_run):
  workdir, record = trained_run
  images, labels = tiny_arrays(37, 1)  # the tiny dataset's test split
  net = alexnet_jax.load(workdir)
  classes, probabilities = net.predict(list(images), k=3)
  assert classes.shape == probabilities.shape == (37, 3)
  assert np.all(np.diff(probabilities, axis=1) <= 0) and np.all(probabilities <= 1)
  assert np.mean(classes[:, 0] != labels) == pytest.approx(record['top1_error'])


def test_a_checkpoint_step_loads_like_its_run(trained_run):
  workdir, record = trained_run
  images, _ = tiny_arrays(4, 5)
  net = alexnet_jax.load(workdir)
  step = alexnet_jax.load(os.path.join(workdir, 'checkpoints', str(record['step'])))
  assert net.step == step.step == record['step']
  x = net.preprocess(images)
  np.testing.assert_array_equal(net.logits(x), step.logits(x))
  np.testing.assert_array_equal(net.features(x, 'fc8'), net.logits(x))
  per_column = net.features(x, 'conv3', joined=False)
  assert len(per_column) == 2
  np.testing.assert_array_equal(np.concatenate(per_column, -1), net.features(x, 'conv3'))


def test_a_run_preprocesses_without_its_dataset(trained_run, tmp_path, monkeypatch):
  """Training keeps the statistics its normalization used in the run directory, so a
  run copied to a machine without the dataset preprocesses as it did where it trained;
  a run without that file (written before runs kept it) names it when its dataset is
  gone too."""
  from alexnet_jax import errors
  from alexnet_jax.data import input_pipeline
  workdir, _ = trained_run
  images, _ = tiny_arrays(4, 5)
  net = alexnet_jax.load(workdir)
  with open(os.path.join(workdir, 'dataset_statistics.json')) as f:
    assert json.load(f) == input_pipeline.dataset_statistics(net.config)
  expected = net.preprocess(images)
  copy = str(tmp_path / 'copied_run')
  shutil.copytree(workdir, copy)

  def no_dataset(config, source=None):
    raise errors.DatasetNotFoundError(f'dataset {config.data.name!r} is not here')

  monkeypatch.setattr(input_pipeline, 'dataset_statistics', no_dataset)
  np.testing.assert_array_equal(alexnet_jax.load(copy).preprocess(images), expected)
  os.remove(os.path.join(copy, 'dataset_statistics.json'))
  with pytest.raises(errors.DatasetNotFoundError, match=r"copied_run/dataset_statistics.json: "
                     r"not there .*'tiny_quadrants' is not here"):
    alexnet_jax.load(copy).preprocess(images)


def test_bad_requests_say_what_is_expected(trained_run, tmp_path):
  net = alexnet_jax.load(trained_run[0])
  with pytest.raises(ValueError, match=r'takes N x 12 x 12 x 3'):
    net.logits(np.zeros((1, 14, 14, 3), np.float32))
  with pytest.raises(ValueError, match=r"no layer 'pool9'; choose one of conv1, "):
    net.features(np.zeros((1, 12, 12, 3), np.float32), 'pool9')
  with pytest.raises(ValueError, match=r'not a run directory'):
    alexnet_jax.load(str(tmp_path))


def test_imported_caffe_features_match_torch(caffe_run):
  import torch
  model, dest = caffe_run
  net = alexnet_jax.load(dest)
  assert net.input_shape == (227, 227, 3)
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (240, 300, 3), dtype=np.uint8)
  x = net.preprocess(image)
  # Caffe's convention: shorter side to 256, central 227 crop, BGR minus the mean pixel.
  from PIL import Image
  resized = np.asarray(Image.fromarray(image).resize((320, 256), Image.BILINEAR), np.float32)
  top, left = (256 - 227) // 2, (320 - 256) // 2 + (256 - 227) // 2
  expected = resized[top:top + 227, left:left + 227, ::-1] - [103.939, 116.779, 123.68]
  np.testing.assert_allclose(x[0], expected, atol=1e-4)

  with torch.no_grad():
    conv1 = torch.relu(model.conv1(torch.from_numpy(x.transpose(0, 3, 1, 2))))
    pooled = torch.nn.functional.max_pool2d(model.norm(conv1), 3, 2)
  columns = net.features(x, 'conv1', joined=False)
  assert [c.shape for c in columns] == [(1, 27, 27, 48)] * 2
  for ours, reference in [(np.concatenate(columns, -1), pooled),
                          (net.features(x, 'conv1_conv'), conv1)]:
    reference = reference.numpy().transpose(0, 2, 3, 1)  # float32 sums of 363 products
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())


def test_the_api_prints_nothing_on_success(trained_run):
  """A library call in a user's notebook: load, preprocess, predict and features print
  nothing (no Orbax/absl warnings), in a fresh process as a user's would be."""
  import subprocess
  import sys
  workdir, _ = trained_run
  code = ('import numpy as np, alexnet_jax\n'
          f'net = alexnet_jax.load({workdir!r})\n'
          'images = np.zeros((2, 12, 12, 3), np.uint8)\n'
          'net.predict(images, k=2)\n'
          'net.features(net.preprocess(images), net.layers[0])\n')
  done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert done.returncode == 0, done.stderr
  assert done.stdout == '' and done.stderr == '', (done.stdout, done.stderr)
