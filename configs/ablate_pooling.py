"""Overlapping (3x3, stride 2) vs non-overlapping (2x2, stride 2) max-pooling
(paper section 3.4); both give the same map sizes.

    python -m alexnet_jax.main --config=configs/ablate_pooling.py --workdir=/tmp/ablate_pool

Default preset (fashion_mnist): 2 variants x 3 seeds, about 20 minutes on a
2-core CPU. The paper: overlapping pooling lowers top-1/top-5 error by 0.4/0.3
points on ImageNet and makes overfitting slightly harder; on small runs expect a
difference within the seed spread.
"""

from configs import presets


def get_config(arg=None):
  config = presets.ablation_config(
      name='pooling', preset=arg,
      variants={'overlapping': {},
                'non_overlapping': {'model': {'pooling': 'non_overlapping'}}},
      cuda_convnet_ok=True,
      baseline='overlapping',
      paper_claims={'non_overlapping': '+0.4 top-1, +0.3 top-5 (ImageNet)'})
  if arg == 'cuda_convnet':  # finished runs committed by earlier sessions are skipped
    config.ablation.committed_runs = 'experiments/results/cifar10_paper/pooling/runs'
  return config
