"""The full depth vs one or two middle conv layers left out (paper section 7).

    python -m alexnet_jax.main --config=configs/ablate_depth.py --workdir=/tmp/ablate_depth
    python -m alexnet_jax.main --config=configs/ablate_depth.py:cifar10 \
        --config.model.width_multiplier=0.5 --workdir=/tmp/depth_small

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
"""

from alexnet_jax.config import presets


def get_config(arg=None):
  return presets.ablation_config(
      name='depth', preset=arg,
      variants={'full': {},
                'no_conv4': {'model': {'removed_layers': ('conv4',)}},
                'no_conv3_conv4': {'model': {'removed_layers': ('conv3', 'conv4')}}},
      baseline='full',
      paper_claims={'no_conv4': '+2 top-1 for any middle layer (ImageNet)'})
