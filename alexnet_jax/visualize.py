"""The conv1 kernels drawn as an image grid, column by column (paper Figure 3:
on ImageNet one column learned largely colour-agnostic kernels, the other
largely colour-specific ones)."""

import math

import numpy as np


def kernel_grid(params, per_row: int = 16, gap: int = 1) -> np.ndarray:
  """An RGB (or grey) image [H, W, C] in [0, 1] of every conv1 kernel, each
  scaled to its own range; each column's kernels start on a new row, the
  columns separated by a blank band."""
  columns = sorted(name for name in params if name.startswith('column'))
  blocks = []
  for name in columns:
    kernels = np.asarray(params[name]['conv1']['kernel'], np.float32)  # kh, kw, cin, cout
    kh, kw, channels, count = kernels.shape
    rows = math.ceil(count / per_row)
    block = np.ones((rows * (kh + gap), per_row * (kw + gap), channels), np.float32)
    for i in range(count):
      kernel = kernels[..., i]
      low, high = kernel.min(), kernel.max()
      kernel = (kernel - low) / (high - low) if high > low else np.zeros_like(kernel)
      r, c = divmod(i, per_row)
      block[r * (kh + gap):r * (kh + gap) + kh, c * (kw + gap):c * (kw + gap) + kw] = kernel
    blocks.append(block)
    blocks.append(np.ones((3 * gap + 2, block.shape[1], channels), np.float32))
  return np.concatenate(blocks[:-1], axis=0)


def save_kernel_grid(params, path: str, title: str = 'conv1 kernels'):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  grid = kernel_grid(params)
  fig, ax = plt.subplots(figsize=(8, 8 * grid.shape[0] / grid.shape[1] + 0.6))
  ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap='gray', interpolation='nearest')
  ax.set_axis_off()
  ax.set_title(f'{title} (one column per band)')
  fig.tight_layout()
  fig.savefig(path, dpi=150)
  plt.close(fig)
