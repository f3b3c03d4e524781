"""The config a run directory was trained with, read back from its `config.json` (written
resolved when the run started): evaluate, draw, summarize or export any run, one of an
ablation's included, without repeating the preset and overrides that trained it.

    python -m alexnet_jax.main --config=configs/run.py:SWEEP/no_conv4/seed0 --mode=kernels
    python -m alexnet_jax.main --config=configs/run.py:SWEEP/no_conv4/seed0 --mode=eval \\
        --config.data.ten_views=True

The preset is the run directory, written as a path (`./DIR` for one in the current
directory), and it is the default workdir, so outputs such as eval.json land beside the
run. `--config.a.b=value` overrides apply on top, as for any config;
the checkpoint is still checked against the config's network before it is restored.
"""

import json
import os

import ml_collections

from alexnet_jax.training import run_files


def get_config(arg=None):
  if not arg:
    raise ValueError('configs/run.py needs a run directory: --config=configs/run.py:DIR')
  if os.sep not in arg:  # a path, so that it cannot be taken for a preset name
    raise ValueError(f'configs/run.py:{arg}: write the run directory as a path (./{arg})')
  path = os.path.join(arg, run_files.CONFIG)
  if not os.path.isfile(path):
    raise ValueError(f'{arg}: not a run directory (no {run_files.CONFIG} in it)')
  try:
    with open(path) as file:
      stored = json.load(file)
  except (OSError, ValueError) as error:
    raise ValueError(f'{path}: not readable as a run config ({error})') from None
  return ml_collections.ConfigDict(stored)
