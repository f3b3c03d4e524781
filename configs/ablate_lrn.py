"""Local response normalization on vs off (paper section 3.3).

    python -m alexnet_jax.main --config=configs/ablate_lrn.py --workdir=/tmp/ablate_lrn
    python -m alexnet_jax.main --config=configs/ablate_lrn.py:cifar10 --workdir=/tmp/ablate_lrn_c10

Default preset (fashion_mnist): 2 variants x 3 seeds, about 20 minutes on a
2-core CPU. The paper: LRN lowers ImageNet top-1/top-5 error by 1.4/1.2 points,
and a four-layer CIFAR-10 net's test error from 13% to 11%; expect `no_lrn` to
have a slightly higher test error, by an amount that small runs may not resolve.
"""

from configs import presets


def get_config(arg=None):
  config = presets.ablation_config(
      name='lrn', preset=arg,
      variants={'lrn': {}, 'no_lrn': {'model': {'lrn': False}}},
      cuda_convnet_ok=True,
      baseline='lrn',
      paper_claims={'no_lrn': '+1.4 top-1 (ImageNet); CIFAR-10 4-layer net 11% -> 13%'})
  if arg == 'cuda_convnet':  # finished runs committed by earlier sessions are skipped
    config.ablation.committed_runs = 'experiments/results/cifar10_paper/lrn/runs'
  return config
