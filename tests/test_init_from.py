"""--config.init_from: start training from another run's (or imported) parameters."""

import jax
import numpy as np
import pytest

from alexnet_jax import api, errors, train, validation
from alexnet_jax.models import alexnet


@pytest.fixture(scope='module')
def trained_run(tmp_path_factory, tiny_data_dir):
  from tests.conftest import make_tiny_config
  config = make_tiny_config(tiny_data_dir)
  config.num_train_steps = 3
  workdir = str(tmp_path_factory.mktemp('source_run'))
  train.train_and_evaluate(config, workdir)
  return config, workdir


def _fresh(config):
  model = alexnet.create_model(config.model)
  shape = (config.data.image_size, config.data.image_size, config.data.channels)
  return alexnet.init_params(model, jax.random.key(123), shape)


def test_every_layer_comes_from_the_source_run(trained_run):
  config, workdir = trained_run
  params = train.initial_params_from(workdir, _fresh(config), config)
  source = api.load(workdir).params
  for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(source)):
    np.testing.assert_array_equal(got, want)


def test_a_classifier_for_other_classes_stays_fresh(trained_run, capsys):
  config, workdir = trained_run
  other = config.copy_and_resolve_references()
  other.model.num_classes = 7
  fresh = _fresh(other)
  params = train.initial_params_from(workdir, fresh, other)
  np.testing.assert_array_equal(params['fc8']['kernel'], fresh['fc8']['kernel'])
  np.testing.assert_array_equal(params['column0']['conv1']['kernel'],
                                api.load(workdir).params['column0']['conv1']['kernel'])
  assert "fresh: ['fc8']['bias'], ['fc8']['kernel']" in capsys.readouterr().out


def test_another_network_is_refused(trained_run):
  config, workdir = trained_run
  other = config.copy_and_resolve_references()
  other.model.columns = 1
  with pytest.raises(errors.ConfigError, match='columns'):
    train.initial_params_from(workdir, _fresh(other), other)


def test_a_directory_without_checkpoints_is_one_line(tiny_config, tmp_path):
  tiny_config.init_from = str(tmp_path)
  with pytest.raises(errors.ConfigError, match='config.init_from='):
    validation.validate_config(tiny_config)
