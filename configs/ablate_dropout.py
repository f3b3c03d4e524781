"""Dropout 0.5 on fc6/fc7 vs none (paper section 4.2).

    python -m alexnet_jax.main --config=configs/ablate_dropout.py --workdir=/tmp/ablate_dropout
    python -m alexnet_jax.main --config=configs/ablate_dropout.py:cifar10 \
        --config.model.width_multiplier=0.5 --workdir=/tmp/dropout_small
    python -m alexnet_jax.main --config=configs/ablate_dropout.py:cifar10_unaugmented \
        --workdir=/tmp/dropout_unaugmented

Default preset (fashion_mnist): 2 variants x 3 seeds, about 12 minutes on a 2-core CPU
(about 2 minutes per run). The paper: without dropout the network overfits
substantially; dropout roughly doubles the iterations needed to converge. Expect a lower
final training loss and a larger train/test gap without dropout: the report's
overfitting table (test error minus the error on training images, both without dropout).

`cifar10` at width 0.5: the small net on CIFAR-10 for 10 epochs, one run on one core of
the 2-core VM at a time (`experiments/cifar10_paper_lanes.sh`, `dropout_small`); results in
experiments/results/cifar10_small/. cuda-convnet's CIFAR-10 nets have no dropout.
At that length, with crops and flips, the net's training error stays close to its test
error, so there is little overfitting for dropout to prevent.

`cifar10_unaugmented`: the same net at width 0.5 without crops or flips, for 30 epochs,
so that it overfits as the paper's net did (about 50 minutes per run on one core;
`dropout_unaugmented` in the lanes; results in experiments/results/cifar10_small/).
"""

from alexnet_jax.config import presets


UNAUGMENTED = 'cifar10_unaugmented'


def get_config(arg=None):
  config = presets.ablation_config(
      name='dropout', preset='cifar10' if arg == UNAUGMENTED else arg,
      variants={'dropout': {}, 'no_dropout': {'model': {'dropout_rate': 0.0}}},
      baseline='dropout',
      paper_claims={'no_dropout': 'substantial overfitting; converges in ~half the iterations'},
      extra_presets=(UNAUGMENTED,))
  if arg == UNAUGMENTED:
    # The regime the claim is about, made on purpose: without crops and flips, and for
    # three times the cifar10 preset's epochs, the small net fits its training images far
    # better than the test images; does dropout close that gap, and at what cost?
    presets.small_net_30_epochs(config)
    config.data.update(presets.NO_CROPS_OR_FLIPS)
  return config
