"""The networks, as data tables plus the Flax modules that read them: the paper's
two-column AlexNet and its variants (alexnet), cuda-convnet's CIFAR-10 nets
(cuda_convnet)."""
