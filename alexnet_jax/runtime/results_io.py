"""Result files: written whole or not at all, so a killed run never leaves half a JSON."""

import json
import os


def write_text_atomic(path: str, text: str):
  """Writes `path.tmp`, then renames it over `path`. A failed write (no space,
  permission denied) removes its own `.tmp` and raises OSError naming `path`;
  the previous `path` stays as it was."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  try:
    with open(path + '.tmp', 'w') as f:
      f.write(text)
    os.replace(path + '.tmp', path)
  except OSError as error:
    if os.path.exists(path + '.tmp'):
      os.remove(path + '.tmp')
    raise OSError(error.errno, error.strerror, path) from None


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
