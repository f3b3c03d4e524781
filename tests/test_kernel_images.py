import re
import sys

import numpy as np
import pytest

from alexnet_jax import kernel_images


def test_kernel_grid_places_each_column_in_its_band(tmp_path):
  rng = np.random.default_rng(0)
  params = {f'column{c}': {'conv1': {'kernel': rng.normal(size=(3, 3, 3, 4)) + 10 * c}}
            for c in range(2)}
  grid = kernel_images.kernel_grid(params, per_row=2, gap=1)
  assert grid.shape == (2 * 4 + 5 + 2 * 4, 2 * 4, 3)
  assert grid.min() >= 0 and grid.max() <= 1
  first = params['column0']['conv1']['kernel'][..., 0]
  expected = (first - first.min()) / (first.max() - first.min())
  np.testing.assert_allclose(grid[:3, :3], expected, rtol=1e-5)
  second_band_first = params['column1']['conv1']['kernel'][..., 0]
  expected = (second_band_first - second_band_first.min()) / np.ptp(second_band_first)
  np.testing.assert_allclose(grid[13:16, :3], expected, rtol=1e-5)
  kernel_images.save_kernel_grid(params, str(tmp_path / 'k.png'))
  assert (tmp_path / 'k.png').read_bytes()[:4] == b'\x89PNG'


def test_colour_fraction_of_grey_and_single_channel_kernels():
  rng = np.random.default_rng(1)
  pattern = rng.normal(size=(5, 5, 1, 1))
  grey = np.repeat(pattern, 3, axis=2)
  red_only = np.concatenate([pattern, np.zeros_like(pattern), np.zeros_like(pattern)], axis=2)
  fractions = kernel_images.colour_fraction(np.concatenate([grey, red_only], axis=3))
  np.testing.assert_allclose(fractions, [0.0, 2 / 3], atol=1e-12)
  stats = kernel_images.kernel_statistics({'column0': {'conv1': {'kernel': grey}},
                                           'column1': {'conv1': {'kernel': red_only}}})
  assert stats['column1'] == {'kernels': 1, 'mean_colour_fraction': 2 / 3,
                              'colour_fractions': [2 / 3]}


def test_kernels_mode_draws_a_trained_checkpoint(tiny_config, tmp_path, monkeypatch, capsys):
  import json
  from alexnet_jax import train
  tiny_config.num_train_steps = 3
  train.train_and_evaluate(tiny_config, str(tmp_path))
  record = kernel_images.run(tiny_config, str(tmp_path))
  assert record['step'] == 3
  assert set(record['columns']) == {'column0', 'column1'}
  from alexnet_jax.training import restore
  initial = restore.initial_params(tiny_config)
  trained = restore.restore_params(tiny_config, str(tmp_path))[0]
  for name, column in record['columns'].items():
    assert 0 < column['mean_colour_fraction'] < 1
    assert column['colour_fractions'] == pytest.approx(kernel_images.colour_fraction(
        trained[name]['conv1']['kernel']))
    assert np.mean(column['colour_fractions']) == pytest.approx(column['mean_colour_fraction'])
    assert column['initial_mean_colour_fraction'] == pytest.approx(
        kernel_images.colour_fraction(initial[name]['conv1']['kernel']).mean())
    # Three small steps move the kernels a little; a wrongly recomputed initialization
    # (another seed or shape) would be about sqrt(2) of their norm away.
    assert 0 < column['relative_change'] < 0.3
  assert set(record['column_difference']) == {'mean_colour_fraction_difference', 'p_value',
                                              'shuffles'}
  assert json.loads((tmp_path / 'conv1_kernels.json').read_text()) == record
  assert (tmp_path / 'conv1_kernels.png').read_bytes()[:4] == b'\x89PNG'
  # Without matplotlib (a JAX-only host) the numbers are still written, and a line says
  # there is no figure.
  (tmp_path / 'conv1_kernels.png').unlink()
  monkeypatch.setitem(sys.modules, 'matplotlib', None)
  assert kernel_images.run(tiny_config, str(tmp_path)) == record
  assert not (tmp_path / 'conv1_kernels.png').exists()
  out = capsys.readouterr().out
  assert 'matplotlib is not installed: no conv1_kernels.png' in out
  assert re.search(r'column0: \d+ kernels, mean colour fraction 0\.\d{3} \(quartiles '
                   r'0\.\d{3} / 0\.\d{3} / 0\.\d{3}\)', out)


def test_column_difference_is_judged_against_random_deals_of_the_kernels():
  rng = np.random.default_rng(2)
  pattern = rng.normal(size=(5, 5, 1, 8))
  grey = np.repeat(pattern, 3, axis=2)
  red_only = np.concatenate([pattern, np.zeros_like(pattern), np.zeros_like(pattern)], axis=2)
  split = kernel_images.column_difference({'column0': {'conv1': {'kernel': grey}},
                                           'column1': {'conv1': {'kernel': red_only}}},
                                          shuffles=2000)
  assert split['mean_colour_fraction_difference'] == pytest.approx(-2 / 3)
  # Only the observed deal (and its mirror image) separates 8 grey from 8 coloured
  # kernels: 2 of the 12,870 ways, so almost no random deal is as extreme.
  assert split['p_value'] < 0.01
  mixed = np.concatenate([grey[..., :4], red_only[..., :4]], axis=3)
  alike = kernel_images.column_difference({'column0': {'conv1': {'kernel': mixed}},
                                           'column1': {'conv1': {'kernel': mixed}}},
                                          shuffles=2000)
  assert alike['mean_colour_fraction_difference'] == 0 and alike['p_value'] == 1
  assert kernel_images.column_difference({'conv1': {'kernel': grey}}) == {}


def test_imported_weights_have_no_initialization_to_compare_with():
  params = {'column0': {'conv1': {'kernel': np.ones((3, 3, 3, 2))}}}
  assert kernel_images.initial_statistics({'config': {}, 'imported_from': 'caffe.npy'},
                                          params) == {}
  assert kernel_images.initial_statistics({'config': {'init_from': '/runs/a'}}, params) == {}


def test_a_net_without_columns_is_one_band():
  import numpy as np
  kernels = np.random.default_rng(0).normal(size=(5, 5, 3, 4)).astype(np.float32)
  params = {'conv1': {'kernel': kernels}, 'fc10': {'kernel': np.zeros((2, 2))}}
  grid = kernel_images.kernel_grid(params, per_row=4)
  assert grid.shape == (6, 4 * 6, 3)
  assert list(kernel_images.kernel_statistics(params)) == ['net']
