"""The network: shapes, parameter counts, initialization, knobs, and the column
split checked against an independent grouped-convolution formulation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alexnet_jax import summary
from alexnet_jax.models import alexnet
from alexnet_jax.ops import lrn


def shapes_of(config):
  table = summary.layer_table(config)
  return {row['name']: tuple(row['output_shape']) for row in table['layers']}, table


def owt(config):
  config.model.variant = 'owt'
  config.model.columns = 1
  config.model.lrn = False
  config.data.image_size = 224
  return config


PAPER_SHAPES = {'conv1': (27, 27, 96), 'conv2': (13, 13, 256), 'conv3': (13, 13, 384),
                'conv4': (13, 13, 384), 'conv5': (6, 6, 256), 'fc6': (4096,), 'fc7': (4096,),
                'fc8': (1000,)}
OWT_SHAPES = {'conv1': (27, 27, 64), 'conv2': (13, 13, 192), 'conv3': (13, 13, 384),
              'conv4': (13, 13, 256), 'conv5': (6, 6, 256), 'fc6': (4096,), 'fc7': (4096,),
              'fc8': (1000,)}


def test_paper_shapes_and_counts(paper_config):
  shapes, table = shapes_of(paper_config)
  assert shapes == PAPER_SHAPES
  assert table['total_params'] == 60_965_224  # Caffe's bvlc_alexnet
  assert table['total_macs'] == pytest.approx(0.724e9, rel=2e-3)
  # conv1 maps before pooling are the 55x55 of Figure 2 (48 per column).
  model = alexnet.create_model(paper_config.model)
  params = jax.eval_shape(lambda: alexnet.init_params(model, jax.random.key(0), (227, 227, 3)))
  _, state = jax.eval_shape(lambda p: model.apply(
      {'params': p}, jnp.zeros((1, 227, 227, 3)), mutable=['intermediates']), params)
  assert state['intermediates']['column0']['conv1_conv'][0].shape == (1, 55, 55, 48)
  assert state['intermediates']['column1']['conv2_conv'][0].shape == (1, 27, 27, 128)


def test_owt_shapes_and_counts(paper_config):
  shapes, table = shapes_of(owt(paper_config))
  assert shapes == OWT_SHAPES
  assert table['total_params'] == 61_100_840  # torchvision's alexnet
  assert table['total_macs'] == pytest.approx(0.714e9, rel=2e-3)


@pytest.mark.parametrize('image_size,channels', [(32, 3), (28, 1)])
def test_small_shapes(small_config, image_size, channels):
  small_config.data.image_size, small_config.data.channels = image_size, channels
  shapes, _ = shapes_of(small_config)
  first = image_size // 2
  assert shapes['conv1'] == (first, first, 64)
  assert shapes['conv2'] == (first // 2, first // 2, 64)
  assert shapes['conv5'] == (4, 4, 64)
  assert shapes['fc8'] == (10,)


@pytest.mark.parametrize('variant_setup,size', [('paper', 227), ('small', 32), ('small', 28)])
def test_non_overlapping_pooling_gives_the_same_sizes(paper_config, small_config,
                                                      variant_setup, size):
  """Paper section 3.4: z=2, s=2 pooling gives the same output size as z=3, s=2."""
  config = paper_config if variant_setup == 'paper' else small_config
  config.data.image_size = size
  overlapping, _ = shapes_of(config)
  config.model.pooling = 'non_overlapping'
  non_overlapping, _ = shapes_of(config)
  assert overlapping == non_overlapping


@pytest.fixture(scope='module')
def small_setup():
  from alexnet_jax.config import default
  config = default.get_config()
  config.data.image_size, config.data.channels = 32, 3
  config.model.init = 'paper'
  model = alexnet.create_model(config.model)
  params = alexnet.init_params(model, jax.random.key(0), (32, 32, 3))
  images = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
  return config, model, params, images


def test_column_tree_is_addressable(small_setup):
  _, _, params, _ = small_setup
  assert set(params) == {'column0', 'column1', 'fc8'}
  for layer in ('conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7'):
    assert params['column0'][layer]['kernel'].shape == params['column1'][layer]['kernel'].shape
  # conv2/conv4/conv5 see their own column (half the maps), conv3 and fc6 see both.
  assert params['column0']['conv2']['kernel'].shape == (5, 5, 32, 32)
  assert params['column0']['conv3']['kernel'].shape == (3, 3, 64, 48)
  assert params['column0']['conv4']['kernel'].shape == (3, 3, 48, 48)
  assert params['column0']['fc6']['kernel'].shape == (4 * 4 * 64, 128)
  assert params['column0']['fc7']['kernel'].shape == (256, 128)
  assert params['fc8']['kernel'].shape == (256, 10)


def test_init_statistics_paper(small_setup):
  _, _, params, _ = small_setup
  fc6 = np.asarray(params['column0']['fc6']['kernel'])
  assert abs(fc6.mean()) < 1e-4 and fc6.std() == pytest.approx(0.01, rel=0.02)
  biases = {layer: np.unique(np.asarray(params['column1'][layer]['bias']))
            for layer in params['column1']}
  for layer in ('conv2', 'conv4', 'conv5', 'fc6', 'fc7'):
    assert biases[layer].tolist() == [1.0], layer
  for layer in ('conv1', 'conv3'):
    assert biases[layer].tolist() == [0.0], layer
  assert np.all(np.asarray(params['fc8']['bias']) == 0)


def test_init_statistics_he(small_config):
  small_config.model.init = 'he'  # the default for small nets, set explicitly
  model = alexnet.create_model(small_config.model)
  params = alexnet.init_params(model, jax.random.key(0), (28, 28, 1))
  fc6 = np.asarray(params['column0']['fc6']['kernel'])
  assert fc6.std() == pytest.approx(np.sqrt(2.0 / fc6.shape[0]), rel=0.03)
  assert all(np.all(np.asarray(b) == 0) for b in jax.tree.leaves(
      {k: v['bias'] for k, v in params['column0'].items()}))


def grouped_reference(params, images, *, lrn_params, lrn_across_columns=False, window=3,
                      stride=2, padding='SAME', removed=()):
  """The small two-column net written the other way: whole layers with
  feature_group_count=2 for the column-private convolutions and per-half LRN
  (`lrn_across_columns`: LRN over all maps, as Caffe does); the middle conv layers in
  `removed` skipped, the first conv layer after conv2 seeing both columns."""
  def cat_kernels(layer):
    return jnp.concatenate([params['column0'][layer]['kernel'],
                            params['column1'][layer]['kernel']], axis=-1)

  def cat_bias(layer):
    return jnp.concatenate([params['column0'][layer]['bias'],
                            params['column1'][layer]['bias']])

  def conv(x, layer, pad, groups):
    y = jax.lax.conv_general_dilated(x, cat_kernels(layer), (1, 1), [(pad, pad)] * 2,
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                     feature_group_count=groups)
    return jax.nn.relu(y + cat_bias(layer))

  def half_lrn(x):
    if lrn_across_columns:
      return lrn.local_response_norm(x, *lrn_params)
    a, b = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([lrn.local_response_norm(a, *lrn_params),
                            lrn.local_response_norm(b, *lrn_params)], -1)

  def pool(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, window, window, 1),
                                 (1, stride, stride, 1), padding)

  x = pool(half_lrn(conv(images, 'conv1', 2, 1)))
  x = pool(half_lrn(conv(x, 'conv2', 2, 2)))
  groups = 1
  for layer in ('conv3', 'conv4', 'conv5'):
    if layer not in removed:
      x, groups = conv(x, layer, 1, groups), 2
  x = pool(x)
  a, b = jnp.split(x, 2, axis=-1)
  x = jnp.concatenate([a.reshape(len(a), -1), b.reshape(len(b), -1)], -1)
  x = jax.nn.relu(x @ cat_kernels('fc6') + cat_bias('fc6'))
  x = jax.nn.relu(x @ cat_kernels('fc7') + cat_bias('fc7'))
  return x @ params['fc8']['kernel'] + params['fc8']['bias']


@pytest.mark.parametrize('lrn_across_columns', [False, True])
def test_columns_equal_grouped_convolution_reference(small_setup, lrn_across_columns):
  config, _, params, images = small_setup
  config = config.copy_and_resolve_references()
  config.model.lrn_across_columns = lrn_across_columns
  model = alexnet.create_model(config.model)
  # Rescale the weights so that activations are large enough for LRN to matter.
  params = jax.tree.map(lambda p: p * 5.0, params)
  got = model.apply({'params': params}, images)
  expected, other = (grouped_reference(params, images, lrn_params=model.spec.lrn_params,
                                       lrn_across_columns=across)
                     for across in (lrn_across_columns, not lrn_across_columns))
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
  assert not np.allclose(got, other, rtol=1e-4, atol=1e-5)  # the knob changes the net


@pytest.mark.parametrize('removed', [('conv3',), ('conv4',), ('conv3', 'conv4')])
def test_removed_layers_are_left_out_and_the_exchange_moves_on(small_setup, removed):
  """The depth ablation's nets (`model.removed_layers`) against the grouped reference:
  the removed layers have no parameters, and when conv3 (the conv stack's exchange) is
  left out, the next kept layer reads both columns."""
  config, _, full_params, images = small_setup
  config = config.copy_and_resolve_references()
  config.model.removed_layers = removed
  model = alexnet.create_model(config.model)
  params = jax.tree.map(lambda p: p * 5.0, alexnet.init_params(model, jax.random.key(0),
                                                               (32, 32, 3)))
  kept = [name for name in ('conv3', 'conv4') if name not in removed]
  assert set(params['column0']) == {'conv1', 'conv2', *kept, 'conv5', 'fc6', 'fc7'}
  first = (kept + ['conv5'])[0]  # reads both columns' 32 + 32 conv2 maps
  assert params['column0'][first]['kernel'].shape[2] == 64
  got = model.apply({'params': params}, images)
  expected = grouped_reference(params, images, lrn_params=model.spec.lrn_params,
                               removed=removed)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
  assert alexnet.count_params(params) < alexnet.count_params(full_params)


@pytest.mark.parametrize('variant,size', [('paper', 227), ('small', 32)])
def test_leaving_out_conv3_or_conv4_gives_the_same_layout(variant, size):
  """ablate_depth.py runs only `no_conv4` because leaving out conv3 instead gives the
  same parameter shapes, with the kept layer under the other name."""
  from alexnet_jax.config import default

  def shapes(removed):
    config = default.get_config('paper' if variant == 'paper' else None)
    config.model.removed_layers = removed
    model = alexnet.create_model(config.model)
    params = jax.eval_shape(lambda: alexnet.init_params(model, jax.random.key(0),
                                                        (size, size, 3)))
    middle = {'conv3': 'middle', 'conv4': 'middle'}
    return {column: {middle.get(name, name): layer['kernel'].shape
                     for name, layer in layers.items()}
            for column, layers in params.items() if column.startswith('column')}

  assert shapes(('conv3',)) == shapes(('conv4',)) != shapes(())


def test_column_private_layers_do_not_see_the_other_column(small_setup):
  _, model, params, images = small_setup

  def intermediates(p):
    _, state = model.apply({'params': p}, images, mutable=['intermediates'])
    return state['intermediates']

  before = intermediates(params)
  perturbed = jax.tree.map(lambda x: x, params)
  perturbed['column1'] = dict(perturbed['column1'])
  perturbed['column1']['conv1'] = jax.tree.map(lambda w: w + 0.05, params['column1']['conv1'])
  after = intermediates(perturbed)
  np.testing.assert_array_equal(before['column0']['conv2_out'][0],
                                after['column0']['conv2_out'][0])
  assert not np.allclose(before['column0']['conv3_out'][0], after['column0']['conv3_out'][0])


def test_one_column_has_full_width(small_config):
  small_config.model.columns = 1
  model = alexnet.create_model(small_config.model)
  params = alexnet.init_params(model, jax.random.key(0), (28, 28, 1))
  assert set(params) == {'column0', 'fc8'}
  assert params['column0']['conv2']['kernel'].shape == (5, 5, 64, 64)
  assert params['column0']['fc6']['kernel'].shape == (4 * 4 * 64, 256)


def test_width_multiplier_scales_convs_only(small_config):
  small_config.model.columns = 1
  small_config.model.width_multiplier = 0.5
  small_config.model.width_exempt = ('conv5',)
  model = alexnet.create_model(small_config.model)
  params = jax.eval_shape(lambda: alexnet.init_params(model, jax.random.key(0), (28, 28, 1)))
  kernels = {k: v['kernel'].shape[-1] for k, v in params['column0'].items()}
  assert kernels == {'conv1': 32, 'conv2': 32, 'conv3': 48, 'conv4': 48, 'conv5': 64,
                     'fc6': 256, 'fc7': 256}


def forward(config, params, images, **kwargs):
  return alexnet.create_model(config.model).apply({'params': params}, images, **kwargs)


@pytest.mark.parametrize('field,value', [('activation', 'tanh'), ('lrn', False),
                                         ('pooling', 'non_overlapping'), ('lrn_k', 1.0)])
def test_knob_changes_outputs_not_parameters(small_setup, field, value):
  config, _, params, images = small_setup
  config = config.copy_and_resolve_references()
  baseline = forward(config, jax.tree.map(lambda p: p * 5.0, params), images)
  setattr(config.model, field, value)
  model = alexnet.create_model(config.model)
  new_params = jax.eval_shape(lambda: alexnet.init_params(model, jax.random.key(0), (32, 32, 3)))
  assert jax.tree.map(lambda p: p.shape, new_params) == jax.tree.map(jnp.shape, params)
  changed = forward(config, jax.tree.map(lambda p: p * 5.0, params), images)
  assert not np.allclose(baseline, changed, rtol=1e-3)


def test_tanh_activation_is_bounded(small_setup):
  config, _, params, images = small_setup
  config = config.copy_and_resolve_references()
  config.model.activation = 'tanh'
  _, state = alexnet.create_model(config.model).apply(
      {'params': params}, images * 100, mutable=['intermediates'])
  assert np.max(np.abs(state['intermediates']['column0']['conv1_conv'][0])) <= 1.0
  assert np.min(state['intermediates']['column0']['conv1_conv'][0]) < 0


def test_num_classes_sets_fc8(small_config):
  small_config.model.num_classes = 7
  model = alexnet.create_model(small_config.model)
  params = jax.eval_shape(lambda: alexnet.init_params(model, jax.random.key(0), (28, 28, 1)))
  assert params['fc8']['kernel'].shape == (256, 7)


def test_dropout_is_off_in_eval_and_random_in_train(small_setup):
  config, model, params, images = small_setup
  evaluation = model.apply({'params': params}, images, train=False)
  train_a = model.apply({'params': params}, images, train=True, dropout_rng=jax.random.key(1))
  train_b = model.apply({'params': params}, images, train=True, dropout_rng=jax.random.key(2))
  assert not np.allclose(train_a, evaluation) and not np.allclose(train_a, train_b)
  config = config.copy_and_resolve_references()
  config.model.dropout_rate = 0.0
  zero_rate = forward(config, params, images, train=True, dropout_rng=jax.random.key(1))
  np.testing.assert_allclose(zero_rate, evaluation, rtol=1e-6)


def test_dropout_masks_do_not_depend_on_the_batch_split(small_setup):
  _, model, params, images = small_setup
  key = jax.random.key(3)
  whole = model.apply({'params': params}, images, train=True, dropout_rng=key)
  halves = [model.apply({'params': params}, images[i:i + 2], train=True, dropout_rng=key,
                        example_ids=jnp.arange(i, i + 2)) for i in (0, 2)]
  np.testing.assert_allclose(whole, jnp.concatenate(halves), rtol=1e-5, atol=1e-6)


def test_dropout_keeps_half_the_neurons(small_setup):
  _, model, params, _ = small_setup
  x = jnp.ones((64, 256))
  dropped = alexnet._dropout(x, 0.5, jax.random.key(0), jnp.arange(64), salt=1)
  kept = np.asarray(dropped) > 0
  assert kept.mean() == pytest.approx(0.5, abs=0.02)
  assert np.allclose(np.asarray(dropped)[kept], 2.0)


def test_bfloat16_compute_keeps_float32_params(small_setup):
  config, _, params, images = small_setup
  config = config.copy_and_resolve_references()
  config.model.dtype = 'bfloat16'
  model = alexnet.create_model(config.model)
  new_params = alexnet.init_params(model, jax.random.key(0), (32, 32, 3))
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(new_params))
  low = model.apply({'params': params}, images)
  high = forward(small_setup[0], params, images)
  assert low.dtype == jnp.float32
  np.testing.assert_allclose(low, high, rtol=0.05, atol=0.05)


# 3: a shorter last slice (4 images); with LRN across columns, exchanges inside the slices
@pytest.mark.parametrize('conv_chunk,lrn_across_columns', [(1, False), (2, False), (3, False),
                                                           (3, True)])
def test_conv_chunk_computes_the_same_function(small_setup, conv_chunk, lrn_across_columns):
  config, model, params, images = small_setup
  config = config.copy_and_resolve_references()
  config.model.lrn_across_columns = lrn_across_columns
  model = alexnet.create_model(config.model)
  config.model.conv_chunk = conv_chunk
  chunked = alexnet.create_model(config.model)
  key = jax.random.key(5)

  def loss(model, p):
    logits = model.apply({'params': p}, images, train=True, dropout_rng=key)
    return jnp.sum(jax.nn.log_softmax(logits)[:, 0]), logits

  (_, whole), whole_grad = jax.value_and_grad(
      lambda p: loss(model, p), has_aux=True)(params)
  (_, sliced), chunk_grad = jax.value_and_grad(
      lambda p: loss(chunked, p), has_aux=True)(params)
  np.testing.assert_allclose(sliced, whole, rtol=1e-5, atol=1e-6)  # dropout masks included
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               chunk_grad, whole_grad)
  np.testing.assert_allclose(
      chunked.apply({'params': params}, images), model.apply({'params': params}, images),
      rtol=1e-5, atol=1e-6)


def test_feature_map_sizes_are_figure_2s():
  """Figure 2's maps: 55 after conv1 (from 227: see the module docstring), 27 and 13 after
  the two first poolings, 6x6x256 into fc6."""
  assert alexnet.feature_map_sizes('paper', 227, 'overlapping') == {
      'conv1': 55, 'pool1': 27, 'conv2': 27, 'pool2': 13, 'conv3': 13, 'conv4': 13,
      'conv5': 13, 'pool5': 6}
  with pytest.raises(ValueError, match='pooling after conv5'):
    alexnet.feature_map_sizes('paper', 40, 'overlapping')
