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
`cuda_convnet`: cuda-convnet's 24x24 crops of CIFAR-10 and flips against the center crop.
"""

from alexnet_jax.config import presets

LONG = 'cifar10_long'


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
  return config
