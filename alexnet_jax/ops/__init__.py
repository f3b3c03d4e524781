"""The network's hand-written operations, each a reference formulation, the fast
one the models use, its custom derivative, and a test that holds the two equal:

* lrn: local response normalization in every framework's convention;
* pooling: overlapping max pooling with a cheaper backward pass;
* strided_conv: conv1's stride-4 convolution as a stride-1 one on a space-to-depth input;
* bias: the bias add whose gradient XLA:CPU computes well;
* locally_connected: cuda-convnet's unshared-weight layers;
* window_sums: separable window sums, for cuda-convnet's spatial norm and average pool.
"""
