"""The learning rate of each step, set from the host between steps."""

import math

# config.schedule.name values (validation reads them).
SCHEDULES = ('plateau', 'constant', 'step', 'cosine')


class LearningRateSchedule:
  """The learning rate of each step, set from the host between steps.

  `plateau` (the paper, section 5): divide by `factor`'s inverse (10) when the
  validation top-1 error has not improved for `patience` evaluations, at most
  `max_reductions` (3) times. `constant`, `step` (x0.1 at `boundaries`, given
  as fractions of training) and `cosine` serve small experiments.
  """

  def __init__(self, config, total_steps):
    self.config = config.schedule
    self.base = config.optimizer.learning_rate
    self.total_steps = max(1, total_steps)
    self.state = {'reductions': 0, 'best_error': None, 'evals_since_best': 0}

  def __call__(self, step):
    name = self.config.name
    if name == 'plateau':
      return self.base * self.config.factor ** self.state['reductions']
    if name == 'constant':
      return self.base
    if name == 'step':
      passed = sum(step >= b * self.total_steps for b in self.config.boundaries)
      return self.base * self.config.factor ** passed
    if name == 'cosine':
      return self.base * 0.5 * (1 + math.cos(math.pi * min(step, self.total_steps)
                                             / self.total_steps))
    raise ValueError(f'config.schedule.name={name!r}: choose one of {", ".join(SCHEDULES)}')

  def observe(self, eval_error):
    """Feeds a validation error; returns True when it is the best so far."""
    state = self.state
    if state['best_error'] is None or eval_error < state['best_error']:
      state['best_error'], state['evals_since_best'] = eval_error, 0
      return True
    state['evals_since_best'] += 1
    if (self.config.name == 'plateau' and state['evals_since_best'] >= self.config.patience
        and state['reductions'] < self.config.max_reductions):
      state['reductions'] += 1
      state['evals_since_best'] = 0
      print(f'learning rate divided by {1 / self.config.factor:g} '
            f'(reduction {state["reductions"]} of {self.config.max_reductions})', flush=True)
    return False
