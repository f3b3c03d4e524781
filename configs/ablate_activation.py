"""ReLU vs tanh (paper section 3.1, Figure 1).

    python -m alexnet_jax.main --config=configs/ablate_activation.py --workdir=/tmp/ablate_act
    python -m alexnet_jax.main --config=configs/ablate_activation.py:cifar10 --workdir=/tmp/ablate_act_c10

Default preset (fashion_mnist): 2 variants x 3 seeds, about 20 minutes on a
2-core CPU. The paper: a four-layer CNN with ReLUs reached 25% training error
on CIFAR-10 six times faster than with tanh; the report gives epochs to 25%
training error per variant (`epochs to 25%` column) and the curves.

Figure 1's protocol, which this config follows: the paper's training rule (SGD
with momentum 0.9), "No regularization of any kind was employed" (no dropout, no
weight decay, and here no crop or flip augmentation either), and each network's
learning rate chosen to train as fast as possible; here both use 0.01 (the
paper's initial rate), held constant so that late epochs are not slowed by a
decaying schedule. The optimizer matters: with Adam (the small presets' default)
tanh trained as fast as ReLU on CIFAR-10 here (`experiments/results/cifar10_ablations/`).
"""

from configs import presets


def get_config(arg=None):
  config = presets.ablation_config(
      name='activation', preset=arg,
      variants={'relu': {}, 'tanh': {'model': {'activation': 'tanh'}}},
      baseline='relu',
      paper_claims={'tanh': '~6x more epochs to 25% train error (CIFAR-10)'})
  config.model.dropout_rate = 0.0
  config.optimizer.name = 'sgd'
  config.optimizer.learning_rate = 0.01
  config.optimizer.momentum = 0.9
  config.optimizer.weight_decay = 0.0
  config.data.random_crop = False
  config.data.crop_padding = 0
  config.data.flip = False
  config.data.pca_std = 0.0
  config.schedule.name = 'constant'
  return config
