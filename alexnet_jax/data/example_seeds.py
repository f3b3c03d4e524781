"""The generators of each training example's augmentation, made fast.

The input pipeline draws each example's crop offset, flip and colour noise from
three generators of its own,
`np.random.default_rng([seed, 1, step]).spawn(batch_size)[example].spawn(3)`, so
that a batch is a pure function of (seed, step) however it is split across
processes or threads. Making those with SeedSequence objects (four per image)
costs more than the image's own draws. `seed_states` computes the same
SeedSequence hash (numpy/random/bit_generator.pyx, after O'Neill's seed_seq_fe;
fixed by NumPy's stream-compatibility policy) on uint32 columns of all keys of a
batch at once, and `example_rngs` hands the states to PCG64 as they are.
tests/test_input_pipeline.py checks both against NumPy's own spawned generators.
"""

import numpy as np

# SeedSequence's constants and pool size.
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43b0d7e5, 0x931e8875, 0x8b51f9dd, 0x58f38ded
_MIX_MULT_L, _MIX_MULT_R, _POOL_SIZE = 0xca01f9dd, 0x4973f715, 4


def example_rngs(seed, step, examples):
  """For each position in `examples` of step `step`'s global batch, its generators
  of crop offsets, flips and colour noise: those of
  `np.random.default_rng([seed, 1, step]).spawn(batch_size)[example].spawn(3)`,
  bit for bit (tests check). Their seeds are hashed for the whole batch at once
  (`seed_states`) and handed to PCG64 as they are: a SeedSequence object per
  generator costs more than the image's augmentation draws."""
  keys = [(example, k) for example in examples for k in range(3)]
  rngs = [np.random.Generator(np.random.PCG64(_SeedState(state)))
          for state in seed_states([seed, 1, step], keys)]
  return [rngs[i:i + 3] for i in range(0, len(rngs), 3)]


def seed_states(entropy, spawn_keys):
  """`np.random.SeedSequence(entropy, spawn_key=key).generate_state(4, np.uint64)`
  for every key (a tuple of ints below 2**32) of `spawn_keys`, as rows: the same
  hash, computed on uint32 columns of all keys at once."""
  run = [word for value in entropy for word in _uint32_words(value)]
  run += [0] * (_POOL_SIZE - len(run))  # with a spawn key, the entropy fills the pool
  keys = np.asarray(spawn_keys, np.int64).reshape(len(spawn_keys), -1)
  if keys.size and (keys.min() < 0 or keys.max() > 0xFFFFFFFF):
    raise ValueError('seed_states: spawn keys must be ints in [0, 2**32)')
  words = [np.full(len(keys), word, np.uint32) for word in run] + list(keys.T.astype(np.uint32))
  hash_const = _INIT_A

  def hashmix(value):
    nonlocal hash_const
    value = value ^ np.uint32(hash_const)
    hash_const = hash_const * _MULT_A & 0xFFFFFFFF
    return _xorshift(value * np.uint32(hash_const))

  def mix(x, y):
    return _xorshift(np.uint32(_MIX_MULT_L) * x - np.uint32(_MIX_MULT_R) * y)

  pool = [hashmix(words[i]) for i in range(_POOL_SIZE)]
  for src in range(_POOL_SIZE):
    for dst in range(_POOL_SIZE):
      if src != dst:
        pool[dst] = mix(pool[dst], hashmix(pool[src]))
  for word in words[_POOL_SIZE:]:
    for dst in range(_POOL_SIZE):
      pool[dst] = mix(pool[dst], hashmix(word))
  state, hash_const = np.empty((len(keys), 8), np.uint32), _INIT_B
  for i in range(8):  # 4 uint64 words are 8 uint32 words, little-endian
    value = pool[i % _POOL_SIZE] ^ np.uint32(hash_const)
    hash_const = hash_const * _MULT_B & 0xFFFFFFFF
    state[:, i] = _xorshift(value * np.uint32(hash_const))
  return state.astype('<u4').view('<u8').astype(np.uint64)


def _xorshift(value):
  return value ^ (value >> np.uint32(16))


def _uint32_words(value):
  """SeedSequence's reading of a non-negative int: 32-bit words, lowest first."""
  value = int(value)
  if value < 0:
    raise ValueError(f'seeds must be non-negative, got {value}')
  words = [value & 0xFFFFFFFF]
  while value >> 32:
    value >>= 32
    words.append(value & 0xFFFFFFFF)
  return words


class _SeedState(np.random.bit_generator.ISeedSequence):
  """A seed sequence whose state is already computed (NumPy's interface for
  seeding a bit generator)."""

  def __init__(self, state):
    self.state = np.ascontiguousarray(state, np.uint64)

  def generate_state(self, n_words, dtype=np.uint32):
    if n_words != len(self.state) or np.dtype(dtype) != np.uint64:
      raise ValueError(f'this seed holds {len(self.state)} uint64 words')
    return self.state
