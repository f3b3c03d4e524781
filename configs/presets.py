"""Dataset scales shared by the ablation configs (`configs/ablate_*.py:<preset>`).

* `fashion_mnist` (default): the small two-column net on Fashion-MNIST, which any
  machine can have offline (Debian's `dataset-fashion-mnist`; import it once with
  `python -m alexnet_jax.datasets import-fashion-mnist`). One epoch per run, so
  that a two-variant, three-seed sweep takes about 20 minutes on a 2-core CPU.
* `cifar10`: the small net on CIFAR-10 32x32 (import once from arrays, see
  README), as in the paper's CIFAR-10 experiments; 10 epochs per run. On a 2-core
  CPU an epoch takes about 4 minutes at full width (a two-variant, three-seed
  sweep: about 4 hours), and about 2.5-3 minutes with `--config.model.width_multiplier=0.5`
  on one core per run, the setting of the committed CIFAR-10 results
  (`experiments/results/cifar10_ablations/`).
* `imagenette`: the paper network at 227x227 on the 10-class ImageNet subset
  (`tfds` downloads it); a GPU job.
* `imagenet`: the paper's own setting (ILSVRC-2012, manual download); a
  multi-day GPU job.
"""

import ml_collections

from configs import default

PRESETS = ('fashion_mnist', 'cifar10', 'imagenette', 'imagenet')


def base_config(preset):
  """The default config at the scale of `preset` (None: fashion_mnist)."""
  preset = preset or 'fashion_mnist'
  if preset not in PRESETS:
    raise ValueError(f'unknown preset {preset!r}; choose one of {", ".join(PRESETS)}')
  config = default.get_config('paper' if preset in ('imagenet', 'imagenette') else None)
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


def ablation_config(*, name, preset, variants, baseline, paper_claims, seeds=(0, 1, 2),
                    target_train_error=0.25):
  """An ablation: `variants` maps a variant name to a partial config tree."""
  config = base_config(preset)
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
  return config
