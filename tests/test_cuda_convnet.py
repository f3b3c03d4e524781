"""cuda-convnet's CIFAR-10 nets against direct implementations of its conventions."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alexnet_jax import errors, summary, train, validation
from alexnet_jax.config import presets
from alexnet_jax.data import input_pipeline
from alexnet_jax.models import alexnet, cuda_convnet, layers
from alexnet_jax.ops import window_sums
from alexnet_jax.training import optimizers, step_functions
from tests.conftest import DISTINCT_NETS, TINY_SIZE, make_tiny_config


def _cc_config(variant='cc_11pct', **model):
  config = presets.base_config('cuda_convnet')
  config.model.variant = variant
  for key, value in model.items():
    config.model[key] = value
  return config


def _init(config, size=24):
  model = alexnet.create_model(config.model)
  return model, alexnet.init_params(model, jax.random.key(0), (size, size, 3))


@pytest.mark.parametrize('variant, expected', [
    ('cc_11pct', 2_112_970), ('cc_11pct_no_rnorm', 2_112_970), ('cc_11pct_r540', 1_116_490),
    ('cc_13pct', 1_116_490), ('cc_18pct', 85_098)])
def test_parameter_counts(variant, expected):
  # r541: conv1 5*5*3*64+64, conv2 5*5*64*64+64, local3 36*(9*64*64+64),
  # local4 36*(9*64*32+32), fc10 6*6*32*10+10. r540 and 13pct: local3 36*(9*64*32+32),
  # local4 36*(9*32*32+32). 18pct: 2432+25632+51264+5770.
  _, params = _init(_cc_config(variant))
  assert alexnet.count_params(params) == expected


# layers-conv-local-11pct.cfg and layer-params-conv-local-11pct.cfg at svn r541 (git
# a2a6af8), written out from the files: (section, type, filters or size, initW or scale,
# wc); `pool` sizeX=3 stride=2 max. The test below maps every section onto NETS.
R541 = (
    ('conv1', 'conv', 64, 0.0001, 0.0), ('pool1', 'pool', 3, None, None),
    ('rnorm1', 'cmrnorm', 9, 0.001, None), ('conv2', 'conv', 64, 0.01, 0.0),
    ('rnorm2', 'cmrnorm', 9, 0.001, None), ('pool2', 'pool', 3, None, None),
    ('local3', 'local', 64, 0.04, 0.004), ('local4', 'local', 32, 0.04, 0.004),
    ('fc10', 'fc', 10, 0.01, 0.01))


def test_cc_11pct_is_r541_layer_for_layer():
  net = cuda_convnet.NETS['cc_11pct']
  assert [layer.name for layer in net.layers] == [section for section, *_ in R541]
  for layer, (section, kind, size, init_or_scale, wc) in zip(net.layers, R541):
    if kind in ('conv', 'local'):
      assert isinstance(layer, cuda_convnet.ConvLayer if kind == 'conv' else
                        cuda_convnet.LocalLayer), section
      assert (layer.filters, layer.size, layer.padding, layer.neuron) == (size, 5 if kind == 'conv'
                                                                          else 3, 2 if kind ==
                                                                          'conv' else 1, True)
      assert (layer.init_std, layer.weight_decay) == (init_or_scale, wc), section
    elif kind == 'pool':
      assert isinstance(layer, cuda_convnet.PoolLayer) and layer.kind == 'max'
      assert (layer.size, layer.stride, layer.neuron) == (3, 2, False)
    elif kind == 'cmrnorm':
      assert isinstance(layer, cuda_convnet.NormLayer) and layer.kind == 'cross_map'
      assert (layer.size, layer.scale, layer.power) == (size, init_or_scale, 0.75)
    else:
      assert isinstance(layer, cuda_convnet.DenseLayer)
      assert (layer.init_std, layer.weight_decay) == (init_or_scale, wc)
  assert (net.learning_rate, net.bias_lr_multiplier, net.momentum) == (0.001, 2.0, 0.9)


@pytest.mark.parametrize('variant, shapes, order', [
    ('cc_11pct', {'conv1': [24, 24, 64], 'pool1': [12, 12, 64], 'rnorm1': [12, 12, 64],
                  'conv2': [12, 12, 64], 'rnorm2': [12, 12, 64], 'pool2': [6, 6, 64],
                  'local3': [6, 6, 64], 'local4': [6, 6, 32], 'fc10': [10]},
     ['conv1', 'pool1', 'rnorm1', 'conv2', 'rnorm2', 'pool2', 'local3', 'local4', 'fc10']),
    ('cc_11pct_r540', {'rnorm1': [24, 24, 64], 'pool1': [12, 12, 64], 'pool2': [6, 6, 64],
                       'local3': [6, 6, 32], 'local4': [6, 6, 32], 'fc10': [10]},
     ['conv1', 'rnorm1', 'pool1', 'conv2', 'rnorm2', 'pool2', 'local3', 'local4', 'fc10'])])
def test_summary_shows_cuda_convnets_map_sizes(variant, shapes, order):
  table = summary.layer_table(_cc_config(variant))
  got = {row['name']: row['output_shape'] for row in table['layers']}
  assert {name: got[name] for name in shapes} == shapes
  assert [row['name'] for row in table['layers']] == order


@pytest.mark.parametrize('without, with_norm', [('cc_13pct', 'cc_11pct_r540'),
                                                ('cc_11pct_no_rnorm', 'cc_11pct')])
def test_the_twin_is_the_net_without_response_norm(without, with_norm):
  images = jax.random.normal(jax.random.key(1), (2, 24, 24, 3)) * 50
  model_without, params = _init(_cc_config(without))
  model_off = alexnet.create_model(_cc_config(with_norm, lrn=False).model)
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(
      jnp.shape, alexnet.init_params(model_off, jax.random.key(0), (24, 24, 3)))
  np.testing.assert_allclose(model_off.apply({'params': params}, images),
                             model_without.apply({'params': params}, images), rtol=1e-6)
  assert cuda_convnet.update_rules(without) == cuda_convnet.update_rules(with_norm)
  # ... and the response norms do change the output, once the maps are large enough
  # (the files' initW 0.0001 leaves conv1's outputs too small for 1 + scale * sum x^2).
  params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.key(p.size), p.shape),
                        params)
  model_on = alexnet.create_model(_cc_config(with_norm).model)
  assert not np.allclose(model_on.apply({'params': params}, images),
                         model_without.apply({'params': params}, images), rtol=1e-2)


def _cross_map_direct(x, size, scale, power):
  """cuda-convnet's kFCNorm loop: maps i - size//2 .. i - size//2 + size - 1, the
  parser's scale / size, the additive 1."""
  out = np.empty_like(x)
  channels = x.shape[-1]
  for i in range(channels):
    lo, hi = max(0, i - size // 2), min(channels, i - size // 2 + size)
    denom = 1 + scale / size * np.sum(x[..., lo:hi] ** 2, axis=-1)
    out[..., i] = x[..., i] * denom ** -power
  return out


def _spatial_direct(x, size, scale, power):
  """cuda-convnet's kCNorm2 loop: a size x size window of the same map, clipped,
  the parser's scale / size**2."""
  out = np.empty_like(x)
  _, height, width, _ = x.shape
  for p in range(height):
    for q in range(width):
      rows = slice(max(0, p - size // 2), min(height, p - size // 2 + size))
      cols = slice(max(0, q - size // 2), min(width, q - size // 2 + size))
      denom = 1 + scale / size ** 2 * np.sum(x[:, rows, cols] ** 2, axis=(1, 2))
      out[:, p, q] = x[:, p, q] * denom ** -power
  return out


@pytest.mark.parametrize('size', [5, 4, 9])
def test_cross_map_norm_maps_onto_lrn(size):
  from alexnet_jax.ops import lrn
  x = np.random.default_rng(0).normal(0, 30, (2, 3, 3, 16)).astype(np.float32)
  layer = cuda_convnet.NormLayer('rnorm1', 'cross_map', size, 0.001)
  params = cuda_convnet.cross_map_params(layer)
  assert params.k == 1.0 and params.n == size and params.alpha == pytest.approx(0.001 / size)
  np.testing.assert_allclose(lrn.local_response_norm_reference(jnp.asarray(x), *params),
                             _cross_map_direct(x, size, 0.001, 0.75), rtol=2e-5)
  np.testing.assert_allclose(lrn.local_response_norm(jnp.asarray(x), *params),
                             _cross_map_direct(x, size, 0.001, 0.75), rtol=2e-5)


@pytest.mark.parametrize('size', [3, 4])
def test_spatial_norm_is_cuda_convnets(size):
  x = np.random.default_rng(1).normal(0, 30, (2, 7, 6, 3)).astype(np.float32)
  np.testing.assert_allclose(window_sums.spatial_response_norm(jnp.asarray(x), size, 5e-5, 0.75),
                             _spatial_direct(x, size, 5e-5, 0.75), rtol=2e-5)


@pytest.mark.parametrize('size, window, stride', [(24, 3, 2), (12, 3, 2), (6, 3, 2), (25, 3, 2),
                                                  (24, 2, 2), (7, 3, 3), (5, 3, 1)])
def test_pooling_counts_windows_like_cuda_convnet(size, window, stride):
  expected = int(math.ceil((size - window) / stride)) + 1  # PoolLayerParser.parse
  assert cuda_convnet.pool_output_size(size, window, stride) == expected
  x = np.random.default_rng(2).normal(size=(1, size, size, 2)).astype(np.float32)
  got_max = np.asarray(cuda_convnet.max_pool(jnp.asarray(x), window, stride))
  got_avg = np.asarray(cuda_convnet.avg_pool(jnp.asarray(x), window, stride))
  assert got_max.shape == got_avg.shape == (1, expected, expected, 2)
  for i in range(expected):
    for j in range(expected):
      region = x[:, i * stride:i * stride + window, j * stride:j * stride + window]  # clipped
      np.testing.assert_allclose(got_max[:, i, j], region.max(axis=(1, 2)), rtol=1e-6)
      np.testing.assert_allclose(got_avg[:, i, j], region.mean(axis=(1, 2)), rtol=1e-5,
                                 atol=1e-6)


def test_overlapping_and_non_overlapping_pools_give_the_same_sizes():
  for name in layers.POOLING:
    sizes = dict(cuda_convnet.feature_map_sizes('cc_11pct', 24, name))
    assert (sizes['pool1'], sizes['pool2'], sizes['local4']) == (12, 6, 6)


@pytest.mark.parametrize('bias_rate_drops', [False, True])
def test_update_rule_by_hand_over_two_steps_with_a_rate_drop(bias_rate_drops):
  """Weights.update: inc = mom*inc - epsW*(g + wc*w); w += inc; biases epsB = 2 epsW,
  no decay; then epsW drops tenfold and the old increments are kept. The 11pct
  header lowers epsW only: epsB stays 0.002 (bias_rate_drops=True: it drops too)."""
  rules = cuda_convnet.update_rules('cc_11pct')
  config = _cc_config()
  config.optimizer.bias_rate_drops = bias_rate_drops
  optimizer = optimizers.create_optimizer(config.optimizer, model_variant='cc_11pct')
  rng = np.random.default_rng(3)
  params = {'conv1': {'kernel': rng.normal(size=(2, 3)), 'bias': rng.normal(size=(3,))},
            'local3': {'kernel': rng.normal(size=(2, 3)), 'bias': rng.normal(size=(3,))},
            'fc10': {'kernel': rng.normal(size=(2, 3)), 'bias': rng.normal(size=(3,))}}
  params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
  grads = [jax.tree.map(lambda a: jnp.asarray(rng.normal(size=a.shape), jnp.float32), params)
           for _ in range(2)]
  decay = {name: wc for name, wc, _ in rules}
  assert decay['conv1'] == 0.0 and decay['local3'] == 0.004 and decay['fc10'] == 0.01
  state = optimizer.init(params)
  expected = jax.tree.map(np.asarray, params)
  inc = jax.tree.map(np.zeros_like, expected)
  for step, (grad, eps) in enumerate(zip(grads, (0.001, 0.0001))):
    state = optimizers.with_learning_rate(state, eps)
    updates, state = optimizer.update(grad, state, params)
    params = jax.tree.map(lambda p, u: p + u, params, updates)
    eps_b = 2 * (eps if bias_rate_drops else 0.001)
    for layer in expected:
      w, b = expected[layer]['kernel'], expected[layer]['bias']
      g_w, g_b = np.asarray(grad[layer]['kernel']), np.asarray(grad[layer]['bias'])
      inc[layer]['kernel'] = 0.9 * inc[layer]['kernel'] - eps * (g_w + decay[layer] * w)
      inc[layer]['bias'] = 0.9 * inc[layer]['bias'] - eps_b * g_b
      expected[layer] = {'kernel': w + inc[layer]['kernel'], 'bias': b + inc[layer]['bias']}
    for layer in expected:
      for kind in ('kernel', 'bias'):
        np.testing.assert_allclose(params[layer][kind], expected[layer][kind], rtol=1e-5,
                                   err_msg=f'step {step} {layer}/{kind}')


def test_figure1_rule_has_no_weight_decay():
  rules = cuda_convnet.update_rules('cc_13pct', layer_weight_decay=False)
  assert all(decay == 0.0 for _, decay, _ in rules)


def test_multiview_is_the_four_corners_the_center_and_their_flips():
  images = np.random.default_rng(4).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
  views = input_pipeline.ten_views(images, 24)
  assert views.shape == (3, 10, 24, 24, 3)
  starts = [(0, 0), (0, 8), (8, 0), (8, 8), (4, 4)]  # convdata.py: border*2 corners, center
  expected = [images[:, r:r + 24, c:c + 24] for r, c in starts]
  expected += [view[:, :, ::-1] for view in expected]
  for got in np.moveaxis(views, 1, 0):
    assert any(np.array_equal(got, view) for view in expected)
  assert len({np.asarray(v).tobytes() for v in np.moveaxis(views, 1, 0)}) == 10


def test_multiview_eval_averages_the_softmax_of_the_ten_views():
  config = _cc_config()
  model, params = _init(config)
  images = jax.random.normal(jax.random.key(5), (2, 10, 24, 24, 3)) * 40
  labels = jnp.array([1, 7])
  metrics = step_functions.make_eval_step(model)(params, {'image': images, 'label': labels})
  probs = jax.nn.softmax(model.apply({'params': params}, images.reshape(20, 24, 24, 3)))
  mean = probs.reshape(2, 10, -1).mean(axis=1)
  expected_loss = -jnp.sum(jnp.log(mean[jnp.arange(2), labels]))
  np.testing.assert_allclose(metrics['loss_sum'], expected_loss, rtol=1e-5)


def test_cuda_convnet_normalization_is_raw_pixels_minus_the_mean_images_center():
  config = _cc_config()
  mean_image = np.random.default_rng(6).random((32, 32, 3))
  pre = input_pipeline.Preprocessor(config, {'pixel_mean': mean_image.tolist(),
                                             'channel_mean': [0.5] * 3})
  images = np.random.default_rng(7).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
  got = pre.eval(images)
  expected = images[:, 4:28, 4:28].astype(np.float32) - 255 * mean_image[4:28, 4:28]
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('key, value', [('columns', 3), ('dropout_rate', 0.5),
                                        ('width_multiplier', 0.5), ('lrn_k', 2.5)])
def test_knobs_the_layer_file_fixes_are_refused(key, value):
  config = _cc_config()
  config.model[key] = value
  with pytest.raises(errors.ConfigError, match=f'config.model.{key}='):
    validation.validate_config(config)


def _one_column_equivalent(variant, column_params, one_column_params):
  """The file's one-column net with the two-column net's weights: a layer that reads
  one column gets its columns' kernels on the block diagonal (zeros across), a layer
  that reads the image or both columns their kernels side by side."""
  def layer(name, full):
    parts = [column_params[f'column{c}'][name] for c in (0, 1)]
    kernel = np.zeros(full['kernel'].shape, np.float32)
    cin, cout = parts[0]['kernel'].shape[-2:]
    for c, part in enumerate(parts):
      rows = slice(None) if cin == kernel.shape[-2] else slice(c * cin, (c + 1) * cin)
      kernel[..., rows, c * cout:(c + 1) * cout] = part['kernel']
    return {'kernel': kernel, 'bias': np.concatenate([p['bias'] for p in parts], axis=-1)}
  return {name: (column_params[name] if name in column_params else layer(name, full))
          for name, full in one_column_params.items()}


@pytest.mark.parametrize('variant, lrn', [('cc_11pct', False), ('cc_18pct', True)])
def test_two_columns_are_the_file_net_with_no_weights_across_columns(variant, lrn):
  """Without cross-map normalization (whose windows would cross the columns' boundary)
  the two-column net computes what the file's net does with block-diagonal weights
  where a layer reads its own column: conv1 and the exchange layer read everything.
  cc_18pct's rnorm is spatial (within each map), so it keeps it."""
  configs = (_cc_config(variant, columns=2, lrn=lrn), _cc_config(variant, lrn=lrn))
  model_two, model_one = (alexnet.create_model(config.model) for config in configs)
  shapes = [summary._shapes(config)[0] for config in configs]
  rng = np.random.default_rng(2)  # every weight and bias drawn, none zero
  params_two = jax.tree.map(
      lambda leaf: np.float32(0.05) * rng.standard_normal(leaf.shape, np.float32), shapes[0])
  joined = _one_column_equivalent(variant, params_two, shapes[1])
  images = jax.random.normal(jax.random.key(1), (3, 24, 24, 3)) * 40
  two_logits = jax.jit(model_two.apply)({'params': params_two}, images)
  one_logits = jax.jit(model_one.apply)({'params': joined}, images)
  np.testing.assert_allclose(two_logits, one_logits, rtol=2e-4, atol=2e-4)


def test_two_columns_split_every_filter_layer_and_join_at_the_exchange():
  params = summary._shapes(_cc_config('cc_11pct', columns=2))[0]
  assert set(params) == {'column0', 'column1', 'fc10'}
  shapes = {name: layer['kernel'].shape for name, layer in params['column1'].items()}
  assert shapes['conv1'] == (5, 5, 3, 32) and shapes['conv2'] == (5, 5, 32, 32)
  assert shapes['local3'][-2:] == (64, 32) and shapes['local4'][-2:] == (32, 16)
  table = summary.layer_table(_cc_config('cc_11pct', columns=2))
  reads = {row['name']: row['reads'] for row in table['layers']}
  assert reads['local3'] == reads['fc10'] == 'both' and reads['conv2'] == 'own'
  assert table['total_params'] == alexnet.count_params(params)
  assert table['columns'] == 2 and 'reads' in summary.format_table(table)


def test_column_layers_follow_their_files_weight_decay():
  """cuda-convnet's rule by layer name inside the columns: from a zero velocity and a
  zero gradient, a step is -epsW * wc * w (conv1: wc 0; local3 0.004; fc10 0.01)."""
  config = _cc_config('cc_11pct', columns=2)
  rng = np.random.default_rng(5)
  params = jax.tree.map(lambda leaf: rng.standard_normal(leaf.shape, np.float32),
                        summary._shapes(config)[0])
  optimizer = optimizers.create_optimizer(config.optimizer, model_variant='cc_11pct')
  updates, _ = optimizer.update(jax.tree.map(jnp.zeros_like, params), optimizer.init(params),
                                params)
  eps = config.optimizer.learning_rate
  for path, wc in ((('column1', 'conv1'), 0.0), (('column0', 'local3'), 0.004),
                   (('column1', 'local4'), 0.004), (('fc10',), 0.01)):
    got, w = updates, params
    for key in path:
      got, w = got[key], w[key]
    np.testing.assert_allclose(got['kernel'], -eps * wc * np.asarray(w['kernel']),
                               rtol=1e-5, atol=1e-12, err_msg='/'.join(path))


def test_features_of_a_two_column_net_join_the_columns_and_reach_fc10():
  """alexnet_jax.load's Network on a two-column cuda-convnet net: a column layer's maps
  joined (column 0 first), fc10 outside the columns, and only the table's layer names
  (the files' conv rows are already the maps the next layer reads)."""
  from alexnet_jax import api
  config = _cc_config('cc_11pct', columns=2)
  rng = np.random.default_rng(6)
  params = jax.tree.map(lambda leaf: np.float32(0.05) * rng.standard_normal(leaf.shape, np.float32),
                        summary._shapes(config)[0])
  net = api.Network(config, params, 0, '', '')
  assert 'conv1_conv' not in net.layers and 'fc10' in net.layers
  x = np.asarray(jax.random.normal(jax.random.key(3), (2, 24, 24, 3)) * 40)
  parts = net.features(x, 'pool1', joined=False)
  assert [part.shape for part in parts] == [(2, 12, 12, 32)] * 2
  np.testing.assert_array_equal(net.features(x, 'pool1'), np.concatenate(parts, axis=-1))
  np.testing.assert_allclose(net.features(x, 'fc10'), net.logits(x), rtol=1e-6)
  assert net.feature_size('local3') == 6 * 6 * 64


def test_layer_ranges_with_the_nets_parameters_compose_to_the_net():
  """LayerRange, the slices the columns run and the layer-times tool compiles one by one,
  computes the net: its layers one at a time, each with the net's own parameters."""
  config = _cc_config('cc_11pct')
  model, params = _init(config)
  images = jax.random.normal(jax.random.key(4), (2, 24, 24, 3)) * 40
  x = images
  for index, layer in enumerate(cuda_convnet.NETS['cc_11pct'].layers):
    own = {layer.name: params[layer.name]} if layer.name in params else {}
    x = cuda_convnet.LayerRange(variant='cc_11pct').apply({'params': own}, x, index, index + 1)
  np.testing.assert_allclose(x, model.apply({'params': params}, images), rtol=1e-5, atol=1e-5)


def test_layer_times_tool_times_every_layer_at_its_own_shapes(tmp_path):
  from experiments import cuda_convnet_layer_times
  report = cuda_convnet_layer_times.main(
      ['--variant=cc_18pct', '--batch_size=2', '--rounds=1', '--calls=1', '--warmup=1',
       '--frameworks=jax', f'--out={tmp_path}'])
  layers = report['layers']
  assert [layer['name'] for layer in layers] == [
      layer.name for layer in cuda_convnet.NETS['cc_18pct'].layers]
  for before, after in zip(layers, layers[1:]):
    assert after['input_shape'] == before['output_shape']
  assert layers[-1]['output_shape'] == [10]
  assert all(layer['ms']['jax'] > 0 and layer['ms']['jax_forward'] > 0 for layer in layers)
  assert (tmp_path / 'cc_18pct.json').exists()


def test_columns_on_two_devices_are_refused_for_cuda_convnets_nets():
  config = _cc_config('cc_11pct', columns=2)
  config.parallel.model_devices = 2
  with pytest.raises(errors.ConfigError, match='config.parallel.model_devices=2'):
    validation.validate_config(config)


def test_cuda_convnet_optimizer_needs_a_cuda_convnet_net(small_config):
  small_config.optimizer.name = 'cuda_convnet'
  with pytest.raises(errors.ConfigError, match='optimizer.name'):
    validation.validate_config(small_config)


def test_too_small_an_input_is_refused_naming_the_layer():
  config = _cc_config()
  config.data.image_size = 4
  with pytest.raises(errors.ConfigError, match='image_size=4'):
    validation.validate_config(config)


@pytest.mark.parametrize('ten_views', [False, True])
def test_a_crop_larger_than_the_images_is_one_line(tiny_config, ten_views):
  tiny_config.data.image_size = TINY_SIZE + 2
  tiny_config.data.ten_views = ten_views
  with pytest.raises(errors.ConfigError, match=f'larger than the {TINY_SIZE}x{TINY_SIZE}'):
    input_pipeline.dataset_info(tiny_config)


@pytest.mark.parametrize('variant, columns', [*((net, 1) for net in DISTINCT_NETS),
                                              ('cc_11pct', 2)])
def test_one_epoch_on_the_tiny_dataset(tiny_data_dir, tmp_path, variant, columns):
  config = make_tiny_config(tiny_data_dir)
  presets.cuda_convnet_config(config, variant=variant)
  config.model.columns = columns
  config.data.name = 'tiny_quadrants'
  config.data.data_dir = tiny_data_dir
  config.data.image_size = TINY_SIZE
  config.data.flip = False
  config.model.num_classes = 4
  config.batch_size = 16
  config.num_epochs = 1.0
  config.eval_every_steps = -1
  config.checkpoint.every_steps = 100
  validation.validate_config(config)
  result = train.train_and_evaluate(config, str(tmp_path))
  assert result['num_examples'] == 37 and math.isfinite(result['loss'])
  assert (tmp_path / 'metrics.jsonl').exists()


@pytest.mark.parametrize('a, b', [(1.0, 1.0), (1.7159, 2 / 3)])
def test_tanh_neuron_is_a_tanh_bx(a, b):
  """cuda-convnet's tanh[a,b] neuron (neuron.cuh): every neuron of the net is a*tanh(b*x)."""
  images = jax.random.normal(jax.random.key(2), (2, 24, 24, 3)) * 50
  config = _cc_config('cc_13pct', activation='tanh', tanh_a=a, tanh_b=b)
  model, params = _init(config)
  _, state = model.apply({'params': params}, images, mutable=['intermediates'])
  conv1 = alexnet.create_model(_cc_config('cc_13pct', activation='relu').model).apply(
      {'params': params}, images, mutable=['intermediates'])[1]
  # conv1's pre-activation is ReLU's output where positive: compare on those positions.
  pre = np.asarray(conv1['intermediates']['conv1_out'][0])
  got = np.asarray(state['intermediates']['conv1_out'][0])
  positive = pre > 0
  np.testing.assert_allclose(got[positive], a * np.tanh(b * pre[positive]), rtol=1e-5, atol=1e-7)
  assert np.all(np.abs(got) <= a + 1e-6)


def test_step_benchmark_runs_without_torch_and_names_an_unknown_framework(tmp_path, capsys):
  from experiments import benchmark_cuda_convnet_vs_torch as benchmark
  with pytest.raises(SystemExit) as exit_info:
    benchmark.main(['--frameworks=jax', f'--out={tmp_path}'])
  assert exit_info.value.code == 2
  assert '--frameworks: unknown jax; choose from alexnet_jax,' in capsys.readouterr().err
  report = benchmark.main(['--variants=cc_18pct', '--batch_size=2', '--rounds=1', '--calls=1',
                           '--warmup=1', '--frameworks=alexnet_jax', f'--out={tmp_path}'])
  assert report['torch_version'] is None
  assert not [key for key in report['results']['cc_18pct'] if key.startswith('torch')]
  assert report['results']['cc_18pct']['alexnet_jax']['step_ms'] > 0
  assert (tmp_path / 'results.json').exists()
