"""The mean ± std figures that README and the results' READMEs cite are in the report tables.

Those figures are typed by hand from `results.md` (what `python -m alexnet_jax.report`
writes), and a report rebuilt from more seeds changes them; a figure that matches no table
is a typo or a stale copy. A cited figure may be rounded (27.8 ± 0.3 for 27.83 ± 0.33).
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / 'experiments' / 'results'
FIGURE = re.compile(r'(\d+\.\d+) ± (\d+\.\d+)')
README_LINK = re.compile(r'\((experiments/results/[^)#]*?)(?:README\.md)?(?:#[^)]*)?\)')
RELATIVE_FOLDER = re.compile(r'\.\./([\w/]+)')
# The plan-and-status log: its dated paragraphs quote sweeps partway (two seeds of three).
STATUS_LOG = RESULTS / 'cifar10_paper' / 'README.md'


def _table_figures(folders):
  """Every (mean, std) pair in the results.md files under these folders."""
  pairs = set()
  for folder in folders:
    for table in folder.rglob('results.md'):
      pairs.update((float(a), float(b)) for a, b in FIGURE.findall(table.read_text()))
  return pairs


def _rounds_to(value, cited):
  """Whether `value` rounds to the decimal string `cited` at cited's precision."""
  decimals = len(cited.split('.')[1])
  return abs(value - float(cited)) <= 0.5 * 10**-decimals + 1e-9


def _unmatched(text, pairs):
  """The figures in `text` that no (mean, std) pair rounds to."""
  return [f'{a} ± {b}' for a, b in FIGURE.findall(text)
          if not any(_rounds_to(mean, a) and _rounds_to(std, b) for mean, std in pairs)]


def _results_section_rows():
  """(row, folder) for each table row of README's Results section.

  A row's folder is the last experiments/results link in it, else the last one in the
  prose above its table.
  """
  readme = (ROOT / 'README.md').read_text()
  section = readme.split("## Results: the paper's claims", 1)[1]
  section = section.split('<!-- End of Results. -->', 1)[0]
  rows, folder = [], None
  for line in section.splitlines():
    links = README_LINK.findall(line)
    if line.startswith('|'):
      if FIGURE.search(line):
        rows.append((line, links[-1] if links else folder))
    elif links:
      folder = links[-1]
  return rows


def _results_readmes():
  return sorted(path for path in RESULTS.rglob('README.md') if path != STATUS_LOG)


def test_readme_results_rows_cite_their_tables():
  rows = _results_section_rows()
  assert len(rows) >= 10, 'README lost its Results tables or their ± figures'
  for row, folder in rows:
    assert folder, f'no experiments/results link for the row: {row[:80]}'
    pairs = _table_figures([ROOT / folder])
    assert not _unmatched(row, pairs), (
        f'{_unmatched(row, pairs)} in the row "{row[:60]}..." match no table in {folder}')


@pytest.mark.parametrize('readme', _results_readmes(),
                         ids=lambda path: str(path.parent.relative_to(RESULTS)))
def test_a_results_readme_cites_its_own_or_linked_tables(readme):
  """Its folder's tables, or those of a folder it names (`../lrn_r541/`)."""
  text = readme.read_text()
  folders = [readme.parent] + [readme.parent.parent / name
                               for name in RELATIVE_FOLDER.findall(text)]
  unmatched = _unmatched(text, _table_figures([f for f in folders if f.is_dir()]))
  assert not unmatched, f'{unmatched} in {readme.relative_to(ROOT)} match no results.md'


def test_a_figure_matches_only_when_it_rounds_from_the_table():
  pairs = {(27.83, 0.33), (14.44, 0.09)}
  assert not _unmatched('27.8 ± 0.3% and 14.44 ± 0.09%', pairs)
  assert _unmatched('27.9 ± 0.3%', pairs) == ['27.9 ± 0.3']
  assert _unmatched('14.44 ± 0.10%', pairs) == ['14.44 ± 0.10']
