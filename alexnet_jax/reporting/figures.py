"""The report's plots, drawn with matplotlib (which a JAX-only host may lack; the caller
checks)."""

import os

from alexnet_jax.reporting import sweep
from alexnet_jax.runtime import results_io


def plot(results: dict, workdir: str):
  """Training error vs epochs (linear, Figure 1 style: a line style per variant, the
  target dashed), test error during training where the runs evaluated as they went,
  and test error bars."""
  import matplotlib  # deferred: only figures need it
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(6, 4))
  for name, variant in results['variants'].items():
    for i, run in enumerate(run for run in variant['runs'] if run['finished']):
      points = [(x, y) for x, y in run['train_curve'] if y is not None and y > 0]
      if points:
        xs, ys = zip(*points)
        order = list(results['variants']).index(name)
        ax.plot(xs, ys, color=f'C{order}', linestyle=('-', '--', ':', '-.')[order % 4],
                alpha=0.8, label=name if i == 0 else None)
  ax.axhline(results['target_train_error'], color='grey', linestyle='--', linewidth=1)
  ax.set_ylim(bottom=0)  # linear, as the paper's Figure 1
  ax.set_xlabel('epochs')
  ax.set_ylabel('training error (top-1)')
  ax.set_title(f"{results['ablation']}: training error")
  if ax.get_legend_handles_labels()[0]:  # runs too short to log a nonzero training error have none
    ax.legend()
  fig.tight_layout()
  results_io.write_figure_atomic(os.path.join(workdir, 'train_error.png'), fig, dpi=120)
  plt.close(fig)

  curves = sweep.finished_test_curves(results)
  if curves:  # test error at each evaluation: has it flattened by the end?
    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(results['variants'])
    labelled = set()
    for name, run in curves:
      points = [(x, y * 100) for x, y in run['test_curve'] if y is not None]
      if not points:
        continue
      xs, ys = zip(*points)
      order = names.index(name)
      ax.plot(xs, ys, color=f'C{order}', linestyle=('-', '--', ':', '-.')[order % 4],
              marker='.', alpha=0.8, label=None if name in labelled else name)
      labelled.add(name)
    ax.set_xlabel('epochs')
    ax.set_ylabel('test top-1 error (%), center crop')
    ax.set_title(f"{results['ablation']}: test error during training")
    if labelled:
      ax.legend()
    fig.tight_layout()
    results_io.write_figure_atomic(os.path.join(workdir, 'test_curve.png'), fig, dpi=120)
    plt.close(fig)

  fig, ax = plt.subplots(figsize=(6, 4))
  names = list(results['variants'])
  means = [(results['variants'][n]['stats']['test_top1_error']['mean'] or 0) * 100 for n in names]
  stds = [(results['variants'][n]['stats']['test_top1_error']['std'] or 0) * 100 for n in names]
  ax.bar(names, means, yerr=stds, capsize=6, color=[f'C{i}' for i in range(len(names))])
  ax.set_ylabel('test top-1 error (%)')
  ax.set_title(f"{results['ablation']}: test error (mean ± std over seeds)")
  fig.tight_layout()
  results_io.write_figure_atomic(os.path.join(workdir, 'test_error.png'), fig, dpi=120)
  plt.close(fig)
