"""Everything between a stored dataset and a device batch: TFDS sources, decoding,
dataset statistics, the paper's and cuda-convnet's augmentation, batches as a pure
function of (seed, step), and the worker processes that make them."""
