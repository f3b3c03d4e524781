"""Figure 1's rate sweep table: which neuron a run config is, and the ratios the choice
of rates alone produces."""

import pytest

from experiments import figure1_rate_sweep as sweep


@pytest.mark.parametrize('model, expected', [
    ({'activation': 'relu'}, 'relu'), ({'activation': 'tanh'}, 'tanh'),
    ({'activation': 'tanh', 'tanh_a': 1.0, 'tanh_b': 1.0}, 'tanh'),
    ({'activation': 'tanh', 'tanh_a': 1.7159, 'tanh_b': 2 / 3}, 'scaled_tanh'),
    ({'activation': 'tanh', 'tanh_a': 2.0, 'tanh_b': 0.5}, 'tanh[2,0.5]')])
def test_neuron_of_a_run_config(model, expected):
  assert sweep.neuron({'model': model}) == expected


def _row(activation, rate, epochs, trained=None):
  return {'activation': activation, 'learning_rate': rate, 'epochs_to_target': epochs,
          'epochs_to_target_interpolated': None if epochs is None else epochs - 0.5,
          'epochs_trained': trained or epochs, 'epochs_at_least': epochs or trained,
          'last_train_error': 0.3}


def test_ratios_span_every_pair_of_reached_rates():
  rows = [_row('relu', 0.002, 6), _row('relu', 0.003, 5), _row('tanh', 0.005, 20),
          _row('tanh', 0.01, 14), _row('tanh', 0.002, None, trained=40)]
  ratio = sweep.ratios(rows)['tanh']
  assert ratio['at_fastest_rates'] == pytest.approx(14 / 5)
  assert ratio['fastest_rates'] == {'tanh': 0.01, 'relu': 0.003}
  assert ratio['min'] == pytest.approx(14 / 6) and ratio['max'] == pytest.approx(20 / 5)
  assert ratio['max_rates'] == {'tanh': 0.005, 'relu': 0.003}
  assert ratio['unreached_rates'] == [0.002] and ratio['max_with_unreached'] == pytest.approx(8)
  table = sweep.markdown(rows, {'tanh': ratio})
  assert '>= 40 (not reached)' in table and '| tanh / relu | 2.80 |' in table
