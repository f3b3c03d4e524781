"""AlexNet in JAX/Flax (Krizhevsky, Sutskever, Hinton 2012); see README.md."""


def load(path: str):
  """A trained or imported network from its run or checkpoint directory
  (`api.Network`: preprocess, logits, predict, features). Imported here lazily,
  so that `import alexnet_jax` does not start JAX."""
  from alexnet_jax import api
  return api.load(path)
