"""Default config: the small two-column AlexNet on Fashion-MNIST, offline, on a CPU.

Run it (after importing Fashion-MNIST once, see README):

    python -m alexnet_jax.main --config=configs/default.py --workdir=/tmp/alexnet_fmnist

`configs/default.py:paper` is the ImageNet-scale paper network (227x227, 1000
classes) with the paper's recipe. Every field, with why it has its value, is in
alexnet_jax/config/default.py (installed with the package, which compares old runs
against it); any field can be overridden, e.g. `--config.model.lrn=False`.
"""

from alexnet_jax.config import default

get_config = default.get_config
