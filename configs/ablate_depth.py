"""The full depth vs one or two middle conv layers left out (paper section 7).

    python -m alexnet_jax.main --config=configs/ablate_depth.py --workdir=/tmp/ablate_depth
    python -m alexnet_jax.main --config=configs/ablate_depth.py:cifar10 \
        --config.model.width_multiplier=0.5 --workdir=/tmp/depth_small
    python -m alexnet_jax.main --config=configs/ablate_depth.py:cifar10_long \
        --workdir=/tmp/depth_long

The paper: "our network's performance degrades if a single convolutional layer is removed.
For example, removing any of the middle layers results in a loss of about 2% for the top-1
performance of the network." `no_conv4` leaves out one of the two middle layers that neither
normalize nor pool (`model.removed_layers`), so every map size and every other layer stays.
Leaving out conv3 instead gives the same network: conv3 and conv4 have as many kernels (in
the paper's net and in the small one), and a removed conv3's exchange between the columns
moves to conv4 (alexnet.without_layers), so only the two layers' names and initial biases
would differ. `no_conv3_conv4` leaves out both: a third point on the depth curve, which the
paper does not report. Default preset (fashion_mnist): 3 variants x 3 seeds of one epoch.

`cifar10` at width 0.5: the small net on CIFAR-10 for 10 epochs (about 17 minutes per run
on one core of a 2-core VM; paces in docs/performance_log.md); `full` is then
`ablate_dropout.py:cifar10`'s `dropout` run (the same config; a test checks every key), so
the lanes (`experiments/cifar10_paper_lanes.sh`, `depth_small`) run only `no_conv4` and
`no_conv3_conv4`; results in experiments/results/cifar10_small/. cuda-convnet's CIFAR-10 nets are
fixed by their layer files.

`cifar10_long`: the same small net at width 0.5 for 30 epochs, where it fits the training
set better than at 10 (about 25% test error against 34%) and so may miss the layers more;
`full` is then `ablate_augmentation.py:cifar10_long`'s `augmented` run (the same config; a
test checks every key), so the lanes (`depth_long`) run only the other two.
"""

from alexnet_jax.config import presets

LONG = 'cifar10_long'


def get_config(arg=None):
  config = presets.ablation_config(
      name='depth', preset='cifar10' if arg == LONG else arg, extra_presets=(LONG,),
      variants={'full': {},
                'no_conv4': {'model': {'removed_layers': ('conv4',)}},
                'no_conv3_conv4': {'model': {'removed_layers': ('conv3', 'conv4')}}},
      baseline='full',
      paper_claims={'no_conv4': '+2 top-1 for any middle layer (ImageNet)'})
  if arg == LONG:
    presets.small_net_30_epochs(config)
  return config
