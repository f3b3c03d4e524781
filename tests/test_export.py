"""--mode=export: the SavedModel, loaded by TensorFlow, gives JAX's logits."""

import os

import numpy as np
import pytest

import alexnet_jax
from conftest import make_tiny_config, tiny_arrays


def test_saved_model_round_trips_through_tensorflow(tiny_data_dir, tmp_path):
  tf = pytest.importorskip('tensorflow')
  from alexnet_jax import export, train
  config = make_tiny_config(tiny_data_dir)
  config.num_train_steps = 3
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir)
  path = export.run(config, workdir)
  assert path == os.path.join(workdir, 'saved_model')

  images, _ = tiny_arrays(5, 7)  # a batch size the export never saw
  net = alexnet_jax.load(workdir)
  expected = net.logits(net.preprocess(images))
  loaded = tf.saved_model.load(path)
  out = loaded.signatures['serving_default'](images=tf.constant(images))
  np.testing.assert_allclose(out['logits'].numpy(), expected, rtol=1e-5,
                             atol=1e-5 * np.abs(expected).max())
  np.testing.assert_allclose(out['probabilities'].numpy().sum(-1), 1.0, rtol=1e-5)
  assert not [n for n in os.listdir(workdir) if n.startswith('.saved_model')]
