"""Ablation report, built only from the files of the run directories.

    python -m alexnet_jax.report DIR [--out=OUT_DIR] [--target_train_error=0.4]

reads `DIR/<variant>/seed<k>/{metrics.jsonl,eval.json,run.json,machines.jsonl}` and,
where the ablation wrote them, `eval_ten_views.json` and `eval_train.json` (written by
the training loop and the ablation runner, possibly yesterday on other machines)
and `DIR/ablation.json` (the sweep: variants, baseline, the paper's claims),
and writes `DIR/results.{md,csv,json}` and the plots `DIR/train_error.png`,
`DIR/test_error.png` (where matplotlib is installed; a line says when it is not).

Per variant, over seeds: mean +/- std of the final training loss and training error
(the last epoch's mean over its batches, as logged), the test
top-1/top-5 error, the epochs and steps to reach the target training error
(the paper's Figure 1 uses 25% on CIFAR-10), wall time and images/s; and the
difference of each to the baseline, with the paper's claimed difference beside it;
how far each variant overfits (test error minus the error on training images evaluated
alike); conv1's colour statistics per column (Figure 3) for the runs that
`--mode=kernels` measured (`conv1_kernels.json`); the machines the runs trained on (runs
from before machines.jsonl have none); and per run, the training error of every k-th epoch
(with the seeds' mean) and the test error at each evaluation.

This module is the command line and `build`; the numbers, tables and plots are made in
`alexnet_jax/reporting/`.
"""

import os
import sys

from absl import flags

from alexnet_jax.reporting import figures, sweep, tables
from alexnet_jax.runtime import cli, optional, results_io

FLAGS = flags.FlagValues()
flags.DEFINE_string('out', None, 'write the report here (default: the sweep directory)',
                    flag_values=FLAGS)
flags.DEFINE_float('target_train_error', None, "training error for the epochs-to-target "
                   "column (default: the sweep's)", flag_values=FLAGS)
flags.register_validator('target_train_error', lambda value: value is None or 0 < value < 1,
                         message='must be in (0, 1)', flag_values=FLAGS)
USAGE = 'usage: python -m alexnet_jax.report ABLATION_DIR [--out=DIR] [--target_train_error=E]'


def build(workdir: str, out_dir=None, target_train_error=None) -> dict:
  """Writes results.{json,md,csv} and the plots (into `out_dir`, default the sweep
  directory); returns the results."""
  results = sweep.collect(workdir, target_train_error)
  out_dir = out_dir or workdir
  os.makedirs(out_dir, exist_ok=True)
  results_io.write_json_atomic(os.path.join(out_dir, 'results.json'), results)
  table = tables.markdown_table(results)
  results_io.write_text_atomic(os.path.join(out_dir, 'results.md'), table)
  results_io.write_text_atomic(os.path.join(out_dir, 'results.csv'), tables.csv_text(results))
  print(table)
  if optional.installed('matplotlib'):
    figures.plot(results, out_dir)
  else:  # a JAX-only host: the tables are written; `report DIR` draws the plots elsewhere
    print('matplotlib is not installed: no plots (results.md, .csv and .json are written; '
          '`python -m alexnet_jax.report DIR` draws them where it is)', flush=True)
  return results


def main(argv) -> int:
  """`argv`: the arguments after the program name; returns the exit code."""
  args = cli.parse(FLAGS, argv, USAGE)
  if len(args) != 1:
    return cli.usage_error(f'expected one ablation directory; got {" ".join(args) or "none"}')
  try:
    build(args[0], FLAGS.out, FLAGS.target_train_error)
  except FileNotFoundError as error:
    return cli.fail(error)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
