"""The conv1 kernels drawn as an image grid, column by column (paper Figure 3:
on ImageNet one column learned largely colour-agnostic kernels, the other
largely colour-specific ones).

    python -m alexnet_jax.main --config=CONFIG --workdir=DIR --mode=kernels

restores `config.eval.checkpoint` (default: the latest) and writes
`DIR/conv1_kernels.png` and `DIR/conv1_kernels.json`: per column, the mean
colour fraction of its kernels (0: every kernel is grey, the same in each
channel; 2/3: each kernel lives in one channel), which puts a number on the
figure's colour-agnostic/colour-specific split. Two baselines make that number
readable: the same fraction at the run's initialization, recomputed from its stored
seed (random kernels score about 2/3), with how far the kernels moved from it; and,
for two columns, how often kernels dealt to the columns at random differ as much as
the columns do (a permutation test), since a few dozen kernels per column differ
by chance.
"""

import math
import os
import statistics

import ml_collections
import numpy as np

from alexnet_jax.runtime import optional, results_io
from alexnet_jax.training import restore, run_files


def _columns(params) -> dict:
  """{column name: that column's layers}; a one-column net without column
  subtrees (cuda-convnet's nets) is one column named 'net'."""
  columns = {name: params[name] for name in sorted(params) if name.startswith('column')}
  return columns or {'net': params}


def kernel_grid(params, per_row: int = 16, gap: int = 1) -> np.ndarray:
  """An RGB (or grey) image [H, W, C] in [0, 1] of every conv1 kernel, each
  scaled to its own range; each column's kernels start on a new row, the
  columns separated by a blank band."""
  blocks = []
  for column in _columns(params).values():
    kernels = np.asarray(column['conv1']['kernel'], np.float32)  # kh, kw, cin, cout
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
  import matplotlib  # deferred: only figures need it
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  grid = kernel_grid(params)
  fig, ax = plt.subplots(figsize=(8, 8 * grid.shape[0] / grid.shape[1] + 0.6))
  ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap='gray', interpolation='nearest')
  ax.set_axis_off()
  ax.set_title(f'{title} (one column per band)')
  fig.tight_layout()
  results_io.write_figure_atomic(path, fig, dpi=150)
  plt.close(fig)


def colour_fraction(kernels) -> np.ndarray:
  """Per kernel of a [kh, kw, channels, count] array: the share of its energy
  that is not grey, |k - mean_c k|^2 / |k|^2 (0 for a kernel equal in every
  channel, 2/3 for one confined to one of three channels)."""
  kernels = np.asarray(kernels, np.float64)
  grey = kernels.mean(axis=2, keepdims=True)
  energy = (kernels ** 2).sum(axis=(0, 1, 2))
  return ((kernels - grey) ** 2).sum(axis=(0, 1, 2)) / np.maximum(energy, 1e-30)


def kernel_statistics(params) -> dict:
  """{column name: {'kernels': n, 'mean_colour_fraction': f, 'colour_fractions': [...]}}
  for conv1. Each kernel's own fraction (in the kernels' order, as drawn) is kept beside
  the mean because Figure 3's claim is about how a column's kernels are spread: a mean of
  0.4 can be a column of uniformly tinted kernels or one of grey kernels beside
  single-colour blobs."""
  stats = {}
  for name, column in _columns(params).items():
    fractions = colour_fraction(column['conv1']['kernel'])
    stats[name] = {'kernels': int(fractions.size),
                   'mean_colour_fraction': float(fractions.mean()),
                   'colour_fractions': [float(f) for f in fractions]}
  return stats


def column_difference(params, shuffles: int = 10_000, seed: int = 0) -> dict:
  """column0's mean colour fraction minus column1's, and the share of `shuffles` random
  deals of the same kernels to two columns of the same sizes whose difference is at
  least as large either way (a two-sided permutation p-value; 1/shuffles at the
  least, as the observed deal counts as one). {} for a net without two columns."""
  columns = _columns(params)
  if set(columns) != {'column0', 'column1'}:
    return {}
  first, second = (colour_fraction(columns[name]['conv1']['kernel'])
                   for name in ('column0', 'column1'))
  observed = first.mean() - second.mean()
  pooled = np.concatenate([first, second])
  rng = np.random.default_rng(seed)
  deals = np.stack([rng.permutation(pooled) for _ in range(shuffles)])
  dealt = deals[:, :first.size].mean(axis=1) - deals[:, first.size:].mean(axis=1)
  as_large = int(np.sum(np.abs(dealt) >= abs(observed) - 1e-12))
  return {'mean_colour_fraction_difference': float(observed),
          'p_value': (as_large + 1) / (shuffles + 1), 'shuffles': shuffles}


def initial_statistics(meta: dict, params) -> dict:
  """Per column, conv1's mean colour fraction at the run's initialization and the
  kernels' distance from it relative to their initial norm, from the config the
  checkpoint's `meta` stores (its seed and network); {} for imported weights and for a
  run that started from other weights (`init_from`): neither began as a draw from its
  seed."""
  stored_config = ml_collections.ConfigDict(meta['config'])
  if meta.get('imported_from') or stored_config.get('init_from'):
    return {}
  initial = _columns(restore.initial_params(stored_config))
  statistics = {}
  for name, column in _columns(params).items():
    start = np.asarray(initial[name]['conv1']['kernel'], np.float64)
    end = np.asarray(column['conv1']['kernel'], np.float64)
    statistics[name] = {
        'initial_mean_colour_fraction': float(colour_fraction(start).mean()),
        'relative_change': float(np.linalg.norm(end - start) / np.linalg.norm(start))}
  return statistics


def run(config, workdir: str) -> dict:
  """`--mode=kernels`: the conv1 grid and colour statistics of a checkpoint."""

  params, meta, manager = restore.restore_params(config, workdir)
  step = int(meta['step'])
  png = os.path.join(workdir, run_files.KERNEL_GRID)
  drawn = optional.installed('matplotlib')
  if drawn:
    save_kernel_grid(params, png, title=f'conv1 kernels at step {step}')
  record = {'step': step, 'checkpoint': os.path.join(str(manager.directory), str(step)),
            'columns': {}, 'column_difference': {}}
  if config.data.channels == 3:
    initial = initial_statistics(meta, params)
    record['columns'] = {name: {**column, **initial.get(name, {})}
                         for name, column in kernel_statistics(params).items()}
    record['column_difference'] = column_difference(params)
  path = os.path.join(workdir, run_files.KERNELS)
  results_io.write_json_atomic(path, record)
  for name, column in record['columns'].items():
    start = (f" (at initialization {column['initial_mean_colour_fraction']:.3f}; the "
             f"kernels moved {column['relative_change']:.2f}x their initial norm)"
             if 'relative_change' in column else '')
    spread = (' (quartiles {:.3f} / {:.3f} / {:.3f})'.format(
        *statistics.quantiles(column['colour_fractions'], n=4, method='inclusive'))
        if column['kernels'] > 1 else '')
    print(f"{name}: {column['kernels']} kernels, mean colour fraction "
          f"{column['mean_colour_fraction']:.3f}{spread}{start}")
  if record['column_difference']:
    difference = record['column_difference']
    print(f"column0 - column1: {difference['mean_colour_fraction_difference']:+.3f} "
          f"(permutation p = {difference['p_value']:.3f})")
  print(f'wrote {png} and {path}' if drawn
        else f'wrote {path} (matplotlib is not installed: no {os.path.basename(png)})')
  return record
