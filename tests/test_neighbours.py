"""`python -m alexnet_jax.neighbours`: Figure 4's retrieval by Euclidean distance."""

import json
import sys

import numpy as np
import pytest

import alexnet_jax
from alexnet_jax import neighbours
from conftest import make_tiny_config, tiny_arrays


@pytest.fixture(scope='module')
def tiny_run(tiny_data_dir, tmp_path_factory):
  from alexnet_jax import train
  workdir = str(tmp_path_factory.mktemp('neighbours_run'))
  train.train_and_evaluate(make_tiny_config(tiny_data_dir), workdir)
  return workdir


def _brute_force(queries, database, k):
  distances = np.linalg.norm(queries[:, None, :].astype(np.float64)
                             - database[None, :, :].astype(np.float64), axis=-1)
  order = np.argsort(distances, axis=1, kind='stable')[:, :k]
  return order, np.take_along_axis(distances, order, axis=1)


def test_nearest_equals_brute_force_in_blocks():
  rng = np.random.default_rng(0)
  database = rng.normal(size=(57, 9)).astype(np.float32)
  queries = rng.normal(size=(23, 9)).astype(np.float32)
  indices, distances = neighbours.nearest(queries, database, k=4, block=5)
  expected_indices, expected_distances = _brute_force(queries, database, 4)
  np.testing.assert_array_equal(indices, expected_indices)
  np.testing.assert_allclose(distances, expected_distances, rtol=1e-4, atol=1e-4)
  assert np.all(np.diff(distances, axis=1) >= 0)  # nearest first


def test_nearest_refuses_more_neighbours_than_images():
  with pytest.raises(ValueError, match='k=4'):
    neighbours.nearest(np.zeros((2, 3)), np.zeros((3, 3)), k=4)


def test_a_query_is_never_its_own_neighbour():
  rng = np.random.default_rng(1)
  database = rng.normal(size=(30, 5)).astype(np.float32)
  own = np.array([4, -1, 29, 0])
  queries = database[np.maximum(own, 0)] + np.float32(1e-3)
  queries[1] = rng.normal(size=5)
  indices, _ = neighbours.nearest(queries, database, k=3, block=3, own=own)
  distances = np.linalg.norm(queries[:, None] - database[None], axis=-1)
  present = own >= 0
  distances[np.flatnonzero(present), own[present]] = np.inf
  np.testing.assert_array_equal(indices, np.argsort(distances, axis=1, kind='stable')[:, :3])
  assert not np.any(indices == own[:, None])
  with pytest.raises(ValueError, match='k=30: expected 1 to 29'):
    neighbours.nearest(queries, database, k=30, own=own)
  # Shares of the database less the query's own row; 0 for the nearest other row.
  shares = neighbours.distance_percentiles(queries, database, indices, block=3, own=own)
  np.testing.assert_allclose(shares[present], np.tile([0, 1, 2], (3, 1)) / 29)
  np.testing.assert_allclose(shares[~present], [[0, 1 / 30, 2 / 30]])
  # Chance without the query's own image: its class has one image fewer to draw.
  assert neighbours.chance_agreement(np.array([0, 0, 1, 1]), np.array([0, 1]),
                                     own=np.array([0, -1])) == pytest.approx((1 / 3 + 2 / 4) / 2)


def test_example_keys_know_which_split_specs_share_images(tiny_run):
  from alexnet_jax.data import input_pipeline
  config = alexnet_jax.load(tiny_run).config
  assert input_pipeline.example_keys(config, 'train[190:]') == [('train', i)
                                                                for i in range(190, 200)]
  assert input_pipeline.example_keys(config, 'test[:2]+train[-1:]') == [
      ('test', 0), ('test', 1), ('train', 199)]
  assert neighbours.own_rows(config, 'train', np.array([5, 195, 199]), 'train[190:]',
                             np.array([0, 5, 9])).tolist() == [-1, 1, 2]
  assert neighbours.own_rows(config, 'train', np.arange(200), 'test',
                             np.arange(37)).tolist() == [-1] * 37


def test_queries_from_the_training_split_are_not_their_own_neighbours(tiny_run):
  net, layer = neighbours.load(tiny_run)
  net.config.data.eval_split = 'train[150:]'
  record, _ = neighbours.retrieve(net, layer, k=3, shown=50)
  assert record['queries'] == {'split': 'train[150:]', 'examples': 50, 'in_database': 50}
  assert record['database'] == {'split': 'train', 'examples': 200}
  train_images, train_labels = tiny_arrays(200, 0)
  features = net.features(net.preprocess(train_images), layer).astype(np.float64)
  distances = np.linalg.norm(features[150:, None] - features[None], axis=-1)
  distances[np.arange(50), np.arange(150, 200)] = np.inf
  expected = np.argsort(distances, axis=1, kind='stable')[:, :3]
  same = train_labels[expected] == train_labels[150:, None]
  # One query either way: float32 near-ties.
  assert record['feature_space']['at_1'] == pytest.approx(same[:, 0].mean(), abs=1 / 50)
  for entry in record['shown']:
    found = entry['feature_neighbours']
    assert 150 + entry['index'] not in [n['index'] for n in found]
    # Distances, not indices: float32 features leave near-ties in either order.
    assert [n['distance'] for n in found] == pytest.approx(
        list(np.sort(distances[entry['index']])[:3]), rel=1e-3, abs=1e-3)
    # By pixels, each query's own image would be its nearest at distance 0.
    assert 150 + entry['index'] not in [n['index'] for n in entry['pixel_neighbours']]
    assert min(n['distance'] for n in entry['pixel_neighbours']) > 0


def test_label_agreement_and_chance():
  agreement = neighbours.label_agreement([[1, 1, 0], [2, 0, 0]], [1, 0])
  assert agreement == {'at_1': 0.5, 'at_k': pytest.approx(4 / 6)}
  # database: class 0 three times, class 1 once; queries of class 0 and 1
  assert neighbours.chance_agreement(np.array([0, 0, 0, 1]), np.array([0, 1])) == (
      pytest.approx((0.75 + 0.25) / 2))


def test_the_tool_finds_the_nearest_training_images_of_the_last_hidden_layer(tiny_run,
                                                                             tmp_path):
  out = tmp_path / 'neighbours.json'
  assert neighbours.main([tiny_run, f'--out={out}', '--k=3', '--shown=2']) == 0
  record = json.loads(out.read_text())
  assert (tmp_path / 'neighbours.png').read_bytes()[:4] == b'\x89PNG'
  assert record['layer'] == 'fc7'  # the small net's classifier reads fc7
  assert record['database'] == {'split': 'train', 'examples': 200}
  assert record['queries'] == {'split': 'test', 'examples': 37, 'in_database': 0}
  assert len(record['shown']) == 2
  # The same retrieval through the library API, by brute force.
  net = alexnet_jax.load(tiny_run)
  train_images, train_labels = tiny_arrays(200, 0)
  test_images, test_labels = tiny_arrays(37, 1)
  train_features = net.features(net.preprocess(train_images), 'fc7')
  test_features = net.features(net.preprocess(test_images), 'fc7')
  expected, distances = _brute_force(test_features, train_features, 3)
  for entry in record['shown']:
    found = entry['feature_neighbours']
    assert [n['index'] for n in found] == list(expected[entry['index']])
    assert [n['distance'] for n in found] == pytest.approx(list(distances[entry['index']]),
                                                           rel=1e-3, abs=1e-4)
    assert entry['label'] == test_labels[entry['index']]
  same = train_labels[expected] == test_labels[:, None]
  assert record['feature_space']['at_1'] == pytest.approx(same[:, 0].mean())
  assert record['feature_space']['at_k'] == pytest.approx(same.mean())
  pixels_expected, _ = _brute_force(net.preprocess(test_images).reshape(37, -1),
                                    net.preprocess(train_images).reshape(200, -1), 3)
  assert record['pixel_space']['at_k'] == pytest.approx(
      (train_labels[pixels_expected] == test_labels[:, None]).mean())
  overlap = np.mean([len(set(a) & set(b)) / 3 for a, b in zip(expected, pixels_expected)])
  assert record['feature_neighbours_by_pixels']['share_among_pixel_neighbours'] == (
      pytest.approx(overlap))
  test_pixels = net.preprocess(test_images).reshape(37, -1).astype(np.float64)
  train_pixels = net.preprocess(train_images).reshape(200, -1).astype(np.float64)
  by_pixels = np.linalg.norm(test_pixels[:, None] - train_pixels[None], axis=-1)
  shares = [(by_pixels[q] < by_pixels[q, i]).mean() for q in range(37) for i in expected[q]]
  assert record['feature_neighbours_by_pixels']['median_percentile'] == pytest.approx(
      np.median(shares) * 100, abs=0.6)  # one image in 200 either way: float32 ties


def test_without_matplotlib_the_record_is_written_without_its_figure(tiny_run, tmp_path,
                                                                     monkeypatch, capsys):
  monkeypatch.setitem(sys.modules, 'matplotlib', None)
  out = tmp_path / 'neighbours.json'
  assert neighbours.main([tiny_run, f'--out={out}', '--k=2', '--shown=1',
                          '--max_queries=5']) == 0
  assert json.loads(out.read_text())['queries']['examples'] == 5
  assert not (tmp_path / 'neighbours.png').exists()
  assert 'matplotlib is not installed: no neighbours.png' in capsys.readouterr().out


def test_samples_of_the_splits(tiny_run, tmp_path):
  out = tmp_path / 'sampled.json'
  assert neighbours.main([tiny_run, f'--out={out}', '--max_train=50', '--max_queries=7',
                          '--layer=conv5', '--shown=0']) == 0
  record = json.loads(out.read_text())
  assert record['database']['examples'] == 50 and record['queries']['examples'] == 7
  assert record['layer'] == 'conv5' and record['shown'] == []


@pytest.mark.parametrize('flags, message', [
    (['--layer=fc9'], "--layer=fc9: "),
    (['--k=0'], '--k=0: expected at least 1'),
    (['--k=201'], '--k=201: expected 1 to 200'),
    (['--shown=-1'], '--shown=-1'),
])
def test_bad_input_is_one_line_and_writes_nothing(tiny_run, tmp_path, capsys, flags, message):
  out = tmp_path / 'bad.json'
  assert neighbours.main([tiny_run, f'--out={out}', *flags]) == 2
  error = capsys.readouterr().err.strip()
  assert error.startswith('error: ' + message) and '\n' not in error
  assert not list(tmp_path.iterdir())


def test_a_directory_without_a_checkpoint_is_one_line(tmp_path, capsys):
  assert neighbours.main([str(tmp_path), f'--out={tmp_path / "x.json"}']) == 2
  error = capsys.readouterr().err.strip()
  assert error.startswith('error: ') and '\n' not in error
  assert not (tmp_path / 'x.json').exists()


def test_distance_percentiles_count_the_rows_strictly_nearer():
  database = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
  queries = np.array([[0.1], [2.9]], np.float32)
  shares = neighbours.distance_percentiles(queries, database, [[0, 3], [3, 0]], block=1)
  np.testing.assert_allclose(shares, [[0.0, 0.75], [0.0, 0.75]])


def test_a_search_too_large_for_memory_is_refused_before_embedding(tiny_run, tmp_path, capsys,
                                                                   monkeypatch):
  # The tiny net's fc7 and inputs are a few KB per image; a machine of 1 MB cannot hold 237.
  monkeypatch.setattr(neighbours, 'physical_memory_bytes', lambda: 1 << 20)
  monkeypatch.setattr(neighbours, 'embed', lambda *a, **k: pytest.fail('embedded'))
  out = tmp_path / 'big.json'
  assert neighbours.main([tiny_run, f'--out={out}']) == 2
  error = capsys.readouterr().err.strip()
  assert '--max_train=' in error and '\n' not in error
  assert not list(tmp_path.iterdir())


@pytest.mark.parametrize('layer', ['conv1_conv', 'conv1', 'conv5', 'fc7', 'fc8'])
def test_feature_size_is_what_features_gives(tiny_run, layer):
  net = alexnet_jax.load(tiny_run)
  inputs = net.preprocess(tiny_arrays(2, 3)[0])
  assert net.feature_size(layer) == net.features(inputs, layer).reshape(2, -1).shape[1]
