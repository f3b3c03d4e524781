"""A run's metric writers (training/metric_writers.py, training/event_files.py): the
TensorBoard events written without TensorFlow read back by TensorFlow's own reader,
and resume dropping what a killed run logged after its checkpoint."""

import errno
import json
import os
import sys

import numpy as np
import pytest

from alexnet_jax.training import event_files, metric_writers


def _records(steps):
  return [{'step': step, 'split': 'train', 'loss': 1.0 / step, 'top1_error': 0.5,
           'note': 'not a number'} for step in steps]


def _write_run(workdir, steps, resume_step=0):
  writer = metric_writers.create(str(workdir), resume_step)
  for record in _records(steps):
    writer.write(record)
  writer.close()


def _event_files(workdir):
  return sorted((workdir / 'tensorboard').iterdir())


def _scalars_read_by_tensorflow(workdir):
  import tensorflow as tf
  return [(event.step, value.tag, float(tf.make_ndarray(value.tensor)),
           value.metadata.plugin_data.plugin_name)
          for path in _event_files(workdir)
          for event in tf.compat.v1.train.summary_iterator(str(path))
          for value in event.summary.value]


def test_tensorflow_reads_the_scalars_as_tf_summary_writes_them(tmp_path):
  _write_run(tmp_path, [1, 2, 3])
  expected = [(step, f'train/{key}', float(np.float32(value)), 'scalars')
              for record in _records([1, 2, 3])
              for step in [record['step']]
              for key, value in record.items() if key in ('loss', 'top1_error')]
  assert _scalars_read_by_tensorflow(tmp_path) == expected


def test_resume_drops_later_steps_in_both_files(tmp_path):
  _write_run(tmp_path, range(1, 11))
  _write_run(tmp_path, range(6, 9), resume_step=5)  # killed at 10, resumed from 5
  steps = [step for step, tag, _, _ in _scalars_read_by_tensorflow(tmp_path)
           if tag == 'train/loss']
  assert sorted(steps) == [1, 2, 3, 4, 5, 6, 7, 8]
  lines = (tmp_path / 'metrics.jsonl').read_text().splitlines()
  assert [json.loads(line)['step'] for line in lines] == [1, 2, 3, 4, 5, 6, 7, 8]


def test_a_half_written_last_record_is_cut_and_a_whole_file_left_alone(tmp_path):
  _write_run(tmp_path, range(1, 6))
  [path] = _event_files(tmp_path)
  whole = path.read_bytes()
  metric_writers.purge_events(str(tmp_path / 'tensorboard'), resume_step=5)
  assert path.read_bytes() == whole
  path.write_bytes(whole[:-7])  # killed while writing step 5's event
  records, truncated = event_files.read_records(str(path))
  assert truncated and [event_files.parse_event(data).step for data, _ in records] == [0, 1, 2, 3, 4]
  metric_writers.purge_events(str(tmp_path / 'tensorboard'), resume_step=5)
  assert event_files.read_records(str(path)) == (records, False)
  assert path.read_bytes() == whole[:len(b''.join(framed for _, framed in records))]


def test_a_damaged_checksum_ends_the_readable_part(tmp_path):
  _write_run(tmp_path, range(1, 4))
  [path] = _event_files(tmp_path)
  records, _ = event_files.read_records(str(path))
  damaged = bytearray(path.read_bytes())
  damaged[len(b''.join(framed for _, framed in records[:2])) + 14] ^= 0xFF  # in step 2's data
  path.write_bytes(bytes(damaged))
  assert event_files.read_records(str(path)) == (records[:2], True)


def test_without_tensorboard_only_metrics_jsonl_and_a_line_says_so(tmp_path, monkeypatch,
                                                                   capsys):
  monkeypatch.setitem(sys.modules, 'tensorboard', None)
  _write_run(tmp_path, [1, 2])
  assert 'tensorboard is not installed: no TensorBoard events' in capsys.readouterr().out
  assert not (tmp_path / 'tensorboard').exists()
  assert len((tmp_path / 'metrics.jsonl').read_text().splitlines()) == 2


def _event_file(directory, name, wall_times):
  from tensorboard.compat.proto import event_pb2
  directory.mkdir(parents=True, exist_ok=True)
  (directory / f'{event_files.FILE_PREFIX}.{name}').write_bytes(b''.join(
      event_files.encode_record(event_pb2.Event(wall_time=t, step=i).SerializeToString())
      for i, t in enumerate(wall_times)))


def test_earlier_processes_time_is_summed_from_their_event_files(tmp_path):
  assert metric_writers.earlier_processes_s(str(tmp_path), started_at=1e12) == 0.0
  _event_file(tmp_path / 'tensorboard', 'first', [100.0, 150.0, 400.0])  # killed at 400
  _event_file(tmp_path / 'tensorboard', 'second', [1000.0, 1200.0])  # the resumed process
  (tmp_path / 'tensorboard' / 'not_events.txt').write_text('x')
  assert metric_writers.earlier_processes_s(str(tmp_path), started_at=900.0) == 300.0
  assert metric_writers.earlier_processes_s(str(tmp_path), started_at=2000.0) == 500.0
  assert metric_writers.earlier_processes_s(str(tmp_path), started_at=50.0) == 0.0


def test_collected_old_run_json_adds_the_earlier_processes(tmp_path):
  """experiments/collect_runs: a run.json from before `earlier_processes_s` counted only
  the last process; the committed copy adds the others' event spans, once."""
  from experiments import collect_runs
  sweep = tmp_path / 'sweep'
  (sweep / 'ablation.json').parent.mkdir()
  (sweep / 'ablation.json').write_text('{}')
  for seed, run_json in ((0, {'wall_time_s': 1000.0}),
                         (1, {'wall_time_s': 1500.0, 'earlier_processes_s': 300.0})):
    run_dir = sweep / 'lrn' / f'seed{seed}'
    _event_file(run_dir / 'tensorboard', 'b', [2000.0, 2900.0])  # the last process
    _event_file(run_dir / 'tensorboard', 'a', [100.0, 150.0, 400.0])  # killed at 400
    (run_dir / 'run.json').write_text(json.dumps({'finished': True, **run_json}))
  assert metric_writers.process_spans(str(sweep / 'lrn' / 'seed0')) == [(100.0, 400.0),
                                                                        (2000.0, 2900.0)]
  collect_runs.collect(str(sweep), str(tmp_path / 'committed'))
  old = json.loads((tmp_path / 'committed' / 'lrn' / 'seed0' / 'run.json').read_text())
  assert (old['wall_time_s'], old['earlier_processes_s']) == (1300.0, 300.0)
  new = json.loads((tmp_path / 'committed' / 'lrn' / 'seed1' / 'run.json').read_text())
  assert (new['wall_time_s'], new['earlier_processes_s']) == (1500.0, 300.0)
  assert json.loads((sweep / 'lrn' / 'seed0' / 'run.json').read_text())['wall_time_s'] == 1000.0


def test_collected_runs_keep_their_kernel_files_and_leave_checkpoints(tmp_path):
  """experiments/collect_runs copies `--mode=kernels`' files (the report's Figure 3 table)
  beside the run files, and never a checkpoint."""
  from experiments import collect_runs
  run_dir = tmp_path / 'sweep' / 'two_columns' / 'seed0'
  (run_dir / 'checkpoints' / '100').mkdir(parents=True)
  (tmp_path / 'sweep' / 'ablation.json').write_text('{}')
  (run_dir / 'run.json').write_text(json.dumps({'finished': True, 'earlier_processes_s': 0.0}))
  for name in ('conv1_kernels.json', 'conv1_kernels.png', 'metrics.jsonl'):
    (run_dir / name).write_text(name)
  collect_runs.collect(str(tmp_path / 'sweep'), str(tmp_path / 'committed'))
  copied = tmp_path / 'committed' / 'two_columns' / 'seed0'
  assert sorted(os.listdir(copied)) == ['conv1_kernels.json', 'conv1_kernels.png',
                                        'metrics.jsonl', 'run.json']


def test_a_failed_write_names_the_metrics_file(tmp_path):
  """A full disk (/dev/full) raises OSError naming the writer's own file, which the
  training loop turns into one line with the path; so does the close that follows."""
  writers = metric_writers.create(str(tmp_path), 0)
  for writer in writers.writers:
    writer.file.close()
    writer.file = open('/dev/full', 'wb' if isinstance(writer, metric_writers.TensorBoardWriter)
                       else 'w')
    with pytest.raises(OSError) as raised:
      writer.write(_records([1])[0])
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == writer.path
    with pytest.raises(OSError) as raised:
      writer.close()
    assert raised.value.filename == writer.path and writer.file.closed
