"""Overlapping (3x3, stride 2) vs non-overlapping (2x2, stride 2) max-pooling
(paper section 3.4); both give the same map sizes.

    python -m alexnet_jax.main --config=configs/ablate_pooling.py --workdir=/tmp/ablate_pool
    python -m alexnet_jax.main --config=configs/ablate_pooling.py:cuda_convnet --workdir=/tmp/pooling80

Default preset (fashion_mnist): 2 variants x 3 seeds, about 12 minutes on a 2-core CPU
(about 2 minutes per run). The paper: overlapping pooling lowers top-1/top-5 error by
0.4/0.3 points on ImageNet and makes overfitting slightly harder; on small runs expect a
difference within the seed spread.

`cuda_convnet`: r540's draft of cuda-convnet's `layers-conv-local-11pct.cfg`
(cc_11pct_r540; not the paper's r541 net, see alexnet_jax/models/cuda_convnet.py) with its
3x3/2 max pools (`overlapping`) or 2x2/2 (`non_overlapping`; the same map sizes), on the
schedule of `ablate_lrn.py:cuda_convnet_r540` (80 epochs, 3 seeds; about 2.7 hours per run
on one core of the 2-core VM), as the committed runs were trained. Its `overlapping` runs
are that sweep's `lrn` runs, the same config and seeds, so only `non_overlapping` needed
running (`experiments/cifar10_paper_lanes.sh`); results in
experiments/results/cifar10_paper/pooling/.

`cuda_convnet_r541`: the same comparison on the paper's r541 net (`cc_11pct`) on the schedule
of `ablate_lrn.py:cuda_convnet`; its `overlapping` runs are lrn_r541's `lrn` runs (the same
config and seeds), so only `non_overlapping` runs in the lanes; results in
experiments/results/cifar10_paper/pooling_r541/.
"""

from alexnet_jax.config import presets

COMMITTED = presets.CIFAR10_PAPER_RESULTS


def get_config(arg=None):
  r541 = arg == 'cuda_convnet_r541'
  config = presets.ablation_config(
      name='pooling', preset='cuda_convnet' if r541 else arg,
      variants={'overlapping': {},
                'non_overlapping': {'model': {'pooling': 'non_overlapping'}}},
      cuda_convnet_ok=True,
      baseline='overlapping',
      paper_claims={'non_overlapping': '+0.4 top-1, +0.3 top-5 (ImageNet)'},
      extra_presets=('cuda_convnet_r541',))
  # Finished runs committed by earlier sessions are skipped.
  if arg == 'cuda_convnet':
    presets.as_before_2026_12_04(config, 'cc_11pct_r540')
    config.ablation.committed_runs = f'{COMMITTED}/pooling/runs'
  if r541:
    config.ablation.committed_runs = f'{COMMITTED}/pooling_r541/runs'
  return config
