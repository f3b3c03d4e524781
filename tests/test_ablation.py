"""A tiny end-to-end ablation: two variants x two seeds with the normal training code,
skipping finished runs, then the report from the run files."""

import json

import jax
import jax.numpy as jnp
import pytest

from alexnet_jax import ablation, errors, validation
from alexnet_jax.config import presets
from alexnet_jax.models import alexnet, cuda_convnet, layers
from alexnet_jax.training import optimizers
from configs import (ablate_bias_init, ablate_columns, ablate_lrn, ablate_pca,
                     ablate_weight_decay)
from tests.conftest import TINY_SIZE


def tiny_ablation(tiny_config):
  config = ablate_lrn.get_config()
  for section in ('data', 'model', 'optimizer', 'checkpoint'):
    config[section].update(tiny_config[section].to_dict())
  for key in ('batch_size', 'eval_batch_size', 'num_train_steps', 'log_every_steps',
              'eval_every_steps'):
    config[key] = tiny_config[key]
  config.num_train_steps = 6
  config.ablation.seeds = (0, 1)
  return config


def test_tiny_ablation_end_to_end(tiny_config, tmp_path, capsys):
  config = tiny_ablation(tiny_config)
  results = ablation.run(config, str(tmp_path))
  assert set(results['variants']) == {'lrn', 'no_lrn'}
  for variant in ('lrn', 'no_lrn'):
    stats = results['variants'][variant]
    assert stats['finished_runs'] == 2
    assert stats['stats']['test_top1_error']['n'] == 2
    run_config = json.loads((tmp_path / variant / 'seed1' / 'config.json').read_text())
    assert run_config['model']['lrn'] == (variant == 'lrn') and run_config['seed'] == 1
  assert (tmp_path / 'results.md').exists() and (tmp_path / 'train_error.png').exists()
  # Each run's error on a sample of its training images, evaluated as the test split is.
  assert config.ablation.train_eval_examples == 10_000  # the presets' value: more than
  for variant in ('lrn', 'no_lrn'):
    on_train = json.loads((tmp_path / variant / 'seed0' / 'eval_train.json').read_text())
    assert on_train['split'] == 'train' and on_train['views'] == 1
    assert on_train['num_examples'] == 200  # the tiny training split's 200, all of them
    stats = results['variants'][variant]['stats']
    assert stats['overfitting_gap']['mean'] == pytest.approx(
        stats['test_top1_error']['mean'] - stats['train_top1_error_eval']['mean'])
  assert '## Overfitting' in (tmp_path / 'results.md').read_text()
  ablation.run(config, str(tmp_path))
  assert capsys.readouterr().out.count('finished earlier, skipped') == 4
  # The small files copied into the repository let another machine skip those runs.
  from experiments import collect_runs
  committed = tmp_path.parent / f'{tmp_path.name}_committed'
  assert len(collect_runs.collect(str(tmp_path), str(committed))) == 4
  assert not list(committed.glob('*/seed*/checkpoints'))
  assert len(list(committed.glob('*/seed*/machines.jsonl'))) == 4  # what each run ran on
  assert len(list(committed.glob('*/seed*/eval_train.json'))) == 4  # the overfitting table
  config.ablation.committed_runs = str(committed)
  elsewhere = tmp_path.parent / f'{tmp_path.name}_elsewhere'
  ablation.run(config, str(elsewhere))
  assert capsys.readouterr().out.count('results are committed in') == 4
  assert not (elsewhere / 'lrn' / 'seed0' / 'metrics.jsonl').exists()


def test_ten_views_eval_adds_the_multiview_test_and_zero_train_examples_skip_theirs(
    tiny_config, tmp_path):
  config = tiny_ablation(tiny_config)
  config.ablation.only = 'lrn/seed0'
  config.ablation.ten_views_eval = True
  config.ablation.train_eval_examples = 0
  config.data.image_size = TINY_SIZE - 2  # crops smaller than the images: 10 views
  results = ablation.run(config, str(tmp_path))
  run_dir = tmp_path / 'lrn' / 'seed0'
  ten_views = json.loads((run_dir / 'eval_ten_views.json').read_text())
  assert ten_views['views'] == 10 and ten_views['split'] == 'test'
  assert ten_views['num_examples'] == 37  # every test image, the partial last batch too
  assert ten_views['step'] == config.num_train_steps  # the last checkpoint
  assert not (run_dir / 'eval_train.json').exists()
  stats = results['variants']['lrn']['stats']
  assert stats['test_top1_error_ten_views']['mean'] == pytest.approx(ten_views['top1_error'])
  assert stats['test_top1_error_ten_views']['n'] == 1


def test_only_and_bad_sweeps(tiny_config):
  config = tiny_ablation(tiny_config)
  config.ablation.train_eval_examples = -1
  with pytest.raises(errors.ConfigError, match='config.ablation.train_eval_examples'):
    ablation.validate(config)
  config = tiny_ablation(tiny_config)
  config.ablation.only = 'no_lrn/seed1'
  assert ablation.planned_runs(config) == [('no_lrn', 1)]
  config.ablation.only = 'no_lrn/seed7'
  with pytest.raises(errors.ConfigError, match='unknown runs'):
    ablation.planned_runs(config)
  config.ablation.only = ''
  config.ablation.baseline = 'nope'
  with pytest.raises(errors.ConfigError, match='config.ablation.baseline'):
    ablation.validate(config)


@pytest.mark.parametrize('module', ['ablate_lrn', 'ablate_activation', 'ablate_pooling',
                                    'ablate_dropout', 'ablate_columns', 'ablate_augmentation',
                                    'ablate_depth'])
@pytest.mark.parametrize('preset', list(presets.PRESETS))
def test_every_ablation_config_is_valid(module, preset):
  import importlib
  get_config = importlib.import_module(f'configs.{module}').get_config
  if preset == 'cuda_convnet' and module not in presets.CUDA_CONVNET_ABLATIONS:
    with pytest.raises(ValueError, match="does not apply"):
      get_config(preset)
    return
  config = get_config(preset)
  validation.validate_config(config)
  ablation.validate(config)


def _conv_kernels_and_parameters(run_config):
  """{conv layer: kernels over all columns}, parameter count: from the built network."""
  model = alexnet.create_model(run_config.model)
  params = jax.eval_shape(lambda: alexnet.init_params(model, jax.random.key(0), (32, 32, 3)))
  kernels = {}
  for column, layers in params.items():
    for name, layer in layers.items() if column.startswith('column') else ():
      if name.startswith('conv'):
        kernels[name] = kernels.get(name, 0) + layer['kernel'].shape[-1]
  return kernels, sum(leaf.size for leaf in jax.tree.leaves(params))


@pytest.mark.parametrize('width', [1.0, 0.5])
def test_one_column_halves_every_conv_but_the_last_at_any_width(width):
  """The paper's one-GPU net (section 3.2) against the two-column net of the same
  config, also when the width comes from the command line (after get_config)."""
  config = ablate_columns.get_config('cifar10')
  config.model.width_multiplier = width  # as --config.model.width_multiplier=... does
  ablation.validate(config)
  two, two_parameters = _conv_kernels_and_parameters(ablation.run_config(config, 'two_columns', 0))
  one, one_parameters = _conv_kernels_and_parameters(ablation.run_config(config, 'one_column', 0))
  assert two == {name: round(k * width) for name, k in
                 {'conv1': 64, 'conv2': 64, 'conv3': 96, 'conv4': 96, 'conv5': 64}.items()}
  assert one == {name: k if name == 'conv5' else k // 2 for name, k in two.items()}
  assert 0.8 < one_parameters / two_parameters < 1.0  # "about the same number"


@pytest.mark.parametrize('preset, key', [('cuda_convnet', 'layer_weight_decay'),
                                         ('imagenette', 'weight_decay'),
                                         ('imagenet', 'weight_decay')])
def test_no_weight_decay_turns_off_the_decay_its_optimizer_reads(preset, key):
  """cuda-convnet's rule reads each layer's wc from the layer file (`layer_weight_decay`),
  the paper's SGD one `weight_decay` for all: the variant must zero the one its optimizer
  reads, and nothing else."""
  config = ablate_weight_decay.get_config(preset)
  validation.validate_config(config)
  ablation.validate(config)
  on, off = (ablation.run_config(config, variant, 0) for variant in
             ('weight_decay', 'no_weight_decay'))
  assert {k for k in on.optimizer if on.optimizer[k] != off.optimizer[k]} == {key}
  if preset == 'cuda_convnet':
    decays = [{name: wc for name, wc, _ in cuda_convnet.update_rules(
        run.model.variant, run.optimizer.layer_weight_decay)} for run in (on, off)]
    assert decays[0]['fc10'] > 0 and decays[0]['local3'] > 0
    assert set(decays[1].values()) == {0.0}
    return
  # One step from zero momentum with a zero gradient moves the weights by the decay alone.
  params = {'w': jnp.ones((3,))}
  moved = []
  for run in (on, off):
    tx = optimizers.create_optimizer(run.optimizer)
    updates, _ = tx.update({'w': jnp.zeros((3,))}, tx.init(params), params)
    moved.append(bool(jnp.any(updates['w'] != 0)))
  assert moved == [True, False]


@pytest.mark.parametrize('preset', ['fashion_mnist', 'cifar10'])
def test_weight_decay_ablation_refuses_the_adamw_presets(preset):
  with pytest.raises(ValueError, match=f'{preset!r} trains with AdamW'):
    ablate_weight_decay.get_config(preset)


@pytest.mark.parametrize('preset', ['imagenette', 'imagenet'])
def test_bias_init_ablation_sets_the_biases_to_zero_and_nothing_else(preset):
  config = ablate_bias_init.get_config(preset)
  validation.validate_config(config)
  ablation.validate(config)
  ones, zeros = (ablation.run_config(config, variant, 0) for variant in
                 ('bias_one', 'zero_bias'))
  assert (ones.model.variant, ones.data.normalization) == ('paper', 'cuda_convnet')
  first, second = _flat(ones.to_dict()), _flat(zeros.to_dict())
  assert {key for key in first if first[key] != second[key]} == {'model.init'}
  key = jax.random.key(0)
  for run, bias in ((ones, 1.0), (zeros, 0.0)):
    kernel_init, bias_init = layers.initializers(run.model.init, bias_one=True)
    assert jnp.all(bias_init(key, (4,)) == bias)
    weights = kernel_init(key, (1000, 10))
    assert 0.0095 < float(jnp.std(weights)) < 0.0105  # N(0, 0.01) on both sides
  # Layers the paper leaves at 0 stay at 0 under both.
  assert jnp.all(layers.initializers('paper', bias_one=False)[1](key, (4,)) == 0)


@pytest.mark.parametrize('preset', ['fashion_mnist', 'cifar10', 'cuda_convnet'])
def test_bias_init_ablation_refuses_nets_other_than_the_papers(preset):
  with pytest.raises(ValueError, match=f'needs the paper net.*{preset!r}'):
    ablate_bias_init.get_config(preset)
  with pytest.raises(ValueError, match="unknown preset 'svhn'"):
    ablate_bias_init.get_config('svhn')


def test_pca_ablation_needs_rgb():
  ablation.validate(ablate_pca.get_config())
  with pytest.raises(ValueError, match='RGB'):
    ablate_pca.get_config('fashion_mnist')


@pytest.mark.parametrize('module, preset', [
    ('ablate_lrn', 'paper_pair'), ('ablate_lrn', 'cuda_convnet_r540'), ('ablate_lrn', 'paper_recipe'),
    ('ablate_pooling', 'cuda_convnet_r541'), ('ablate_pca', 'cuda_convnet'),
    ('ablate_activation', 'cuda_convnet_lr_search'),
    ('ablate_activation', 'cuda_convnet_rate_sweep'), ('ablate_dropout', 'cifar10_unaugmented')])
def test_the_ablations_own_presets_are_valid(module, preset):
  import importlib
  config = importlib.import_module(f'configs.{module}').get_config(preset)
  validation.validate_config(config)
  ablation.validate(config)


def _flat(tree, prefix=''):
  out = {}
  for key, value in tree.items():
    out.update(_flat(value, f'{prefix}{key}.') if isinstance(value, dict)
               else {prefix + key: value})
  return out


@pytest.mark.parametrize('module, preset, experiment', [
    ('ablate_lrn', 'cuda_convnet_r540', 'lrn'), ('ablate_pooling', 'cuda_convnet', 'pooling')])
def test_r540_presets_give_the_committed_runs_configs(module, preset, experiment):
  """The committed r540 runs (relabelled cc_11pct_r540) are what these presets run:
  every key of their config.json, and the defaults for keys added since."""
  import importlib
  import json
  import os
  from alexnet_jax.config import default
  runs = os.path.join(os.path.dirname(__file__), '..', 'experiments', 'results',
                      'cifar10_paper', experiment, 'runs')
  config = importlib.import_module(f'configs.{module}').get_config(preset)
  defaults = _flat(json.loads(default.get_config().to_json()))
  for variant in config.ablation.variants:
    path = os.path.join(runs, variant, 'seed0', 'config.json')
    if not os.path.exists(path):
      pytest.skip(f'{path} is not in this checkout')
    with open(path) as f:
      committed = _flat(json.load(f))
    planned = _flat(json.loads(ablation.run_config(config, variant, 0).to_json()))
    assert committed['model.variant'] == 'cc_11pct_r540'
    for key, value in planned.items():
      assert value == committed.get(key, defaults.get(key)), (variant, key)
    assert set(committed) <= set(planned)


@pytest.mark.parametrize('module, preset, same, other, differs', [
    ('ablate_pooling', 'cuda_convnet_r541', 'overlapping', 'non_overlapping', 'model.pooling'),
    ('ablate_pca', 'cuda_convnet', 'no_pca', 'pca', 'data.pca_std'),
    ('ablate_augmentation', 'cuda_convnet', 'augmented', 'unaugmented',
     'data.random_crop data.flip'),
    ('ablate_weight_decay', 'cuda_convnet', 'weight_decay', 'no_weight_decay',
     'optimizer.layer_weight_decay'),
    ('ablate_columns', 'cuda_convnet', 'one_column', 'two_columns', 'model.columns')])
def test_r541_ablations_reuse_the_committed_lrn_r541_run(module, preset, same, other, differs):
  """pooling_r541, pca_r541, augmentation_r541, weight_decay_r541 and columns_r541 take
  lrn_r541's `lrn` runs as their `overlapping`, `no_pca`, `augmented`, `weight_decay` and
  `one_column` sides, so those configs must agree with it on every key (defaults for keys added since; `data.on_device`,
  added since, is 'auto' in these presets, host-fed on the CPU that trained them), and the
  other variant must differ from it in `differs` only."""
  import importlib
  import json
  import os
  from alexnet_jax.config import default
  path = os.path.join(os.path.dirname(__file__), '..', 'experiments', 'results',
                      'cifar10_paper', 'lrn_r541', 'runs', 'lrn', 'seed0', 'config.json')
  if not os.path.exists(path):
    pytest.skip(f'{path} is not in this checkout')
  with open(path) as f:
    committed = _flat(json.load(f))
  defaults = _flat(json.loads(default.get_config().to_json()))
  config = importlib.import_module(f'configs.{module}').get_config(preset)
  reused, trained = (_flat(json.loads(ablation.run_config(config, variant, 0).to_json()))
                     for variant in (same, other))
  lrn = ablate_lrn.get_config('cuda_convnet')
  assert reused == _flat(json.loads(ablation.run_config(lrn, 'lrn', 0).to_json()))
  assert reused['model.variant'] == 'cc_11pct'
  defaults['data.on_device'] = 'auto'
  for key, value in reused.items():
    assert value == committed.get(key, defaults.get(key)), key
  assert set(committed) <= set(reused)
  assert {key for key in reused if reused[key] != trained[key]} == set(differs.split())


@pytest.mark.parametrize('reused, sweep, other, differs', [
    (('ablate_dropout', 'cifar10', 'dropout'), ('ablate_columns', 'cifar10', 'two_columns'),
     'one_column', {'model.columns', 'model.halve_kernels_but_last'}),
    (('ablate_dropout', 'cifar10', 'dropout'), ('ablate_depth', 'cifar10', 'full'),
     'no_conv4', {'model.removed_layers'}),
    (('ablate_dropout', 'cifar10_unaugmented', 'dropout'),
     ('ablate_augmentation', 'cifar10_long', 'unaugmented'),
     'augmented', {'data.random_crop', 'data.crop_padding', 'data.flip'}),
    (('ablate_augmentation', 'cifar10_long', 'augmented'),
     ('ablate_depth', 'cifar10_long', 'full'), 'no_conv4', {'model.removed_layers'})])
def test_small_net_sweeps_reuse_an_earlier_sweeps_runs(reused, sweep, other, differs):
  """The small-net sweeps of the lanes (experiments/results/cifar10_small/) take an earlier
  sweep's runs as their own baseline: columns_small's `two_columns` and depth_small's `full`
  are dropout_small's `dropout`, augmentation_small's `unaugmented` is dropout_unaugmented's
  `dropout`, depth_long's `full` is augmentation_small's `augmented`. At the lanes' width 0.5
  (cifar10_long's own) each pair agrees on every key, and the variant that trains differs
  from them in `differs` alone."""
  import importlib

  def run(module, preset, variant):
    config = importlib.import_module(f'configs.{module}').get_config(preset)
    if preset == 'cifar10':  # the lanes give it --config.model.width_multiplier=0.5
      config.model.width_multiplier = 0.5
    return _flat(json.loads(ablation.run_config(config, variant, 0).to_json()))

  baseline = run(*reused)
  assert run(*sweep) == baseline
  trained = run(sweep[0], sweep[1], other)
  assert {key for key in baseline if baseline[key] != trained[key]} == differs
  assert baseline['model.width_multiplier'] == 0.5


def test_a_chained_run_starts_from_the_earlier_runs_weights(tiny_config, tmp_path, capsys):
  """start_from: the second stage trains on another split from the first's final weights
  (cuda-convnet's Methodology: batches 1-4, then all five)."""
  from alexnet_jax import api
  config = tiny_ablation(tiny_config)
  config.ablation.variants = ('hold_out', 'fold_in')
  config.ablation.baseline = 'fold_in'
  config.ablation.seeds = (0,)
  config.ablation.overrides = {
      'hold_out': {'data': {'train_split': 'train[:160]', 'eval_split': 'train[160:]'}},
      'fold_in': {'optimizer': {'learning_rate': 1e-9}}}
  config.ablation.start_from = {'fold_in': 'hold_out'}
  ablation.validate(config)
  config.ablation.only = 'fold_in/seed0'
  with pytest.raises(errors.ConfigError, match='has not finished: run hold_out/seed0'):
    ablation.run(config, str(tmp_path))
  config.ablation.only = ''
  ablation.run(config, str(tmp_path))
  fold_in = json.loads((tmp_path / 'fold_in' / 'seed0' / 'config.json').read_text())
  assert fold_in['init_from'] == str(tmp_path / 'hold_out' / 'seed0')
  assert fold_in['data']['train_split'] == 'train'
  hold_out = json.loads((tmp_path / 'hold_out' / 'seed0' / 'config.json').read_text())
  assert hold_out['data']['train_split'] == 'train[:160]' and not hold_out['init_from']
  # At a rate of 1e-9 the second stage's weights are the first stage's final ones.
  first, second = api.load(str(tmp_path / 'hold_out' / 'seed0')), api.load(
      str(tmp_path / 'fold_in' / 'seed0'))
  import jax
  import numpy as np
  for a, b in zip(jax.tree.leaves(first.params), jax.tree.leaves(second.params)):
    np.testing.assert_allclose(a, b, atol=1e-6)
  assert 'initialized from' in capsys.readouterr().out


def test_start_from_must_name_an_earlier_variant(tiny_config):
  config = tiny_ablation(tiny_config)
  config.ablation.start_from = {'lrn': 'no_lrn'}
  with pytest.raises(errors.ConfigError, match='config.ablation.start_from.lrn'):
    ablation.validate(config)
