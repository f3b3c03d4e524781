"""runtime/machine.py: what a run records of the machine it trained on."""

from alexnet_jax.runtime import machine


def test_cpu_caches_are_read_from_sysfs(tmp_path, monkeypatch):
  for index, (level, kind, size) in enumerate(
      [(1, 'Data', '48K'), (1, 'Instruction', '32K'), (2, 'Unified', '2048K')]):
    folder = tmp_path / f'index{index}'
    folder.mkdir()
    (folder / 'level').write_text(f'{level}\n')
    (folder / 'type').write_text(f'{kind}\n')
    (folder / 'size').write_text(f'{size}\n')
  (tmp_path / 'uevent').write_text('')  # not a cache: skipped
  monkeypatch.setattr(machine, '_CACHES', str(tmp_path))
  assert machine.cpu_caches() == {'L1d': '48K', 'L1i': '32K', 'L2': '2048K'}
  monkeypatch.setattr(machine, '_CACHES', str(tmp_path / 'missing'))
  assert machine.cpu_caches() == {}


def test_package_versions_name_what_is_missing():
  versions = machine.package_versions(('jax', 'no-such-package-alexnet'))
  assert versions['jax'] and versions['no-such-package-alexnet'] is None
