"""experiments/cifar10_paper_lanes.sh names each run by EXPERIMENT/VARIANT/seedK and maps the
experiment to a config, a workdir and a folder of committed runs in bash, apart from the
configs: a renamed variant or preset, or a results folder that differs from the config's own
`ablation.committed_runs`, would otherwise surface only hours into a sweep (or never: a lane
that does not see the committed runs trains them again). Each run is checked here as a lane
would start it, with main.py's flags and validation."""

import collections
import importlib
import os
import shlex
import shutil
import subprocess
import sys

import pytest
from absl import flags

from alexnet_jax import ablation, main, validation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'experiments', 'cifar10_paper_lanes.sh')
RESULTS = 'experiments/results/cifar10_paper'


def _runs():
  """{experiment: [(variant, seed, config, workdir, committed, overrides), ...]}."""
  if shutil.which('bash') is None:
    return {}
  listing = subprocess.run(['bash', SCRIPT, '--list'], check=True, capture_output=True,
                           text=True).stdout
  runs = collections.defaultdict(list)
  for line in listing.splitlines():
    name, config, workdir, committed, *overrides = line.split()
    experiment, variant, seed = name.split('/')
    runs[experiment].append((variant, int(seed.removeprefix('seed')), config, workdir,
                             committed, overrides))
  return dict(runs)


RUNS = _runs()


def test_the_script_lists_its_runs():
  assert RUNS, 'no bash, or --list printed nothing'
  assert {'lrn_r541', 'augmentation_r541', 'weight_decay_r541'} <= set(RUNS)


def test_each_workdir_name_belongs_to_one_experiment():
  """Two experiments in one workdir would mix their runs (and be refused as a changed
  sweep)."""
  owners = collections.defaultdict(set)
  for experiment, runs in RUNS.items():
    for _, _, config, workdir, _, overrides in runs:
      owners[workdir].add((experiment, config, tuple(overrides)))
  assert {workdir: owner for workdir, owner in owners.items() if len(owner) > 1} == {}


@pytest.mark.parametrize('experiment', sorted(RUNS))
def test_a_lane_run_is_a_planned_run_of_its_config(experiment, monkeypatch):
  monkeypatch.chdir(ROOT)
  for variant, seed, config_arg, _, committed, overrides in RUNS[experiment]:
    committed_path = os.path.normpath(os.path.join(RESULTS, committed))
    argv = ['alexnet_jax.main', f'--config={config_arg}', '--workdir=/nonexistent',
            f'--config.ablation.only={variant}/seed{seed}',
            f'--config.ablation.committed_runs={committed_path}', *overrides]
    monkeypatch.setattr(sys, 'argv', argv)  # where config_flags looks for the overrides
    flag_values = flags.FlagValues()
    main.define_flags(flag_values)
    flag_values(argv)
    config = flag_values.config
    validation.validate_config(config)
    ablation.validate(config)  # also: `only` names a planned variant and seed
    assert (variant, seed) in ablation.planned_runs(config), shlex.join(argv)
    # A config that names its own committed runs must name the folder the lanes use.
    name, _, preset = config_arg.partition(':')
    module = importlib.import_module(name[:-len('.py')].replace('/', '.'))
    own = module.get_config(preset or None).ablation.get('committed_runs', '')
    assert own in ('', committed_path), (experiment, own, committed_path)
