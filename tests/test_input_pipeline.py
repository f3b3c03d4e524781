"""The input pipeline on tiny TFDS datasets the tests create themselves."""

import numpy as np
import pytest

from alexnet_jax import errors
from alexnet_jax.data import example_seeds
from alexnet_jax.data import input_pipeline as ip
from alexnet_jax.data import iterators


def test_dataset_info(tiny_config):
  info = ip.dataset_info(tiny_config)
  assert info['num_train_examples'] == 200 and info['num_eval_examples'] == 37
  assert info['num_classes'] == 4 and info['stored_image_shape'] == (12, 12, 3)


def test_missing_dataset_says_how_to_get_it(tiny_config):
  tiny_config.data.name = 'cifar10'
  with pytest.raises(errors.DatasetNotFoundError, match='import-npz --name=cifar10'):
    ip.dataset_info(tiny_config)


def unique_images(count=2, size=6):
  return np.arange(count * size * size * 3, dtype=np.int64).reshape(count, size, size, 3)


def test_ten_views_are_corners_center_and_flips():
  images = unique_images()
  views = ip.ten_views(images, 4)
  assert views.shape == (2, 10, 4, 4, 3)
  expected = [images[:, 0:4, 0:4], images[:, 0:4, 2:6], images[:, 2:6, 0:4],
              images[:, 2:6, 2:6], images[:, 1:5, 1:5]]
  for i, view in enumerate(expected):
    np.testing.assert_array_equal(views[:, i], view)
    np.testing.assert_array_equal(views[:, 5 + i], view[:, :, ::-1])


def test_random_crops_reach_every_corner_and_the_center():
  rng = np.random.default_rng(0)
  offsets = {tuple(o) for o in ip.crop_offsets(rng, 2000, 6, 4)}
  assert offsets == {(r, c) for r in range(3) for c in range(3)}
  images = unique_images(1)
  np.testing.assert_array_equal(ip.crop(images, [(2, 1)], 4)[0], images[0, 2:6, 1:5])


def test_flips_flip(tiny_config):
  tiny_config.data.crop_padding = 0
  tiny_config.data.random_crop = False
  tiny_config.data.normalization = 'none'
  tiny_config.data.flip = True
  pre = ip.Preprocessor(tiny_config, {'channel_mean': [0, 0, 0]})
  image = unique_images(1, 12).astype(np.uint8)
  seen = set()
  for seed in range(20):
    out = pre.train(image, np.random.default_rng(seed))[0] * 255
    flipped = np.allclose(out, image[0, :, ::-1])
    assert flipped or np.allclose(out, image[0])
    seen.add(flipped)
  assert seen == {True, False}


def test_pca_noise_has_the_intended_covariance():
  eigval = np.array([0.2175, 0.0188, 0.0045])
  shifts = ip.pca_noise(np.random.default_rng(0), 200_000, eigval, ip.IMAGENET_EIGVEC, 0.1)
  expected = ip.IMAGENET_EIGVEC @ np.diag((0.1 * eigval) ** 2) @ ip.IMAGENET_EIGVEC.T
  np.testing.assert_allclose(np.cov(shifts, rowvar=False), expected, atol=2e-5, rtol=0.05)
  assert np.abs(shifts.mean(0)).max() < 1e-3


# The network input's units per normalization, as a map back to RGB pixels in [0, 1].
TO_UNIT_RGB = {'cuda_convnet': lambda x: x / 255.0, 'caffe': lambda x: x[..., ::-1] / 255.0,
               'torchvision': lambda x: x * ip.IMAGENET_STD}


@pytest.mark.parametrize('normalization', ip.NORMALIZATIONS)
def test_colour_noise_is_the_same_in_pixels_whatever_the_normalization(tiny_config,
                                                                       normalization):
  """The PCA term, mapped back to [0, 1] RGB pixels, is the same draw for every
  normalization: those that feed 0-255 pixels (caffe, cuda_convnet) must not shrink the
  paper's colour noise 255-fold."""
  tiny_config.data.crop_padding, tiny_config.data.image_size = 0, 9
  tiny_config.data.normalization = normalization
  stats = {'channel_mean': [0.4, 0.5, 0.6], 'eigval': ip.IMAGENET_EIGVAL.tolist(),
           'eigvec': ip.IMAGENET_EIGVEC.tolist(),
           'pixel_mean': np.random.default_rng(1).random((12, 12, 3)).tolist()}
  images = np.random.default_rng(2).integers(0, 256, (16, 12, 12, 3), dtype=np.uint8)
  inputs = {}
  for pca_std in (0.0, 0.1):
    tiny_config.data.pca_std = pca_std
    inputs[pca_std] = ip.Preprocessor(tiny_config, stats).train(images,
                                                                np.random.default_rng(3))
  noise = TO_UNIT_RGB.get(normalization, lambda x: x)(inputs[0.1] - inputs[0.0])
  pixels = ip.pca_noise(np.random.default_rng(3).spawn(3)[2], 16, ip.IMAGENET_EIGVAL,
                        ip.IMAGENET_EIGVEC, 0.1)
  np.testing.assert_allclose(noise, np.broadcast_to(pixels[:, None, None], noise.shape),
                             atol=2e-4)
  assert np.abs(pixels).max() > 1e-2  # a shift the comparison could miss if it were 1/255


@pytest.mark.parametrize('seed, step', [(0, 0), (7, 5), (2**40 + 3, 2**33)])
def test_example_rngs_are_the_spawned_generators(seed, step):
  examples = [0, 1, 127, 4000]
  spawned = np.random.default_rng([seed, 1, step]).spawn(4001)
  for example, rngs in zip(examples, example_seeds.example_rngs(seed, step, examples)):
    for rng, reference in zip(rngs, spawned[example].spawn(3)):
      np.testing.assert_array_equal(rng.normal(size=4), reference.normal(size=4))
      assert rng.integers(0, 29, 2).tolist() == reference.integers(0, 29, 2).tolist()


def reference_augmentation(pre, images, rng):
  """Preprocessor.train written out: each image's crop, flipped, through
  `_normalize` (the eval arithmetic), plus its colour shift."""
  offsets, flips, shifts = pre.draw(rng.spawn(3), len(images), images.shape[1])
  side = min(images.shape[1], pre.data.image_size)
  out = []
  for i, (top, left) in enumerate(offsets):
    view = images[i, top:top + side, left:left + side]
    out.append(pre._normalize(view[:, ::-1] if flips[i] else view))
    if shifts is not None:
      out[-1] += shifts[i]
  return np.stack(out)


@pytest.mark.parametrize('normalization', ip.NORMALIZATIONS)
def test_train_augmentation_is_the_written_out_arithmetic(tiny_config, normalization):
  """Bit for bit, for arrays and for PIL images (which Pillow crops and flips)."""
  from PIL import Image
  tiny_config.data.crop_padding, tiny_config.data.image_size = 0, 9
  tiny_config.data.flip, tiny_config.data.pca_std = True, 0.1
  tiny_config.data.normalization = normalization
  stats = {'channel_mean': [0.4, 0.5, 0.6], 'eigval': ip.IMAGENET_EIGVAL.tolist(),
           'eigvec': ip.IMAGENET_EIGVEC.tolist(),
           'pixel_mean': np.random.default_rng(1).random((12, 12, 3)).tolist()}
  pre = ip.Preprocessor(tiny_config, stats)
  images = np.random.default_rng(2).integers(0, 256, (16, 12, 12, 3), dtype=np.uint8)
  expected = reference_augmentation(pre, images, np.random.default_rng(3))
  np.testing.assert_array_equal(pre.train(images, np.random.default_rng(3)), expected)
  for i, image in enumerate(images):
    rngs = np.random.default_rng(3).spawn(3)
    reference = reference_augmentation(pre, image[None], np.random.default_rng(3))[0]
    np.testing.assert_array_equal(pre.train_image(Image.fromarray(image), rngs,
                                                  np.empty((9, 9, 3), np.float32)), reference)


def test_statistics_are_computed_and_cached(tiny_config):
  stats = ip.dataset_statistics(tiny_config)
  again = ip.dataset_statistics(tiny_config)
  assert stats == again and len(stats['eigval']) == 3
  assert stats['eigval'][0] >= stats['eigval'][1] >= stats['eigval'][2] > 0
  assert np.asarray(stats['pixel_mean']).shape == (12, 12, 3)


def batches(config, count, **kwargs):
  iterator = iterators.create_train_iterator(config, **kwargs)
  out = [next(iterator) for _ in range(count)]
  iterator.close()
  return out


def test_batches_are_deterministic_and_cover_an_epoch(tiny_config):
  tiny_config.data.pca_std = 0.1
  first, second = batches(tiny_config, 13), batches(tiny_config, 13)
  for a, b in zip(first, second):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])
  ids = np.concatenate([b['example_id'] for b in first[:12]])
  np.testing.assert_array_equal(ids, np.arange(12 * 16))
  tiny_config.seed = 1
  assert not np.array_equal(batches(tiny_config, 1)[0]['image'], first[0]['image'])


def test_processes_get_slices_of_the_same_global_batch(tiny_config):
  whole = batches(tiny_config, 3)
  parts = [batches(tiny_config, 3, process_index=p, process_count=2) for p in range(2)]
  for step in range(3):
    for key in whole[step]:
      joined = np.concatenate([parts[0][step][key], parts[1][step][key]])
      np.testing.assert_array_equal(joined, whole[step][key])


def test_resume_continues_with_the_next_batch(tiny_config):
  reference = batches(tiny_config, 6)
  resumed = batches(tiny_config, 2, start_step=4)
  np.testing.assert_array_equal(resumed[0]['image'], reference[4]['image'])
  iterator = iterators.create_train_iterator(tiny_config)
  next(iterator)
  state = iterator.get_state()
  assert state == {'step': 1}
  iterator.set_state({'step': 5})
  np.testing.assert_array_equal(next(iterator)['label'], reference[5]['label'])
  iterator.close()


def test_given_batches_are_prefetched_in_step_order(tiny_config):
  """TrainIterator(batches=f) serves f(step) from its start step and after a seek, with
  worker processes configured (they never run a caller's function)."""
  tiny_config.data.worker_processes = 2
  asked = []

  def made(step):
    asked.append(step)
    return {'step': np.array(step)}

  iterator = iterators.TrainIterator(tiny_config, batches=made, start_step=3)
  assert iterator.workers is None
  assert [int(next(iterator)['step']) for _ in range(3)] == [3, 4, 5]
  iterator.set_state({'step': 10})
  assert int(next(iterator)['step']) == 10 and iterator.get_state() == {'step': 11}
  iterator.close()
  assert set(asked) >= {3, 4, 5, 10}


@pytest.mark.parametrize('ten_views', [False, True])
def test_eval_sees_every_example_once(tiny_config, tiny_data_dir, ten_views):
  import tensorflow_datasets as tfds
  tiny_config.data.ten_views = ten_views
  tiny_config.data.image_size = 10
  eval_batches = list(iterators.create_eval_iterator(tiny_config))
  assert len(eval_batches) == 4  # 37 examples in batches of 10
  mask = np.concatenate([b['mask'] for b in eval_batches]).astype(bool)
  assert mask.sum() == 37 and mask[:37].all()
  labels = np.concatenate([b['label'] for b in eval_batches])[mask]
  source = tfds.data_source('tiny_quadrants', split='test', data_dir=tiny_data_dir)
  np.testing.assert_array_equal(labels, [int(source[i]['label']) for i in range(37)])
  shape = eval_batches[0]['image'].shape
  assert shape == ((10, 10, 10, 10, 3) if ten_views else (10, 10, 10, 3))


@pytest.mark.parametrize('process_count', [1, 2])
def test_eval_of_a_sample_sees_the_same_examples_in_every_run(tiny_config, tiny_data_dir,
                                                              process_count):
  import tensorflow_datasets as tfds
  tiny_config.eval.max_examples = 15
  chosen = iterators.eval_examples(37, 15)
  assert len(set(chosen)) == 15 and list(chosen) == sorted(chosen) and chosen.max() < 37
  np.testing.assert_array_equal(chosen, iterators.eval_examples(37, 15))  # fixed seed
  assert not np.array_equal(chosen, np.arange(15))  # a sample, not the first 15
  for everything in (0, 37, 50):
    np.testing.assert_array_equal(iterators.eval_examples(37, everything), np.arange(37))
  labels = []
  for process in range(process_count):
    batches = list(iterators.create_eval_iterator(tiny_config, process_index=process,
                                                  process_count=process_count))
    mask = np.concatenate([b['mask'] for b in batches]).astype(bool)
    labels.append(np.concatenate([b['label'] for b in batches])[mask])
  source = tfds.data_source('tiny_quadrants', split='test', data_dir=tiny_data_dir)
  expected = [int(source[int(i)]['label']) for i in chosen]
  assert sum(len(part) for part in labels) == 15
  if process_count == 1:
    np.testing.assert_array_equal(labels[0], expected)
  else:
    assert sorted(np.concatenate(labels).tolist()) == sorted(expected)


@pytest.fixture(scope='module')
def tiny_jpeg_config(tmp_path_factory):
  """A TFDS dataset of 12 JPEGs of several sizes (full-size path: resize_size=16),
  with the paper's augmentation: random 12x12 crops, flips, PCA noise."""
  import io
  from PIL import Image
  from alexnet_jax.data import importers
  from conftest import make_tiny_config
  rng = np.random.default_rng(0)
  encoded = []
  for i, (h, w) in enumerate([(20, 30), (30, 20), (16, 16), (24, 40)] * 3):
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(out, 'JPEG')
    encoded.append((out.getvalue(), i % 4))
  data_dir = str(tmp_path_factory.mktemp('tfds_jpeg'))
  importers.store_encoded('tiny_jpeg', {'train': encoded, 'test': encoded[:5]},
                          [f'n{i}' for i in range(4)], (None, None, 3), data_dir)
  config = make_tiny_config(data_dir)
  config.data.name, config.data.resize_size = 'tiny_jpeg', 16
  config.data.crop_padding, config.data.flip, config.data.pca_std = 0, True, 0.1
  config.batch_size = 8  # epochs of 1.5 steps: batches straddle epoch boundaries
  return config


def test_worker_processes_serve_the_in_process_batches(tiny_jpeg_config):
  """Same seed, same steps, across a resume (start_step) and a seek (set_state)."""
  reference = batches(tiny_jpeg_config, 9)
  tiny_jpeg_config.data.worker_processes = 2
  iterator = iterators.create_train_iterator(tiny_jpeg_config, start_step=2)
  served = {2: next(iterator), 3: next(iterator), 4: next(iterator)}
  iterator.set_state({'step': 7})
  served.update({7: next(iterator), 8: next(iterator)})
  assert iterator.get_state() == {'step': 9}
  iterator.close()
  assert_same_batches(served, reference)


def assert_same_batches(served, reference):
  for step, batch in served.items():
    assert batch.keys() == reference[step].keys()
    for key in batch:
      assert batch[key].dtype == reference[step][key].dtype
      np.testing.assert_array_equal(batch[key], reference[step][key])


def test_grain_worker_processes_serve_the_in_process_batches(tiny_jpeg_config):
  """experiments/grain_loader.py, the candidate measured against workers.py, makes
  the same batches: from a start step, and from another (a resume)."""
  import copy
  pytest.importorskip('grain')
  from experiments import grain_loader
  config = copy.deepcopy(tiny_jpeg_config)
  config.data.worker_processes = 0  # the reference is made in this process
  reference = batches(config, 9)
  stats = ip.dataset_statistics(config)
  served = {}
  for start_step, count in ((2, 3), (7, 2)):
    iterator = grain_loader.grain_batches(config, stats, 2, start_step=start_step)
    served.update({start_step + i: next(iterator) for i in range(count)})
    iterator.close()
  assert_same_batches(served, reference)


def test_decoded_batches_are_the_augmented_decoded_images(tiny_jpeg_config):
  """TrainBatches crops and flips each decoded PIL image before converting it; the
  same batch comes from decode_image's arrays through Preprocessor.train."""
  import tensorflow_datasets as tfds
  made = ip.TrainBatches(tiny_jpeg_config)
  config = made.config
  source = tfds.data_source('tiny_jpeg', split='train', data_dir=config.data.data_dir,
                            decoders={'image': tfds.decode.SkipDecoding()})
  for step in (0, 1):
    indices, _ = ip.global_batch_plan(config.seed, step, config.batch_size, len(source))
    examples = [source[int(i)] for i in indices]  # as TFDS decodes the records
    rngs = np.random.default_rng([config.seed, 1, step]).spawn(config.batch_size)
    expected = [made.preprocessor.train(
        ip.decode_image(e['image'], 3, config.data.resize_size)[None], rng)[0]
        for e, rng in zip(examples, rngs)]
    batch = made(step)
    np.testing.assert_array_equal(batch['image'], np.stack(expected))
    np.testing.assert_array_equal(batch['label'], [int(e['label']) for e in examples])


def test_images_of_varying_size_need_a_resize(tiny_jpeg_config):
  import copy
  from alexnet_jax.errors import ConfigError
  config = copy.deepcopy(tiny_jpeg_config)
  config.data.resize_size = 0
  with pytest.raises(ConfigError, match='resize_size'):
    ip.TrainBatches(config)


def test_a_failing_worker_is_raised_in_the_main_process(tiny_jpeg_config):
  tiny_jpeg_config.data.worker_processes = 1
  tiny_jpeg_config.data.image_size = 20  # larger than the 16x16 images
  iterator = iterators.create_train_iterator(tiny_jpeg_config)
  with pytest.raises(RuntimeError, match='in a worker process'):
    next(iterator)
  iterator.close()


def test_draft_decoding_of_large_jpegs_keeps_the_picture():
  """A 64x96 JPEG resized to 16 is decoded at 1/4 scale (Image.draft): the result
  differs from decoding all pixels by resampling noise only."""
  import io
  from PIL import Image
  from alexnet_jax.data import images
  y, x = np.mgrid[0:64, 0:96]
  smooth = np.stack([2 * x, 3 * y, 150 + 40 * np.sin(x / 9)], axis=-1).clip(0, 255)
  out = io.BytesIO()
  Image.fromarray(smooth.astype(np.uint8)).save(out, 'JPEG', quality=95)
  drafted = ip.decode_image(out.getvalue(), 3, resize_size=16)
  with Image.open(io.BytesIO(out.getvalue())) as probe:
    probe.draft('RGB', (24, 16))
    assert probe.size == (24, 16)  # libjpeg scales this one by 1/4
  with Image.open(io.BytesIO(out.getvalue())) as full:
    reference = images.resize_and_center_crop(np.asarray(full.convert('RGB')), 16)
  assert drafted.shape == (16, 16, 3)
  assert np.abs(drafted.astype(float) - reference).mean() < 2


def test_statistics_cover_the_whole_split_unless_a_sample_is_asked_for(tiny_config):
  """cuda-convnet's data_mean is the mean of every training image; the sample of N
  images (the runs before 2026-12-04) stays available."""
  images = ip.ImageSource(tiny_config, tiny_config.data.train_split).get(
      np.arange(ip.ImageSource(tiny_config, tiny_config.data.train_split).length))[0] / 255.0
  stats = ip.dataset_statistics(tiny_config)
  np.testing.assert_allclose(stats['pixel_mean'], images.mean(0), rtol=1e-12, atol=1e-12)
  pixels = images.reshape(-1, 3)
  np.testing.assert_allclose(stats['channel_mean'], pixels.mean(0), rtol=1e-12)
  eigval = np.sort(np.linalg.eigvalsh(np.cov(pixels, rowvar=False)))[::-1]
  np.testing.assert_allclose(stats['eigval'], eigval, rtol=1e-9)
  assert stats['images'] == len(images)
  tiny_config.data.statistics_images = 5
  sample = ip.dataset_statistics(tiny_config)
  assert sample['images'] == 5
  assert not np.allclose(sample['pixel_mean'], stats['pixel_mean'])


def test_in_memory_max_bytes_decides_where_images_are_decoded(tiny_config):
  """`data.in_memory_max_bytes`: a small dataset is decoded once into memory, or per
  batch with the limit at 0 (as ImageNet is); both serve the same images."""
  in_memory = ip.ImageSource(tiny_config, tiny_config.data.train_split)
  tiny_config.data.in_memory_max_bytes = 0
  per_batch = ip.ImageSource(tiny_config, tiny_config.data.train_split)
  assert in_memory.images is not None and per_batch.images is None
  indices = np.array([5, 0, 3])
  np.testing.assert_array_equal(in_memory.get(indices)[0], per_batch.get(indices)[0])
  np.testing.assert_array_equal(in_memory.get(indices)[1], per_batch.get(indices)[1])


def test_the_paper_preset_feeds_raw_pixels_minus_the_mean_images_center(paper_config):
  """cuda-convnet fed the paper's net 0-255 pixels minus the mean image (its central crop
  for every crop); with ImageNet's published statistics, the channel means."""
  mean_image = np.random.default_rng(1).random((256, 256, 3))
  images = np.random.default_rng(2).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
  pre = ip.Preprocessor(paper_config, {'pixel_mean': mean_image.tolist(),
                                       'channel_mean': [0.5, 0.4, 0.3]})
  np.testing.assert_allclose(pre.eval(images), images[:, 14:241, 14:241].astype(np.float32)
                             - 255 * mean_image[14:241, 14:241], rtol=1e-5, atol=1e-3)
  published = ip.Preprocessor(paper_config, {'pixel_mean': None,
                                             'channel_mean': [0.5, 0.4, 0.3]})
  np.testing.assert_allclose(published.eval(images), images[:, 14:241, 14:241]
                             - 255 * np.float32([0.5, 0.4, 0.3]), rtol=1e-5, atol=1e-3)


def test_at_the_paper_preset_input_scale_conv1s_lrn_is_not_a_constant(paper_config):
  """The paper's LRN constants (k=2, alpha=1e-4) act on conv1's outputs only at the input
  scale the net was built for: at the paper's initialization, alpha * sum(a^2) is a
  noticeable share of k for the paper preset's inputs, and about 1e-6 of it for the same
  images in [0, 1]."""
  import jax
  import jax.numpy as jnp
  from alexnet_jax.models import alexnet
  from experiments import paper_input_scale
  model = alexnet.create_model(paper_config.model)
  params = jax.jit(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 227, 227, 3)),
                                      train=False))()['params']
  images = np.random.default_rng(3).integers(0, 256, (2, 227, 227, 3), dtype=np.uint8)
  mean = images.mean((0, 1, 2)) / 255
  pre = ip.Preprocessor(paper_config, {'pixel_mean': None, 'channel_mean': mean.tolist()})
  shares = [paper_input_scale.conv1_lrn_share(params, inputs, paper_config.model)
            for inputs in (pre.eval(images), pre.eval(images) / 255)]
  assert shares[0] > 0.01 and shares[1] < 1e-5
