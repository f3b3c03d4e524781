"""Shared fixtures: small configs that keep the suite fast on a 2-core CPU."""

import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from configs import default  # noqa: E402


@pytest.fixture
def small_config():
  """The default config (small variant, 28x28x1, 10 classes), unlocked for edits."""
  return default.get_config()


@pytest.fixture
def paper_config():
  return default.get_config('paper')
