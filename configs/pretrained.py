"""The configs of imported weights: `:torchvision` and `:caffe`.

    python -m alexnet_jax.weights import-torchvision alexnet-owt-7be5be79.pth runs/torchvision
    python -m alexnet_jax.main --config=configs/pretrained.py:torchvision \\
        --workdir=runs/torchvision --mode=eval

    python -m alexnet_jax.weights import-caffe-npy bvlc_alexnet.npy runs/caffe
    python -m alexnet_jax.main --config=configs/pretrained.py:caffe \\
        --workdir=runs/caffe --mode=eval

The fields and why each differs from the paper's recipe: alexnet_jax/config/pretrained.py
(installed with the package: the importers write it as the run's config.json).
"""

from alexnet_jax.config import pretrained

get_config = pretrained.get_config
