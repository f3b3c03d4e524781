"""Dropout 0.5 on fc6/fc7 vs none (paper section 4.2).

    python -m alexnet_jax.main --config=configs/ablate_dropout.py --workdir=/tmp/ablate_dropout

Default preset (fashion_mnist): 2 variants x 3 seeds, about 20 minutes on a
2-core CPU. The paper: without dropout the network overfits substantially;
dropout roughly doubles the iterations needed to converge. Expect a lower final
training loss and a larger train/test gap without dropout.
"""

from alexnet_jax.config import presets


def get_config(arg=None):
  return presets.ablation_config(
      name='dropout', preset=arg,
      variants={'dropout': {}, 'no_dropout': {'model': {'dropout_rate': 0.0}}},
      baseline='dropout',
      paper_claims={'no_dropout': 'substantial overfitting; converges in ~half the iterations'})
