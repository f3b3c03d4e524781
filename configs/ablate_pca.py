"""PCA colour augmentation on vs off (paper section 4.1).

    python -m alexnet_jax.main --config=configs/ablate_pca.py:cifar10 --workdir=/tmp/ablate_pca
    python -m alexnet_jax.main --config=configs/ablate_pca.py:cuda_convnet --workdir=/tmp/pca80

Needs RGB images, so the default preset here is `cifar10` (import it first, see
README); 2 variants x 3 seeds of 10 epochs is a few hours on a 2-core CPU. The
paper: PCA noise lowers ImageNet top-1 error by over 1 point; on CIFAR-10-size
runs expect a difference within the seed spread.

`cuda_convnet`: the paper's r541 net (`cc_11pct`) on the schedule of
`ablate_lrn.py:cuda_convnet` (80 epochs, 3 seeds; about 1.9 hours per run on one core of
the 2-core VM), with the paper's colour noise (`pca`: standard deviation 0.1 along the
training set's RGB principal components) or without (`no_pca`, cuda-convnet's own
recipe). `no_pca` is therefore lrn_r541's `lrn` run, the same config and seeds, so only
`pca` runs in the lanes (`experiments/cifar10_paper_lanes.sh`); results in
experiments/results/cifar10_paper/pca_r541/.
"""

from alexnet_jax.config import presets

COMMITTED = presets.CIFAR10_PAPER_RESULTS


def get_config(arg=None):
  config = presets.ablation_config(
      name='pca', preset=arg or 'cifar10',
      variants={'pca': {}, 'no_pca': {'data': {'pca_std': 0.0}}},
      cuda_convnet_ok=True,
      baseline='pca',
      paper_claims={'no_pca': '+1 top-1 (ImageNet)'})
  if config.data.channels != 3:
    raise ValueError(f'ablate_pca needs RGB images; preset {arg!r} has '
                     f'{config.data.channels} channel(s)')
  config.data.pca_std = 0.1
  if arg == 'cuda_convnet':
    # Finished runs committed by earlier sessions are skipped.
    config.ablation.committed_runs = f'{COMMITTED}/pca_r541/runs'
  return config
