"""Nearest neighbours in a trained net's feature space (paper section 6.1, Figure 4 right).

    python -m alexnet_jax.neighbours RUN_DIR --out=FILE.json [--layer=NAME] [--k=6]
        [--shown=5] [--max_train=N] [--max_queries=N]

The paper: "If two images produce feature activation vectors with a small Euclidean
separation, we can say that the higher levels of the neural network consider them to be
similar. Figure 4 shows five images from the test set and the six images from the
training set that are most similar to each of them according to this measure. Notice
that at the pixel level, the retrieved training images are generally not close in L2 to
the query images." The figure is the evidence there; this puts a number beside it.

For every query (the run's eval split, or a fixed sample of `--max_queries`) it finds the
`--k` training images (all, or a fixed sample of `--max_train`) nearest in Euclidean
distance twice: between the activations of `--layer` (default: the last hidden layer, the
one the classifier reads; the paper's is the 4096-d fc7) and between the network inputs
themselves (the center crops after the run's normalization: the pixel level). It writes
FILE.json, each space's label agreement (the share of the k neighbours with the query's
class; at k = 1 this is 1-nearest-neighbour accuracy) beside the agreement of neighbours
drawn at random, and how near by pixels the neighbours found by features are (the
median share of the searched images nearer than they are, and how many of them are among
the k nearest by pixels); and FILE.png: `--shown` queries (a fixed sample), each followed by its
neighbours in feature space, then by its neighbours in pixel space.

The training images searched are the run's `data.train_split`. Where its eval split
shares images with it (an eval split of 'train[40000:]' for a run trained on 'train'), a
query's own image is left out of its search, so that no query is its own neighbour.
"""

import math
import os
import sys

from absl import flags
import numpy as np

from alexnet_jax import api, errors
from alexnet_jax.data import input_pipeline, iterators
from alexnet_jax.runtime import cli, console, optional, results_io, startup

USAGE = 'usage: ' + __doc__.split('\n\n')[1].strip()
FLAGS = flags.FlagValues()
flags.DEFINE_string('out', None, 'write the record here (a .json file; the figure goes '
                    'beside it as .png)', flag_values=FLAGS)
flags.DEFINE_string('layer', None, 'the layer whose activations are compared (default: the '
                    'last hidden layer)', flag_values=FLAGS)
flags.DEFINE_integer('k', 6, 'neighbours per query (the paper shows 6)', flag_values=FLAGS)
flags.DEFINE_integer('shown', 5, 'queries drawn in the figure (the paper shows 5)',
                     flag_values=FLAGS)
flags.DEFINE_integer('max_train', 0, 'search a fixed sample of this many training images '
                     '(0: all)', flag_values=FLAGS)
flags.DEFINE_integer('max_queries', 0, 'use a fixed sample of this many eval images as '
                     'queries (0: all)', flag_values=FLAGS)
flags.mark_flag_as_required('out', flag_values=FLAGS)

# The vectors of every searched image stay in memory (float32, both spaces); a search
# that would need more than this share of the machine's memory is refused up front.
MEMORY_SHARE = 0.5
# Query rows per distance block: a block of distances to 50,000 images is 100 MB.
QUERY_BLOCK = 512


def last_hidden_layer(net) -> str:
  """The layer the classifier reads: the last but one of the summary's layers."""
  names = [name for name in net.layers if not name.endswith('_conv')]
  return names[-2]


def _own_rows(own, queries: int):
  """`own` as an array [Q]: each query's own row in the database, -1 where it has none."""
  return np.full(queries, -1) if own is None else np.asarray(own)


def _squared_distance_blocks(queries, database, block: int, own=None):
  """(start, squared Euclidean distances [b, N]) for each block of `queries` rows, as
  |q|^2 - 2 q.d + |d|^2: one matrix product per block. A query's `own` row (the same
  image, when the queries are drawn from the database's split) is at infinity, so that
  no query is its own neighbour."""
  queries = np.asarray(queries, np.float32)
  database = np.asarray(database, np.float32)
  own = _own_rows(own, len(queries))
  database_norms = np.einsum('ij,ij->i', database, database)
  for start in range(0, len(queries), block):
    rows = queries[start:start + block]
    squared = (np.einsum('ij,ij->i', rows, rows)[:, None] - 2 * rows @ database.T
               + database_norms[None, :])
    present = np.flatnonzero(own[start:start + block] >= 0)
    squared[present, own[start + present]] = np.inf
    yield start, squared


def nearest(queries, database, k: int, block: int = QUERY_BLOCK, own=None):
  """(indices [Q, k], distances [Q, k]) of the k rows of `database` nearest to each row
  of `queries` in Euclidean distance, nearest first; a query's `own` row (-1: none) is
  never one of them."""
  searched = len(database) - int(np.any(_own_rows(own, len(queries)) >= 0))
  if not 0 < k <= searched:
    raise ValueError(f'k={k}: expected 1 to {searched} (the images searched)')
  indices, distances = [], []
  for _, squared in _squared_distance_blocks(queries, database, block, own):
    part = np.argpartition(squared, k - 1, axis=1)[:, :k]
    part_squared = np.take_along_axis(squared, part, axis=1)
    order = np.argsort(part_squared, axis=1, kind='stable')
    indices.append(np.take_along_axis(part, order, axis=1))
    distances.append(np.sqrt(np.maximum(np.take_along_axis(part_squared, order, axis=1), 0)))
  return np.concatenate(indices), np.concatenate(distances)


def distance_percentiles(queries, database, targets, block: int = QUERY_BLOCK, own=None):
  """[Q, k]: for each query and each of its `targets` (database rows), the share of the
  database (less the query's `own` row) strictly nearer to the query than that target: 0
  for its nearest row. Says how close in this space the neighbours found in another space
  are."""
  targets = np.asarray(targets)
  own = _own_rows(own, len(targets))
  shares = np.empty(targets.shape, np.float64)
  for start, squared in _squared_distance_blocks(queries, database, block, own):
    rows = targets[start:start + len(squared)]
    chosen = np.take_along_axis(squared, rows, axis=1)
    for j in range(rows.shape[1]):
      shares[start:start + len(squared), j] = (squared < chosen[:, j:j + 1]).sum(1)
  return shares / (len(database) - (own >= 0))[:, None]


def label_agreement(neighbour_labels, query_labels) -> dict:
  """The share of neighbours with their query's label: of the first (1-NN accuracy)
  and of all k."""
  same = np.asarray(neighbour_labels) == np.asarray(query_labels)[:, None]
  return {'at_1': float(same[:, 0].mean()), 'at_k': float(same.mean())}


def chance_agreement(database_labels, query_labels, own=None) -> float:
  """The agreement of neighbours drawn at random from the database (less the query's
  `own` row): for each query, that database's share of its class."""
  counts = np.bincount(database_labels, minlength=int(max(database_labels.max(),
                                                          query_labels.max())) + 1)
  in_database = _own_rows(own, len(query_labels)) >= 0
  return float(((counts[query_labels] - in_database)
                / (len(database_labels) - in_database)).mean())


def own_rows(config, database_split, database_indices, query_split, query_indices):
  """[Q]: the row of `database_indices` holding each query's own image, -1 where none
  does (always -1 for disjoint splits such as 'train' and 'test')."""
  database_keys = input_pipeline.example_keys(config, database_split)
  query_keys = input_pipeline.example_keys(config, query_split)
  row_of = {database_keys[index]: row for row, index in enumerate(database_indices)}
  return np.array([row_of.get(query_keys[index], -1) for index in query_indices], np.int64)


def physical_memory_bytes() -> int:
  return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def check_memory(net, layer: str, searched: int, queries: int):
  """ConfigError, before any image is embedded, when the vectors of the searched
  images and the queries (both spaces, float32) would not fit in MEMORY_SHARE of this
  machine's memory: a full-size dataset needs --max_train."""
  per_image = 4 * (net.feature_size(layer) + math.prod(net.input_shape))
  budget = MEMORY_SHARE * physical_memory_bytes()
  if (searched + queries) * per_image > budget:
    fits = max(1, int(budget // per_image) - queries)
    raise errors.ConfigError(
        f'{searched} training images and {queries} queries need '
        f'{(searched + queries) * per_image / 2**30:.1f} GiB of vectors ({per_image} bytes '
        f'each), more than {MEMORY_SHARE:.0%} of this machine\'s memory: give '
        f'--max_train={fits} or less (and --max_queries)')


def embed(net, source, indices, layer: str, batch_size: int, what: str):
  """(activations of `layer` [N, d], network inputs [N, p], labels [N]) of the images at
  `indices`, batch by batch, with a progress line per tenth."""
  features, pixels, labels = [], [], []
  tenth = max(1, len(indices) // 10)
  done = 0
  for start in range(0, len(indices), batch_size):
    images, batch_labels = source.get(indices[start:start + batch_size])
    inputs = net.preprocess(images)
    features.append(net.features(inputs, layer).reshape(len(inputs), -1))
    pixels.append(inputs.reshape(len(inputs), -1))
    labels.append(np.asarray(batch_labels))
    if (done + len(inputs)) // tenth > done // tenth or done + len(inputs) == len(indices):
      print(f'{what}: {done + len(inputs)}/{len(indices)} images', flush=True)
    done += len(inputs)
  return np.concatenate(features), np.concatenate(pixels), np.concatenate(labels)


def _neighbour_list(indices, distances, labels, database_indices):
  return [{'index': int(database_indices[i]), 'label': int(labels[i]), 'distance': float(d)}
          for i, d in zip(indices, distances)]


@console.quiet_library_logs
def load(path: str, layer=None):
  """(network, layer) of a run; ConfigError naming the path without a checkpoint or the
  layer that the network does not have."""
  try:
    net = api.load(path)
  except (ValueError, FileNotFoundError) as error:
    raise errors.ConfigError(str(error)) from None
  layer = layer or last_hidden_layer(net)
  if layer not in net.layers:
    raise errors.ConfigError(f'--layer={layer}: {path} has no such layer; choose one of '
                             f'{", ".join(net.layers)}')
  return net, layer


@console.quiet_library_logs
def retrieve(net, layer: str, k: int = 6, shown: int = 5, max_train: int = 0,
             max_queries: int = 0) -> tuple:
  """(record, images to draw): the k nearest training images of every query in feature
  and in pixel space, the label agreement of each, and the `shown` queries' neighbours."""
  config = net.config
  # The paper searches "the training set": the images the net was trained on.
  database_split, query_split = config.data.train_split, config.data.eval_split
  database_source = input_pipeline.open_source(config, database_split)
  query_source = input_pipeline.open_source(config, query_split)
  database_indices = iterators.eval_examples(database_source.length, max_train)
  query_indices = iterators.eval_examples(query_source.length, max_queries)
  if len(query_indices) == 0:
    raise errors.ConfigError(f'{net.workdir}: its split {query_split!r} has no examples')
  own = own_rows(config, database_split, database_indices, query_split, query_indices)
  searchable = len(database_indices) - int(np.any(own >= 0))
  if not 0 < k <= searchable:
    less_itself = ', less the query itself' if np.any(own >= 0) else ''
    raise errors.ConfigError(f'--k={k}: expected 1 to {searchable} (the {database_split} '
                             f'images searched{less_itself})')
  check_memory(net, layer, len(database_indices), len(query_indices))
  batch = config.eval_batch_size
  db_features, db_pixels, db_labels = embed(net, database_source, database_indices, layer,
                                            batch, f'{database_split} ({layer})')
  q_features, q_pixels, q_labels = embed(net, query_source, query_indices, layer, batch,
                                         f'{query_split} ({layer})')
  spaces = {}
  for space, queries, database in (('feature', q_features, db_features),
                                   ('pixel', q_pixels, db_pixels)):
    indices, distances = nearest(queries, database, k, own=own)
    spaces[space] = (indices, distances)
  feature_indices = spaces['feature'][0]
  # The paper: the images retrieved by features "are generally not close in L2" to the
  # query at the pixel level: how near, among all searched, they are by pixels.
  by_pixels = distance_percentiles(q_pixels, db_pixels, feature_indices, own=own)
  pixel_sets = [set(row) for row in spaces['pixel'][0]]
  overlap = np.mean([len(pixel_sets[q] & set(row)) / k for q, row in enumerate(feature_indices)])
  picked = np.sort(np.random.default_rng(0).choice(
      len(query_indices), min(shown, len(query_indices)), replace=False))
  record = {
      'run': os.path.abspath(net.workdir), 'step': net.step, 'checkpoint': net.checkpoint,
      'layer': layer, 'feature_size': int(db_features.shape[1]),
      'pixel_size': int(db_pixels.shape[1]), 'k': k,
      'database': {'split': database_split, 'examples': len(database_indices)},
      # Queries whose own image is searched too; it is never their neighbour.
      'queries': {'split': query_split, 'examples': len(query_indices),
                  'in_database': int(np.sum(own >= 0))},
      'chance_agreement': chance_agreement(db_labels, q_labels, own),
      **{f'{space}_space': label_agreement(db_labels[indices], q_labels)
         for space, (indices, _) in spaces.items()},
      'feature_neighbours_by_pixels': {
          'median_percentile': float(np.median(by_pixels) * 100),
          'share_among_pixel_neighbours': float(overlap)},
      'shown': [{'index': int(query_indices[q]), 'label': int(q_labels[q]),
                 **{f'{space}_neighbours': _neighbour_list(
                     indices[q], distances[q], db_labels, database_indices)
                    for space, (indices, distances) in spaces.items()}}
                for q in picked],
  }
  query_images = query_source.get(query_indices[picked])[0]
  rows = [(query_images[row], *[database_source.get(
      [n['index'] for n in entry[f'{space}_neighbours']])[0] for space in spaces])
          for row, entry in enumerate(record['shown'])]
  return record, rows


def save_figure(rows, record, path: str):
  """Each shown query, a gap, its feature-space neighbours, a gap, its pixel-space ones."""
  import matplotlib  # deferred: only figures need it
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  k = record['k']
  columns = 1 + 2 * (k + 1)
  widths = [1.0] * columns
  widths[1] = widths[2 + k] = 0.3  # the gaps
  fig, axes = plt.subplots(max(1, len(rows)), columns, squeeze=False,
                           gridspec_kw={'width_ratios': widths},
                           figsize=(0.9 * sum(widths), 0.9 * max(1, len(rows)) + 0.6))
  for ax in axes.flat:
    ax.set_axis_off()
  for r, (query, by_features, by_pixels) in enumerate(rows):
    cells = [(0, query)] + [(2 + i, image) for i, image in enumerate(by_features)] + [
        (3 + k + i, image) for i, image in enumerate(by_pixels)]
    for column, image in cells:
      axes[r, column].imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap='gray',
                             interpolation='nearest')
  axes[0, 0].set_title('query', fontsize=8)
  axes[0, 2].set_title(f"nearest by {record['layer']}", fontsize=8, loc='left')
  axes[0, 3 + k].set_title('nearest by pixels', fontsize=8, loc='left')
  fig.tight_layout()
  results_io.write_figure_atomic(path, fig, dpi=150)
  plt.close(fig)


def summary(record) -> str:
  rows = [f"| {space} ({record[f'{space}_size']} values) | "
          f"{record[f'{space}_space']['at_1']:.2%} | {record[f'{space}_space']['at_k']:.2%} |"
          for space in ('feature', 'pixel')]
  return '\n'.join([
      f"{record['queries']['examples']} {record['queries']['split']} queries, "
      f"{record['database']['examples']} {record['database']['split']} images searched, "
      f"layer {record['layer']}; neighbours of the query's class:", '',
      f"| space | nearest | all {record['k']} nearest |", '|---|---|---|', *rows,
      f"| at random | {record['chance_agreement']:.2%} | {record['chance_agreement']:.2%} |",
      '', f"By pixels, the {record['k']} nearest by {record['layer']} are at the "
      f"{record['feature_neighbours_by_pixels']['median_percentile']:.1f}th percentile of "
      f"distance (median); "
      f"{record['feature_neighbours_by_pixels']['share_among_pixel_neighbours']:.1%} of them "
      f"are among the {record['k']} nearest by pixels."])


def main(argv) -> int:
  """`argv`: the arguments after the program name; returns the exit code."""
  paths = cli.parse(FLAGS, argv, USAGE)
  if len(paths) != 1:
    return cli.usage_error('expected one run directory')
  out = FLAGS.out
  if not out.endswith('.json') or not os.path.isdir(os.path.dirname(os.path.abspath(out))):
    return cli.usage_error(f'--out={out}: expected a .json file in an existing directory')
  for name in ('k', 'shown', 'max_train', 'max_queries'):
    if FLAGS[name].value < (1 if name == 'k' else 0):
      return cli.usage_error(f'--{name}={FLAGS[name].value}: expected '
                             f'{"at least 1" if name == "k" else "0 or more"}')
  startup.setup()  # before XLA's threads allocate or anything is compiled
  console.quiet_native_logs()
  try:
    net, layer = load(paths[0], FLAGS.layer)
    record, rows = retrieve(net, layer, FLAGS.k, FLAGS.shown, FLAGS.max_train,
                            FLAGS.max_queries)
  except errors.UserError as error:
    return cli.fail(error)
  png = out[:-len('.json')] + '.png'
  drawn = optional.installed('matplotlib')
  if drawn:
    save_figure(rows, record, png)
  results_io.write_json_atomic(out, record)
  print(summary(record))
  print(f'wrote {out} and {png}' if drawn
        else f'wrote {out} (matplotlib is not installed: no {os.path.basename(png)})')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
