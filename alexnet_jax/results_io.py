"""Result files: written whole or not at all, so a killed run never leaves half a JSON."""

import json
import os


def write_text_atomic(path: str, text: str):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + '.tmp', 'w') as f:
    f.write(text)
  os.replace(path + '.tmp', path)


def write_json_atomic(path: str, obj):
  write_text_atomic(path, json.dumps(obj, indent=2))
