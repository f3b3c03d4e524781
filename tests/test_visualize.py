import numpy as np

from alexnet_jax import visualize


def test_kernel_grid_places_each_column_in_its_band(tmp_path):
  rng = np.random.default_rng(0)
  params = {f'column{c}': {'conv1': {'kernel': rng.normal(size=(3, 3, 3, 4)) + 10 * c}}
            for c in range(2)}
  grid = visualize.kernel_grid(params, per_row=2, gap=1)
  assert grid.shape == (2 * 4 + 5 + 2 * 4, 2 * 4, 3)
  assert grid.min() >= 0 and grid.max() <= 1
  first = params['column0']['conv1']['kernel'][..., 0]
  expected = (first - first.min()) / (first.max() - first.min())
  np.testing.assert_allclose(grid[:3, :3], expected, rtol=1e-5)
  second_band_first = params['column1']['conv1']['kernel'][..., 0]
  expected = (second_band_first - second_band_first.min()) / np.ptp(second_band_first)
  np.testing.assert_allclose(grid[13:16, :3], expected, rtol=1e-5)
  visualize.save_kernel_grid(params, str(tmp_path / 'k.png'))
  assert (tmp_path / 'k.png').read_bytes()[:4] == b'\x89PNG'
