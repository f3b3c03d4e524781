"""Result files: written whole or not at all, so a killed run never leaves half a JSON."""

import io
import json
import os
import tempfile


def _read_umask() -> int:
  """Read once at import: os.umask can only be read by setting it, which is not safe
  while other threads create files."""
  mask = os.umask(0o22)
  os.umask(mask)
  return mask


_UMASK = _read_umask()


def write_text_atomic(path: str, text: str):
  _write_atomic(path, text, 'w')


def write_bytes_atomic(path: str, data: bytes):
  _write_atomic(path, data, 'wb')


def _write_atomic(path: str, content, mode: str):
  """Writes a temporary file beside `path`, then renames it over `path`. The temporary
  name is unique per call, so two processes writing the same file at once (two lanes
  starting runs of one sweep) each rename their own whole copy instead of one renaming
  the other's away. A failed write (no space, permission denied) removes its own
  temporary file and raises OSError naming `path`; the previous `path` stays as it was."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = None
  try:
    descriptor, tmp = tempfile.mkstemp(
        dir=directory, prefix=f'.{os.path.basename(path)}.', suffix='.tmp')
    with os.fdopen(descriptor, mode) as f:
      os.fchmod(f.fileno(), 0o666 & ~_UMASK)  # mkstemp's 0600 would hide results from others
      f.write(content)
    os.replace(tmp, path)
  except OSError as error:
    if tmp is not None and os.path.exists(tmp):
      os.remove(tmp)
    raise OSError(error.errno, error.strerror, path) from None


def write_figure_atomic(path: str, fig, dpi: int):
  """A matplotlib figure as PNG, rendered in memory and then written as the other
  results are: a report killed while drawing leaves the previous plot, not half of one."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=dpi)
  write_bytes_atomic(path, buffer.getvalue())


def write_json_atomic(path: str, obj):
  write_text_atomic(path, json.dumps(obj, indent=2))


def show_and_write(text: str, workdir: str, name: str, obj) -> str:
  """What a reporting mode ends with: prints `text`, writes `obj` to `workdir/name`
  (atomically) and says where; returns the path."""
  print(text)
  path = os.path.join(workdir, name)
  write_json_atomic(path, obj)
  print(f'wrote {path}')
  return path
