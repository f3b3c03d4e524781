"""Two kernel columns vs one column with half the kernels (paper section 3.2).

    python -m alexnet_jax.main --config=configs/ablate_columns.py --workdir=/tmp/ablate_columns

The paper's one-GPU net had half the kernels in each convolutional layer except
the last (conv5), and the same fully-connected layers, so that both nets have
about the same number of parameters; `one_column` does the same here. Default
preset (fashion_mnist): about 20 minutes on a 2-core CPU. The paper: the two
columns lower top-1/top-5 error by 1.7/1.2 points on ImageNet.
"""

from alexnet_jax.config import presets


def get_config(arg=None):
  config = presets.ablation_config(
      name='columns', preset=arg,
      variants={'two_columns': {},
                'one_column': {'model': {'columns': 1, 'width_multiplier': 0.5,
                                         'width_exempt': ('conv5',)}}},
      baseline='two_columns',
      paper_claims={'one_column': '+1.7 top-1, +1.2 top-5 (ImageNet)'})
  if config.model.width_multiplier != 1.0:
    raise ValueError('ablate_columns halves the kernels of a full-width base config; '
                     f'got config.model.width_multiplier={config.model.width_multiplier}')
  return config
