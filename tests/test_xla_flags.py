"""xla_flags.apply: keeps YNNPACK to dots (convolutions compile to XLA's own), turns
on region analysis in copy insertion, and leaves a user's own choice alone. Each
check runs in a fresh process, since XLA reads XLA_FLAGS once."""

import os
import subprocess
import sys

import pytest

from alexnet_jax.runtime import xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROGRAM = """
import jax, jax.numpy as jnp
from jax import lax
from alexnet_jax.runtime import xla_flags
applied = xla_flags.apply()
x, w = jnp.ones((2, 27, 27, 48)), jnp.ones((5, 5, 48, 64))  # conv2's shape: YNNPACK takes it by default
conv = jax.jit(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), 'SAME',
               dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
hlo = conv.lower(x, w).compile().as_text()
print(applied, 'ynn_fusion' in hlo, float(conv(x, w)[0, 4, 4, 0]))
"""


def run(xla_flags_value):
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)
  if xla_flags_value is not None:
    env['XLA_FLAGS'] = xla_flags_value
  done = subprocess.run([sys.executable, '-c', PROGRAM], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=300, check=True)
  return done.stdout.split()


@pytest.mark.skipif(not xla_flags.all_known(),
                    reason="this jaxlib's XLA does not know the project's flags")
def test_convolutions_leave_ynnpack_and_compute_the_same():
  applied, uses_ynn, value = run(None)
  assert applied == 'True' and uses_ynn == 'False'
  assert float(value) == 5 * 5 * 48  # a 5x5x48 window of ones, inside the image


def test_without_the_setting_convolutions_go_to_ynnpack():
  """The check above can fail: XLA's default does send this convolution to YNNPACK."""
  _, uses_ynn, value = run('--xla_cpu_experimental_ynn_fusion_type='
                           'LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION')
  assert uses_ynn == 'True' and float(value) == 5 * 5 * 48


def test_a_users_own_choice_is_kept():
  applied, uses_ynn, _ = run(
      '--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION')
  assert applied == 'False' and uses_ynn == 'True'


def test_a_users_own_copy_insertion_choice_is_kept(monkeypatch):
  monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_copy_insertion_use_region_analysis=false')
  monkeypatch.setattr(xla_flags, 'known_to_xla', lambda flag, value: True)
  assert xla_flags.apply() is False
  flags = os.environ['XLA_FLAGS']
  assert '--xla_cpu_copy_insertion_use_region_analysis=false' in flags
  assert 'region_analysis=true' not in flags
  assert '--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT' in flags


def test_other_user_flags_are_kept(monkeypatch):
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=2')
  monkeypatch.setattr(xla_flags, 'known_to_xla', lambda flag, value: True)
  assert xla_flags.apply() is True
  flags = os.environ['XLA_FLAGS']
  assert flags.startswith('--xla_force_host_platform_device_count=2 ')
  assert all(f'{flag}={value}' in flags for flag, value in xla_flags.SETTINGS.items())


def test_a_flag_or_value_this_xla_does_not_know_is_left_out(monkeypatch):
  """XLA aborts on an unknown flag, so apply() must skip one; the real flags are found
  (jaxlib 0.10 and 0.12 both define them), so the lookup is not vacuously false."""
  assert not xla_flags.known_to_xla('--xla_cpu_no_such_flag_anywhere', 'true')
  flag, value = next(iter(xla_flags.SETTINGS.items()))
  assert not xla_flags.known_to_xla(flag, 'LIBRARY_FUSION_TYPE_NO_SUCH_VALUE')
  assert xla_flags.all_known()
  monkeypatch.setenv('XLA_FLAGS', '')
  monkeypatch.setattr(xla_flags, 'SETTINGS', {**xla_flags.SETTINGS,
                                              '--xla_cpu_no_such_flag_anywhere': 'true'})
  assert xla_flags.apply() is False
  flags = os.environ['XLA_FLAGS']
  assert 'no_such_flag' not in flags and f'{flag}={value}' in flags
