"""PCA colour augmentation on vs off (paper section 4.1).

    python -m alexnet_jax.main --config=configs/ablate_pca.py:cifar10 --workdir=/tmp/ablate_pca

Needs RGB images, so the default preset here is `cifar10` (import it first, see
README); 2 variants x 3 seeds of 10 epochs is a few hours on a 2-core CPU. The
paper: PCA noise lowers ImageNet top-1 error by over 1 point; on CIFAR-10-size
runs expect a difference within the seed spread.
"""

from alexnet_jax.config import presets


def get_config(arg=None):
  config = presets.ablation_config(
      name='pca', preset=arg or 'cifar10',
      variants={'pca': {}, 'no_pca': {'data': {'pca_std': 0.0}}},
      baseline='pca',
      paper_claims={'no_pca': '+1 top-1 (ImageNet)'})
  if config.data.channels != 3:
    raise ValueError(f'ablate_pca needs RGB images; preset {arg!r} has '
                     f'{config.data.channels} channel(s)')
  config.data.pca_std = 0.1
  return config
