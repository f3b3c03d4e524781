"""Local response normalization on vs off (paper section 3.3).

    python -m alexnet_jax.main --config=configs/ablate_lrn.py --workdir=/tmp/ablate_lrn
    python -m alexnet_jax.main --config=configs/ablate_lrn.py:cifar10 --workdir=/tmp/ablate_lrn_c10
    python -m alexnet_jax.main --config=configs/ablate_lrn.py:cuda_convnet --workdir=/tmp/lrn80

Default preset (fashion_mnist): 2 variants x 3 seeds, about 20 minutes on a
2-core CPU. The paper: LRN lowers ImageNet top-1/top-5 error by 1.4/1.2 points,
and a four-layer CIFAR-10 net's test error from 13% to 11%; expect `no_lrn` to
have a slightly higher test error, by an amount that small runs may not resolve.

`cuda_convnet`: the paper's CIFAR-10 pair, cuda-convnet's `layers-conv-local-11pct.cfg`
(`lrn`, cc_11pct) and its twin without the two response norms (`no_lrn`, cc_13pct),
80 epochs (60 at epsW 0.001, 10 at 0.0001, 10 at 0.00001), 24x24 crops and flips,
test error every 5 epochs and the 10-view test at the end, 3 seeds. Each run takes
about 2.6-2.8 hours on one core of the 2-core VM (two at a time, one per core:
`experiments/cifar10_paper_lanes.sh`) and ends near 16.5% center-crop and 14.5-14.8%
10-view test error with or without LRN (paper: 11% with, 13% without; the
committed runs and the discussion: experiments/results/cifar10_paper/lrn/).
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
