"""Dataset scales shared by the ablation configs (`configs/ablate_*.py:<preset>`).

* `fashion_mnist` (default): the small two-column net on Fashion-MNIST, which any
  machine can have offline (Debian's `dataset-fashion-mnist`; import it once with
  `python -m alexnet_jax.datasets import-fashion-mnist`). One epoch per run, so
  that a two-variant, three-seed sweep takes about 12 minutes on a 2-core CPU.
* `cifar10`: the small net on CIFAR-10 32x32 (import once from arrays, see
  README), as in the paper's CIFAR-10 experiments; 10 epochs per run. The committed
  CIFAR-10 results on this net (`experiments/results/cifar10_ablations/` and
  `cifar10_small/`) set `--config.model.width_multiplier=0.5` and give each run one core,
  which makes a run minutes to tens of minutes long on a CPU (paces by machine and date:
  docs/performance_log.md).
* `cuda_convnet`: the paper's own CIFAR-10 networks (cuda-convnet's layer files,
  `alexnet_jax/models/cuda_convnet.py`): the 11pct net (svn r541) on random 24x24 crops of
  CIFAR-10 with flips, cuda-convnet's mean subtraction (the whole training split's mean
  image) and per-layer update rule, the Methodology's two x0.1 drops of epsW (not epsB)
  in the last 20 epochs, and the multiview test (10 views) beside the center crop; run
  as two single-threaded runs side by side on a 2-core CPU (experiments/README.md; paces
  in docs/performance_log.md).
* `imagenette`: the paper network at 227x227 on the 10-class ImageNet subset
  (`tfds` downloads it); a GPU job.
* `imagenet`: the paper's own setting (ILSVRC-2012, manual download); a
  multi-day GPU job.
"""

import ml_collections

from alexnet_jax.config import default

PRESETS = ('fashion_mnist', 'cifar10', 'cuda_convnet', 'imagenette', 'imagenet')
# The 11pct header's first phase runs ~500 epochs (350 + 150); 60 keep a run within a few CPU-hours,
# and the evaluation every 5 epochs shows whether test error had flattened before the drops.
# Then 10 epochs at epsW/10 and 10 at epsW/100 (Methodology steps 5-6).
CUDA_CONVNET_EPOCHS = 60


def cuda_convnet_config(config, variant='cc_11pct', epochs=CUDA_CONVNET_EPOCHS):
  """`config` set up as cuda-convnet trained its CIFAR-10 nets (in place)."""
  model = config.model
  model.variant = variant
  model.num_classes = 10
  model.columns = 1
  model.dropout_rate = 0.0
  model.init = 'paper'                # the layer file's initW; biases 0
  model.width_multiplier = 1.0        # the file fixes every layer's size
  model.width_exempt = ()
  model.conv_chunk = 0
  model.dtype = 'float32'
  data = config.data
  data.name = 'cifar10'
  data.image_size = 24                # cifar-cropped, crop-border=4
  data.channels = 3
  data.random_crop = True
  data.crop_padding = 0
  data.flip = True
  data.pca_std = 0.0
  data.normalization = 'cuda_convnet'
  data.on_device = 'auto'             # on a GPU/TPU the 150 MB of images live on the device
  data.ten_views = False              # the center crop during training; 10 views at the end
  config.optimizer.name = 'cuda_convnet'
  config.optimizer.learning_rate = 0.001  # epsW
  config.optimizer.momentum = 0.9
  config.optimizer.layer_weight_decay = True
  config.batch_size = 128
  cuda_convnet_schedule(config, epochs)
  config.eval_every_steps = 5 * (50000 // 128)  # every 5 epochs
  config.checkpoint.every_steps = 50000 // 128  # every epoch
  config.eval_batch_size = 500
  return config


def cuda_convnet_schedule(config, epochs):
  """`epochs` at epsW, then 10 at epsW/10 and 10 at epsW/100 (Methodology steps 5-6; in
  place)."""
  config.num_epochs = float(epochs + 20)
  config.schedule.name = 'step'
  config.schedule.factor = 0.1
  config.schedule.boundaries = (epochs / (epochs + 20), (epochs + 10) / (epochs + 20))
  return config


def as_before_2026_12_04(config, variant):
  """`config` (a cuda_convnet preset) as the cuda-convnet runs committed before
  2026-12-04 were trained: `variant`, the schedule's drops lowering epsB as well as epsW,
  the mean image of a seeded sample of 10,000 training images, and host-fed batches
  (their crops and flips, also on a GPU) (in place)."""
  config.model.variant = variant
  config.optimizer.bias_rate_drops = True
  config.data.statistics_images = 10_000
  config.data.on_device = False
  return config


def base_config(preset, extra_presets=()):
  """The default config at the scale of `preset` (None: fashion_mnist);
  `extra_presets`: the calling config's own, named in the error."""
  preset = preset or 'fashion_mnist'
  if preset not in PRESETS:
    raise ValueError(f'unknown preset {preset!r}; choose one of '
                     f'{", ".join(PRESETS + tuple(extra_presets))}')
  config = default.get_config('paper' if preset in ('imagenet', 'imagenette') else None)
  if preset == 'cuda_convnet':
    return cuda_convnet_config(config)
  # Ablations test the paper's claims: its dropout rate, and the learning rate the
  # small-net sweeps were set up with (the default job trades these for speed).
  config.model.dropout_rate = 0.5
  if preset in ('fashion_mnist', 'cifar10'):
    config.optimizer.learning_rate = 1e-3
  if preset == 'fashion_mnist':
    config.num_epochs = 1.0
  elif preset == 'cifar10':
    config.data.name = 'cifar10'
    config.data.image_size = 32
    config.data.channels = 3
    config.data.crop_padding = 4
    config.num_epochs = 10.0
  elif preset == 'imagenette':
    config.data.name = 'imagenette'
    config.model.num_classes = 10
    config.num_epochs = 60.0
  return config


# The training input without crops or flips (the center crop, unflipped, as evaluated):
# `ablate_augmentation.py`'s `unaugmented` variant and `ablate_dropout.py:cifar10_unaugmented`.
NO_CROPS_OR_FLIPS = {'random_crop': False, 'crop_padding': 0, 'flip': False}


def small_net_30_epochs(config):
  """The cifar10 preset's small net at width 0.5 for 30 epochs (in place): long enough to
  overfit CIFAR-10 without augmentation, the regime the dropout and augmentation claims
  are about."""
  config.model.width_multiplier = 0.5
  config.num_epochs = 30.0
  return config


# Where the cuda_convnet sweeps' finished runs are committed (relative to the repository
# root), so that a config's `ablation.committed_runs` can skip them.
CIFAR10_PAPER_RESULTS = 'experiments/results/cifar10_paper'

CUDA_CONVNET_ABLATIONS = ('ablate_lrn', 'ablate_pooling', 'ablate_activation', 'ablate_pca',
                          'ablate_augmentation', 'ablate_weight_decay', 'ablate_columns')


def ablation_config(*, name, preset, variants, baseline, paper_claims, seeds=(0, 1, 2),
                    target_train_error=0.25, cuda_convnet_ok=False, extra_presets=()):
  """An ablation: `variants` maps a variant name to a partial config tree.
  `cuda_convnet_ok`: the ablation means something on cuda-convnet's nets (they have
  no dropout; PCA noise is the input's, so it applies; their files have one column, and
  `model.columns=2` splits them)."""
  if preset == 'cuda_convnet' and not cuda_convnet_ok:
    raise ValueError(f"preset 'cuda_convnet' does not apply to the {name} ablation: "
                     "cuda-convnet's CIFAR-10 nets have no such knob; it exists for "
                     + ', '.join(f'configs/{c}.py' for c in CUDA_CONVNET_ABLATIONS))
  config = base_config(preset, extra_presets)
  config.mode = 'ablate'
  config.ablation = ablation = ml_collections.ConfigDict()
  ablation.name = name
  ablation.variants = tuple(variants)
  ablation.overrides = ml_collections.ConfigDict(
      {variant: overrides for variant, overrides in variants.items() if overrides})
  ablation.baseline = baseline
  ablation.seeds = tuple(seeds)
  ablation.target_train_error = target_train_error
  ablation.paper_claims = ml_collections.ConfigDict(
      {variant: {'text': text} for variant, text in paper_claims.items()})
  ablation.only = ''
  # A folder of committed run files (DIR/<variant>/seed<k>/run.json, ...): runs finished
  # there are skipped, so a sweep continues across sessions and machines.
  ablation.committed_runs = ''
  # variant -> an earlier variant whose finished run (same seed) this one starts from
  # (alexnet_jax/ablation.py): cuda-convnet's Methodology resumed nets on other batches.
  ablation.start_from = ml_collections.ConfigDict()
  ablation.ten_views_eval = preset == 'cuda_convnet'  # also the multiview test at the end
  # At the end, the error on a fixed sample of this many training images, evaluated as
  # the test split is (0: none): the report's overfitting table. As many as CIFAR-10's test
  # images: the two errors are then measured about as precisely.
  ablation.train_eval_examples = 10_000
  return config
