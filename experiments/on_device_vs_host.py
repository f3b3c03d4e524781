"""The training loop with host-fed against device-resident data (`config.data.on_device`),
on real data: throughput and the metrics each path reaches.

    python -m experiments.on_device_vs_host --jobs=default,cc_11pct --out=DIR

Jobs: `default` (the default job: the small net on Fashion-MNIST, --default_steps steps)
and `cc_11pct` (cuda-convnet's 11pct net on CIFAR-10 as the cuda_convnet preset trains
it, --cc_epochs epochs, evaluated on the center crop). Each job runs once per path in a
fresh workdir under --workdirs (default DIR/runs), the paths alternating (host, device,
per seed of --seeds: the spread over seeds is the noise the paths' difference is judged
against). Throughput is the median of the logged training windows' images/s, the
first window (compilation) left out. The two paths see the same examples in the same
order; their crops and flips are drawn by different generators (data/device_data.py),
so their metrics agree within noise, not bit for bit. Writes on_device_vs_host.json
and .md into DIR.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys

from alexnet_jax.runtime import startup

startup.setup()

import jax  # noqa: E402

from alexnet_jax import train  # noqa: E402
from alexnet_jax.config import default, presets  # noqa: E402
from alexnet_jax.runtime import machine  # noqa: E402

JOBS = ('default', 'cc_11pct')


def job_config(job, args):
  if job == 'default':
    config = default.get_config()
    config.num_train_steps = args.default_steps
  else:
    config = presets.base_config('cuda_convnet')
    config.num_epochs = args.cc_epochs
    config.schedule.name = 'constant'
  config.checkpoint.every_steps = 10 ** 6  # the last step only
  config.checkpoint.async_save = False
  return config


def run_job(job, on_device, seed, workdir, args):
  config = job_config(job, args)
  config.data.on_device = on_device
  config.seed = seed
  final = train.train_and_evaluate(config, workdir)
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  rates = [r['images_per_s'] for r in records if r['split'] == 'train'][1:]
  epochs = [r for r in records if r['split'] == 'train_epoch']
  return {'job': job, 'path': 'on_device' if on_device else 'host_fed', 'seed': seed,
          'images_per_s': statistics.median(rates) if rates else None,
          'windows': len(rates), 'eval_top1_error': final['top1_error'],
          'eval_loss': final['loss'], 'steps': final['step'],
          'last_epoch_train_error': epochs[-1]['top1_error'] if epochs else None}


def markdown(report):
  lines = [f"# Host-fed against device-resident data, {report['date']}", '',
           f"{report['machine']}; jax {report['jax']}, Python {report['python']}.", '',
           '| job | path | seed | steps | images/s | eval top-1 error | eval loss |',
           '| --- | --- | ---: | ---: | ---: | ---: | ---: |']
  for row in report['rows']:
    lines.append(f"| {row['job']} | {row['path']} | {row['seed']} | {row['steps']} | "
                 f"{row['images_per_s']:,.0f} | {row['eval_top1_error']:.2%} | "
                 f"{row['eval_loss']:.4f} |")
  lines += ['', 'Command: `python -m experiments.on_device_vs_host ' + ' '.join(report['argv'])
            + '`']
  return '\n'.join(lines) + '\n'


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--out', required=True)
  parser.add_argument('--jobs', default=','.join(JOBS))
  parser.add_argument('--default_steps', type=int, default=300)
  parser.add_argument('--cc_epochs', type=float, default=1.0)
  parser.add_argument('--seeds', default='0', help='comma-separated')
  parser.add_argument('--workdirs', default=None, help='run workdirs (default OUT/runs)')
  args = parser.parse_args(argv)
  jobs = [j for j in args.jobs.split(',') if j]
  for job in jobs:
    if job not in JOBS:
      print(f'on_device_vs_host: unknown job {job!r}; choose from {", ".join(JOBS)}',
            file=sys.stderr)
      return 2
  seeds = [int(s) for s in args.seeds.split(',') if s]
  workdirs = args.workdirs or os.path.join(args.out, 'runs')
  rows = []
  for job in jobs:
    for seed in seeds:
      for on_device in (False, True):
        workdir = os.path.join(workdirs, f'{job}_{"device" if on_device else "host"}_{seed}')
        rows.append(run_job(job, on_device, seed, workdir, args))
        print(json.dumps(rows[-1]), flush=True)
  report = {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            'machine': f'{os.cpu_count()}-core {machine.cpu_model()}', 'jax': jax.__version__,
            'python': platform.python_version(), 'rows': rows,
            'argv': sys.argv[1:] if argv is None else list(argv)}
  with open(os.path.join(args.out, 'on_device_vs_host.json'), 'w') as f:
    json.dump(report, f, indent=1)
  with open(os.path.join(args.out, 'on_device_vs_host.md'), 'w') as f:
    f.write(markdown(report))
  print(markdown(report))
  return 0


if __name__ == '__main__':
  sys.exit(main())
