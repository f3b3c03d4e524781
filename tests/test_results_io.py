"""Result files written by several writers at once stay whole and readable."""

import errno
import json
import os
import stat
import threading

import pytest

from alexnet_jax.runtime import results_io


def test_concurrent_writers_of_one_file_all_succeed(tmp_path):
  # Two lanes starting runs of one sweep write its ablation.json at the same moment; with a
  # shared temporary name one writer's rename took the other's file away (FileNotFoundError).
  path = tmp_path / 'ablation.json'
  errors = []

  def write(writer):
    try:
      for i in range(200):
        results_io.write_json_atomic(str(path), {'writer': writer, 'i': i, 'pad': 'x' * 4096})
    except OSError as error:
      errors.append(error)

  threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert errors == []
  assert json.loads(path.read_text())['i'] == 199  # whole: the last write of some writer
  assert os.listdir(tmp_path) == ['ablation.json']  # no temporary file left behind


def test_written_file_has_the_umask_mode_not_a_private_one(tmp_path):
  path = tmp_path / 'results.json'
  results_io.write_text_atomic(str(path), '{}')
  mask = os.umask(0o22)
  os.umask(mask)
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask


def test_a_failed_write_keeps_the_previous_file_and_names_the_path(tmp_path, monkeypatch):
  path = tmp_path / 'results.json'
  results_io.write_text_atomic(str(path), 'old')

  def no_space(src, dst):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  monkeypatch.setattr(os, 'replace', no_space)
  with pytest.raises(OSError, match=f'No space left on device.*{path}'):
    results_io.write_text_atomic(str(path), 'new')
  assert path.read_text() == 'old'
  assert os.listdir(tmp_path) == ['results.json']  # its temporary file removed


class _FigureKilledWhileDrawing:
  """Writes the start of a PNG to its target, as matplotlib's savefig does while it
  renders, then fails (a report killed, or a renderer error, halfway through)."""

  def savefig(self, target, **kwargs):
    if isinstance(target, (str, os.PathLike)):
      with open(target, 'wb') as f:
        f.write(b'\x89PNG half')
    else:
      target.write(b'\x89PNG half')
    raise RuntimeError('killed while drawing')


def test_a_figure_that_fails_while_drawing_leaves_the_previous_plot(tmp_path):
  path = tmp_path / 'train_error.png'
  path.write_bytes(b'the previous plot')
  with pytest.raises(RuntimeError, match='killed while drawing'):
    results_io.write_figure_atomic(str(path), _FigureKilledWhileDrawing(), dpi=120)
  assert path.read_bytes() == b'the previous plot'
  assert os.listdir(tmp_path) == ['train_error.png']


def test_a_figure_is_written_as_png(tmp_path):
  pytest.importorskip('matplotlib')
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(2, 2))
  ax.plot([0, 1], [1, 0])
  path = tmp_path / 'plot.png'
  results_io.write_figure_atomic(str(path), fig, dpi=50)
  plt.close(fig)
  assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~results_io._UMASK
