"""Two kernel columns vs one column with half the kernels (paper section 3.2).

    python -m alexnet_jax.main --config=configs/ablate_columns.py --workdir=/tmp/ablate_columns
    python -m alexnet_jax.main --config=configs/ablate_columns.py:cifar10 \
        --config.model.width_multiplier=0.5 --workdir=/tmp/columns_small

The paper's one-GPU net had half the kernels in each convolutional layer except
the last (conv5), and the same fully-connected layers, so that both nets have
about the same number of parameters; `one_column` does the same here
(`model.halve_kernels_but_last`, relative to the base config's width, so that
`--config.model.width_multiplier=0.5` halves both nets). Default preset
(fashion_mnist): about 12 minutes on a 2-core CPU. The paper: the two
columns lower top-1/top-5 error by 1.7/1.2 points on ImageNet.

`cifar10` at width 0.5: the small net on CIFAR-10 for 10 epochs; `two_columns` is then
`ablate_dropout.py:cifar10`'s `dropout` run (the same config), so the lanes
(`experiments/cifar10_paper_lanes.sh`, `columns_small`) run only `one_column`; results in
experiments/results/cifar10_small/. cuda-convnet's CIFAR-10 nets have one column.
"""

from alexnet_jax.config import presets


def get_config(arg=None):
  return presets.ablation_config(
      name='columns', preset=arg,
      variants={'two_columns': {},
                'one_column': {'model': {'columns': 1, 'halve_kernels_but_last': True}}},
      baseline='two_columns',
      paper_claims={'one_column': '+1.7 top-1, +1.2 top-5 (ImageNet)'})
