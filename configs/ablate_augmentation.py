"""Random crops and flips vs none (paper section 4.1, the first form of augmentation).

    python -m alexnet_jax.main --config=configs/ablate_augmentation.py --workdir=/tmp/ablate_aug
    python -m alexnet_jax.main --config=configs/ablate_augmentation.py:cifar10_long \
        --workdir=/tmp/augmentation_small

The paper trained on random 224x224 patches of the 256x256 images and their horizontal
reflections: "Without this scheme, our network suffers from substantial overfitting". Here
`augmented` is the preset's own training input (random crops, of a padded image on the small
CIFAR-10 presets, and flips) and `unaugmented` trains on the center crop only, unflipped,
which is also how both are evaluated; everything else, PCA noise included
(`ablate_pca.py` tests that), is the same. Expect a larger gap between test error and the
error on training images without augmentation: the report's overfitting table. Default
preset (fashion_mnist): 28x28 crops of 28x28 images, so only the flips differ.

`cifar10_long`: the small net at width 0.5 for 30 epochs, long enough to overfit without
augmentation. `unaugmented` is then `ablate_dropout.py:cifar10_unaugmented`'s `dropout` run
(the same config; a test checks every key), so the lanes (`experiments/cifar10_paper_lanes.sh`,
`augmentation_small`) run only `augmented`; results in experiments/results/cifar10_small/.
`cuda_convnet`: the paper's r541 net (`cc_11pct`) on the schedule of `ablate_lrn.py:cuda_convnet`
(80 epochs, 3 seeds; about 2 hours per run on one core), cuda-convnet's random 24x24 crops of
CIFAR-10 and their flips against the center 24x24 crop alone. `augmented` is then lrn_r541's
`lrn` run (the same config; a test checks every key), so only `unaugmented` runs in the lanes
(`augmentation_r541`); results in experiments/results/cifar10_paper/augmentation_r541/.
"""

from alexnet_jax.config import presets

LONG = 'cifar10_long'
COMMITTED = presets.CIFAR10_PAPER_RESULTS


def get_config(arg=None):
  config = presets.ablation_config(
      name='augmentation', preset='cifar10' if arg == LONG else arg,
      variants={'augmented': {},
                'unaugmented': {'data': dict(presets.NO_CROPS_OR_FLIPS)}},
      cuda_convnet_ok=True,
      baseline='augmented',
      paper_claims={'unaugmented': 'substantial overfitting (ImageNet)'},
      extra_presets=(LONG,))
  if arg == LONG:
    presets.small_net_30_epochs(config)
  if arg == 'cuda_convnet':
    # Finished runs committed by earlier sessions are skipped.
    config.ablation.committed_runs = f'{COMMITTED}/augmentation_r541/runs'
  return config
