"""The ablation report, built from synthetic run directories with known values."""

import csv
import json
import os
import subprocess
import sys
import warnings

import pytest

from alexnet_jax import report
from alexnet_jax.reporting import run_summary, sweep, tables


def write_run(root, variant, seed, *, train_errors, losses, test_top1, test_top5, wall_time,
              rate=100.0, steps_per_epoch=10, torn_tail=False, finished=True):
  run_dir = root / variant / f'seed{seed}'
  run_dir.mkdir(parents=True)
  lines = []
  for i, (error, loss) in enumerate(zip(train_errors, losses), start=1):
    lines.append(json.dumps({'step': i * steps_per_epoch, 'split': 'train', 'epoch': float(i),
                             'loss': loss, 'top1_error': error, 'top5_error': error / 2,
                             'learning_rate': 0.01, 'images_per_s': rate}))
  lines.append(json.dumps({'step': len(losses) * steps_per_epoch, 'split': 'eval',
                           'epoch': float(len(losses)),
                           'top1_error': test_top1, 'top5_error': test_top5}))
  text = '\n'.join(lines) + '\n'
  if torn_tail:
    text += '{"step": 99, "split": "tr'
  (run_dir / 'metrics.jsonl').write_text(text)
  if finished:
    (run_dir / 'run.json').write_text(json.dumps({'finished': True, 'wall_time_s': wall_time}))


@pytest.fixture
def ablation_dir(tmp_path):
  (tmp_path / 'ablation.json').write_text(json.dumps({
      'name': 'activation', 'dataset': 'cifar10', 'baseline': 'relu',
      'variants': ['relu', 'tanh'], 'seeds': [0, 1], 'target_train_error': 0.25,
      'paper_claims': {'tanh': {'text': '6x slower to 25%'}}}))
  write_run(tmp_path, 'relu', 0, train_errors=[0.5, 0.3, 0.2, 0.1], losses=[2, 1, .8, .5],
            test_top1=0.30, test_top5=0.05, wall_time=100)
  write_run(tmp_path, 'relu', 1, train_errors=[0.5, 0.24, 0.2, 0.1], losses=[2, 1, .8, .7],
            test_top1=0.34, test_top5=0.07, wall_time=120, torn_tail=True)
  write_run(tmp_path, 'tanh', 0, train_errors=[0.6, 0.5, 0.4, 0.3], losses=[2, 2, 2, 1.5],
            test_top1=0.40, test_top5=0.10, wall_time=90)
  write_run(tmp_path, 'tanh', 1, train_errors=[0.6, 0.5, 0.3, 0.2], losses=[2, 2, 2, 1.5],
            test_top1=0.44, test_top5=0.12, wall_time=110)
  return tmp_path


def test_statistics_over_seeds(ablation_dir):
  results = report.build(str(ablation_dir))
  relu = results['variants']['relu']['stats']
  tanh = results['variants']['tanh']['stats']
  assert relu['test_top1_error']['mean'] == pytest.approx(0.32)
  assert relu['test_top1_error']['std'] == pytest.approx(0.028284, rel=1e-4)
  assert relu['final_train_loss']['mean'] == pytest.approx(0.6)
  assert relu['final_train_top1_error']['mean'] == pytest.approx(0.1)  # windows: no epoch means
  assert tanh['final_train_top1_error']['mean'] == pytest.approx(0.25)
  assert relu['epochs_to_target']['mean'] == pytest.approx(2.5)  # epochs 3 and 2
  assert relu['steps_to_target']['mean'] == pytest.approx(25)
  assert tanh['epochs_to_target'] == {'mean': 4.0, 'std': 0.0, 'n': 1}  # one seed never got there
  assert results['variants']['tanh']['target'] == {
      'reached': 1, 'runs': 2, 'not_reached_within_epochs': 4.0}
  assert results['variants']['tanh']['epochs_to_target_ratio'] is None  # incomplete
  assert relu['wall_time_s']['mean'] == pytest.approx(110)
  diff = results['variants']['tanh']['difference_to_baseline']
  assert diff['test_top1_error'] == pytest.approx(0.10)
  assert results['variants']['tanh']['paper_claim']['text'] == '6x slower to 25%'


def test_overfitting_table_from_the_training_split_evaluations(ablation_dir):
  assert 'overfitting_gap' not in report.build(str(ablation_dir))['variants']['relu']['stats']
  assert '## Overfitting' not in (ablation_dir / 'results.md').read_text()  # older sweeps
  for variant, seed, train_error in [('relu', 0, 0.05), ('relu', 1, 0.07), ('tanh', 0, 0.30),
                                     ('tanh', 1, 0.32)]:
    (ablation_dir / variant / f'seed{seed}' / 'eval_train.json').write_text(json.dumps(
        {'split': 'train', 'views': 1, 'num_examples': 10000, 'top1_error': train_error}))
  results = report.build(str(ablation_dir))
  relu, tanh = (results['variants'][v] for v in ('relu', 'tanh'))
  assert relu['stats']['train_top1_error_eval']['mean'] == pytest.approx(0.06)
  assert relu['stats']['overfitting_gap']['mean'] == pytest.approx(0.26)  # 0.25, 0.27
  assert tanh['stats']['overfitting_gap']['mean'] == pytest.approx(0.11)  # 0.10, 0.12
  assert tanh['difference_to_baseline']['overfitting_gap'] == pytest.approx(-0.15)
  assert tanh['seed_ranges_overlap']['overfitting_gap']['overlap'] is False
  table = (ablation_dir / 'results.md').read_text()
  assert '## Overfitting' in table and 'on 10,000 training images' in table
  assert '| tanh | 2 | 31.00 ± 1.41 | 42.00 ± 2.83 | 11.00 ± 1.41 | -15.00 |' in table
  assert '`tanh` minus `relu`, overfitting' in table
  rows = list(csv.DictReader((ablation_dir / 'results.csv').open()))
  assert float(rows[1]['diff_overfitting_gap']) == pytest.approx(-0.15)


def test_files_are_written(ablation_dir):
  report.build(str(ablation_dir))
  table = (ablation_dir / 'results.md').read_text()
  assert '| relu | 2 |' in table and '32.00 ± 2.83' in table and '+10.00' in table
  rows = list(csv.DictReader((ablation_dir / 'results.csv').open()))
  assert [r['variant'] for r in rows] == ['relu', 'tanh']
  assert float(rows[1]['test_top1_error_mean']) == pytest.approx(0.42)
  assert json.loads((ablation_dir / 'results.json').read_text())['baseline'] == 'relu'
  for png in ('train_error.png', 'test_error.png'):
    assert (ablation_dir / png).read_bytes()[:4] == b'\x89PNG'


def test_without_matplotlib_the_tables_are_written_and_a_line_says_no_plots(
    ablation_dir, monkeypatch, capsys):
  """A JAX-only host (the GPU machine) may lack matplotlib: a finished sweep still ends
  with its tables, not with a traceback."""
  monkeypatch.setitem(sys.modules, 'matplotlib', None)
  results = report.build(str(ablation_dir))
  assert results['variants']['tanh']['finished_runs'] == 2
  assert '| relu | 2 |' in (ablation_dir / 'results.md').read_text()
  assert (ablation_dir / 'results.csv').exists() and (ablation_dir / 'results.json').exists()
  assert not list(ablation_dir.glob('*.png'))
  assert 'matplotlib is not installed: no plots' in capsys.readouterr().out


def test_differences_are_judged_against_the_seed_spread(ablation_dir):
  results = report.build(str(ablation_dir))
  # relu 30 and 34, tanh 40 and 44: the per-seed values do not overlap
  spread = results['variants']['tanh']['seed_ranges_overlap']
  assert spread['test_top1_error'] == {'overlap': False, 'chance_without_effect': 1 / 3}
  assert spread['test_top1_error_ten_views'] is None
  assert ('`tanh` minus `relu`, test top-1 error: +10.00 points, beyond the seed spread'
          in (ablation_dir / 'results.md').read_text())
  assert 'probability 0.33' in (ablation_dir / 'results.md').read_text()
  write_run(ablation_dir, 'tanh', 2, train_errors=[0.6, 0.5, 0.3, 0.2], losses=[2, 2, 2, 1.5],
            test_top1=0.33, test_top5=0.12, wall_time=110)
  results = report.build(str(ablation_dir))
  assert results['variants']['tanh']['seed_ranges_overlap']['test_top1_error'] == {
      'overlap': True, 'chance_without_effect': pytest.approx(0.2)}  # 2 * 3! 2! / 5!
  assert 'within the seed spread' in (ablation_dir / 'results.md').read_text()


def test_test_error_during_training_is_tabled_and_plotted(ablation_dir):
  with open(ablation_dir / 'relu' / 'seed0' / 'metrics.jsonl', 'a') as f:
    f.write(json.dumps({'step': 20, 'split': 'eval', 'epoch': 2.0, 'top1_error': 0.5}) + '\n')
  report.build(str(ablation_dir))
  table = (ablation_dir / 'results.md').read_text()
  assert '| variant | seed | 2 | 4 |' in table
  assert '| relu | 0 | 50.0 | 30.0 |' in table  # sorted by step, not by file order
  assert '| tanh | 1 |  | 44.0 |' in table
  assert (ablation_dir / 'test_curve.png').read_bytes()[:4] == b'\x89PNG'


def test_the_machines_that_trained_the_runs_are_named(ablation_dir):
  report.build(str(ablation_dir))
  assert 'Trained on' not in (ablation_dir / 'results.md').read_text()  # none recorded
  xeon = {'start_step': 0, 'backend': 'cpu', 'cpu': 'Xeon', 'cpu_count': 2,
          'packages': {'jax': '0.10.2'}}
  epyc = dict(xeon, start_step=20, cpu='EPYC')
  gpu = {'start_step': 0, 'backend': 'gpu', 'devices': 1, 'device_kinds': ['NVIDIA H200'],
         'packages': {'jax': '0.11.0'}}
  for run, records in ((('relu', 0), [xeon]), (('relu', 1), [xeon, epyc, xeon]),
                       (('tanh', 0), [gpu])):
    (ablation_dir / run[0] / f'seed{run[1]}' / 'machines.jsonl').write_text(
        ''.join(json.dumps(record) + '\n' for record in records))
  results = report.build(str(ablation_dir))
  assert results['variants']['relu']['runs'][1]['machines'] == [
      'EPYC, 2 cores, jax 0.10.2', 'Xeon, 2 cores, jax 0.10.2']
  assert ('Trained on: 1 x NVIDIA H200, jax 0.11.0 (1 run); EPYC, 2 cores, jax 0.10.2 '
          '(1 run); Xeon, 2 cores, jax 0.10.2 (2 runs); not recorded (1 run).'
          in (ablation_dir / 'results.md').read_text())


def test_figure3_table_from_the_runs_kernel_files(ablation_dir):
  """Runs that `--mode=kernels` measured get a row of conv1's colour statistics; a sweep
  without any gets no section."""
  report.build(str(ablation_dir))
  assert 'conv1 kernels' not in (ablation_dir / 'results.md').read_text()
  two = {'step': 40, 'checkpoint': '/elsewhere/40', 'columns': {
      'column0': {'kernels': 32, 'mean_colour_fraction': 0.31, 'initial_mean_colour_fraction':
                  0.667, 'relative_change': 69.5,
                  'colour_fractions': [0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.9]},
      'column1': {'kernels': 32, 'mean_colour_fraction': 0.5, 'initial_mean_colour_fraction':
                  0.672, 'relative_change': 71.25}},
         'column_difference': {'mean_colour_fraction_difference': -0.19, 'p_value': 0.0012,
                               'shuffles': 10000}}
  imported = {'step': 7, 'checkpoint': '/x', 'column_difference': {},
              'columns': {'net': {'kernels': 64, 'mean_colour_fraction': 0.536}}}
  (ablation_dir / 'relu' / 'seed1' / 'conv1_kernels.json').write_text(json.dumps(two))
  (ablation_dir / 'tanh' / 'seed0' / 'conv1_kernels.json').write_text(json.dumps(imported))
  results = report.build(str(ablation_dir))
  text = (ablation_dir / 'results.md').read_text()
  assert '## conv1 kernels (Figure 3)' in text
  # Quartiles only where the kernel file lists each kernel's fraction (column0 here;
  # files written before that have none).
  assert ('| relu | 1 | 40 | 0.310 (0.667) / 0.500 (0.672) | 0.15, 0.30, 0.50 / n/a '
          '| 69.50 / 71.25 | -0.190 | 0.001 |' in text)
  assert '| tanh | 0 | 7 | 0.536 | n/a | n/a | n/a | n/a |' in text
  assert results['variants']['relu']['runs'][0]['conv1_kernels'] is None
  assert 'checkpoint' not in results['variants']['relu']['runs'][1]['conv1_kernels']


def test_epochs_to_target_ratio_and_runs_that_never_reach_it(ablation_dir):
  import shutil
  shutil.rmtree(ablation_dir / 'tanh')
  write_run(ablation_dir, 'tanh', 0, train_errors=[0.6, 0.5, 0.4, 0.2, 0.1],
            losses=[2, 2, 2, 1.5, 1], test_top1=0.40, test_top5=0.10, wall_time=90)
  write_run(ablation_dir, 'tanh', 1, train_errors=[0.6, 0.5, 0.4, 0.3, 0.24],
            losses=[2, 2, 2, 1.5, 1], test_top1=0.44, test_top5=0.12, wall_time=110)
  results = report.build(str(ablation_dir))
  assert results['variants']['tanh']['epochs_to_target_ratio'] == pytest.approx(4.5 / 2.5)
  assert '| 4.50 ± 0.71 (x1.80) |' in (ablation_dir / 'results.md').read_text()
  # relu reached 25% at epochs 3 and 2, tanh at 4 and 5: pairs 4/3 .. 5/2
  assert results['variants']['tanh']['epochs_to_target_ratio_range'] == pytest.approx([4 / 3, 2.5])
  # interpolated: relu 2 + (0.3-0.25)/(0.3-0.2) = 2.5 and 1 + (0.5-0.25)/(0.5-0.24) = 1.96;
  # tanh 3 + (0.4-0.25)/(0.4-0.2) = 3.75 and 4 + (0.3-0.25)/(0.3-0.24) = 4.83
  relu_i, tanh_i = (2.5, 1 + 0.25 / 0.26), (3.75, 4 + 0.05 / 0.06)
  assert results['variants']['tanh']['epochs_to_target_interpolated_ratio'] == pytest.approx(
      sum(tanh_i) / sum(relu_i))
  assert '| tanh | 1 | yes | 5.0 | 5.0 | 4.83 | 44.00 | n/a |' in (ablation_dir / 'results.md').read_text()

  shutil.rmtree(ablation_dir / 'tanh')
  write_run(ablation_dir, 'tanh', 0, train_errors=[0.6, 0.5, 0.4], losses=[2, 2, 2],
            test_top1=0.40, test_top5=0.10, wall_time=90)
  results = report.build(str(ablation_dir))
  assert results['variants']['tanh']['target']['reached'] == 0
  assert '> 3.0 (0/1 reached)' in (ablation_dir / 'results.md').read_text()


def test_epoch_means_decide_epochs_to_target_when_the_run_logged_them(tmp_path):
  write_run(tmp_path, 'relu', 0, train_errors=[0.5, 0.2, 0.3, 0.2], losses=[2, 1, 1, 1],
            test_top1=0.3, test_top5=0.1, wall_time=1, steps_per_epoch=5)  # windows of half
  with open(tmp_path / 'relu' / 'seed0' / 'metrics.jsonl', 'a') as f:  # an epoch
    for epoch, error in ((1, 0.35), (2, 0.27), (3, 0.25)):
      f.write(json.dumps({'step': 10 * epoch, 'split': 'train_epoch', 'epoch': epoch,
                          'loss': 1.0, 'top1_error': error, 'top5_error': 0.0}) + '\n')
  run = run_summary.summarize_run(str(tmp_path / 'relu' / 'seed0'), 0.25)
  assert run['epochs_to_target'] == 3  # the window logged at epoch 2.0 (0.2) does not count
  assert run['epochs_to_target_interpolated'] == pytest.approx(2 + (0.27 - 0.25) / (0.27 - 0.25))
  assert run['train_curve'] == [(1, 0.35), (2, 0.27), (3, 0.25)]
  assert run['final_train_top1_error'] == 0.25  # the last epoch's mean, not its last window


def test_unfinished_runs_are_counted_but_not_averaged(ablation_dir):
  write_run(ablation_dir, 'relu', 2, train_errors=[0.9], losses=[9.0], test_top1=0.9,
            test_top5=0.5, wall_time=5, finished=False)
  results = report.build(str(ablation_dir))
  relu = results['variants']['relu']
  assert (relu['finished_runs'], relu['unfinished_runs']) == (2, 1)
  assert relu['stats']['test_top1_error']['mean'] == pytest.approx(0.32)
  assert relu['target']['runs'] == 2
  assert '| relu | 2 (+1 unfinished) |' in (ablation_dir / 'results.md').read_text()


def test_missing_runs_are_reported_not_invented(ablation_dir):
  import shutil
  shutil.rmtree(ablation_dir / 'tanh')
  results = report.build(str(ablation_dir))
  assert results['variants']['tanh']['finished_runs'] == 0
  assert results['variants']['tanh']['stats']['test_top1_error']['mean'] is None
  assert '| tanh | 0 |' in (ablation_dir / 'results.md').read_text()


def test_cli_on_a_non_ablation_dir(tmp_path):
  result = subprocess.run([sys.executable, '-m', 'alexnet_jax.report', str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 2  # a bad argument: nothing was done
  assert 'ablation.json not found' in result.stderr


def test_cli_target_override_writes_elsewhere(ablation_dir, tmp_path_factory):
  out = tmp_path_factory.mktemp('report_out')
  assert report.main([str(ablation_dir), f'--out={out}',
                      '--target_train_error=0.45']) == 0
  results = json.loads((out / 'results.json').read_text())
  assert results['target_train_error'] == 0.45
  # relu: 0.3 and 0.24 at epoch 2 -> both cross 45% at epoch 2; tanh: 0.4 and 0.3 at epoch 3.
  assert results['variants']['relu']['stats']['epochs_to_target']['mean'] == pytest.approx(2.0)
  assert results['variants']['tanh']['epochs_to_target_ratio'] == pytest.approx(1.5)
  assert not (ablation_dir / 'results.json').exists()
  with pytest.raises(SystemExit):
    report.main([str(ablation_dir), '--target_train_error=25'])


COMMITTED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         'experiments', 'results')


def _committed_experiments():
  found = []
  for root, dirs, files in os.walk(COMMITTED):
    if 'results.json' in files and os.path.isdir(os.path.join(root, 'runs')):
      found.append(root)
  return sorted(found)


@pytest.mark.parametrize('experiment', _committed_experiments() or [None])
def test_committed_tables_rebuild_from_the_committed_run_files(experiment, tmp_path):
  """issue 18: every committed table comes from the committed run files alone."""
  if experiment is None:
    pytest.skip('no committed cifar10_paper experiment yet')
  import shutil
  shutil.copytree(os.path.join(experiment, 'runs'), tmp_path / 'runs')
  rebuilt = report.build(str(tmp_path / 'runs'), out_dir=str(tmp_path / 'out'))
  with open(os.path.join(experiment, 'results.json')) as f:
    committed = json.load(f)
  assert list(rebuilt['variants']) == list(committed['variants'])
  for name, variant in committed['variants'].items():
    assert rebuilt['variants'][name]['stats'] == variant['stats'], name
  assert (tmp_path / 'out' / 'train_error.png').exists()


def test_a_single_run_is_shown_without_a_spread():
  assert tables._fmt({'mean': 0.1637, 'std': 0.0, 'n': 1}, scale=100) == '16.37'
  assert tables._fmt({'mean': 0.1637, 'std': 0.002, 'n': 3}, scale=100) == '16.37 ± 0.20'


def test_runs_without_a_training_curve_plot_without_a_legend_warning(tmp_path):
  # A run too short to log a nonzero training error (the tiny ablation's) has no line to
  # label; matplotlib warned "No artists with labels found to put in legend".
  (tmp_path / 'ablation.json').write_text(json.dumps({
      'name': 'lrn', 'dataset': 'tiny', 'baseline': 'lrn', 'variants': ['lrn'], 'seeds': [0],
      'target_train_error': 0.25, 'paper_claims': {}}))
  write_run(tmp_path, 'lrn', 0, train_errors=[0.0, 0.0], losses=[1, 1], test_top1=0.5,
            test_top5=0.1, wall_time=10)
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    report.build(str(tmp_path))
  assert (tmp_path / 'train_error.png').read_bytes()[:4] == b'\x89PNG'


def _append_epoch_means(run_dir, errors, steps_per_epoch=10):
  with open(run_dir / 'metrics.jsonl', 'a') as f:
    for epoch, error in enumerate(errors, start=1):
      f.write(json.dumps({'step': epoch * steps_per_epoch, 'split': 'train_epoch',
                          'epoch': epoch, 'loss': 1.0, 'top1_error': error}) + '\n')


def test_training_error_table_shows_every_kth_epoch_and_the_seed_mean(tmp_path):
  # 20 epochs: at most 16 columns, so every 2nd epoch; the mean row averages the seeds.
  (tmp_path / 'ablation.json').write_text(json.dumps({
      'name': 'weight_decay', 'dataset': 'cifar10', 'baseline': 'wd',
      'variants': ['wd', 'no_wd'], 'seeds': [0, 1], 'paper_claims': {}}))
  for variant, seed, offset in (('wd', 0, 0.0), ('wd', 1, 0.02), ('no_wd', 0, 0.05)):
    write_run(tmp_path, variant, seed, train_errors=[0.5] * 20, losses=[1.0] * 20,
              test_top1=0.3, test_top5=0.1, wall_time=10)
    _append_epoch_means(tmp_path / variant / f'seed{seed}',
                        [0.6 - 0.01 * e + offset for e in range(1, 21)])
  text = tables.markdown_table(sweep.collect(str(tmp_path)))
  section = text[text.index('## Training top-1 error during training'):
                 text.index('## Test top-1 error during training')]
  header = next(line for line in section.splitlines() if line.startswith('| variant'))
  assert header == '| variant | seed | ' + ' | '.join(str(e) for e in range(2, 21, 2)) + ' |'
  rows = {tuple(cell.strip() for cell in line.split('|')[1:3]): line.split('|')[3:-1]
          for line in section.splitlines() if line.startswith('| wd') or line.startswith('| no_wd')}
  assert [c.strip() for c in rows[('wd', '0')]][:2] == ['58.00', '56.00']
  assert [c.strip() for c in rows[('wd', 'mean')]][-1] == '41.00'  # (40 + 42) / 2
  assert ('no_wd', 'mean') not in rows  # one seed: no mean row
  assert [c.strip() for c in rows[('no_wd', '0')]][-1] == '45.00'


def test_runs_without_epoch_means_get_no_training_error_table(ablation_dir):
  # The fixture's runs logged only log-interval windows, as runs before per-epoch means did.
  assert '## Training top-1 error during training' not in tables.markdown_table(
      sweep.collect(str(ablation_dir)))
