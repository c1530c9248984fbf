"""How far a run's figure could have fallen with other rounds of the same
run: the statistic over the rounds drawn again with replacement (a
bootstrap), as an interval.

Why: a migration's time on a shared 2-core machine spreads over 4x within
one run (QEMU's copy follows what else wants a core), so a median of ten
can land on either side of a goal a few per cent away, whatever the code
does. The interval says whether a run decided a goal or could not.
Rounds are drawn whole: every kind's sample of one round together, so
that what disturbed a round disturbs each kind's figure alike.
"""

import random

DRAWS = 2000
LEVEL = 0.9
SEED = 13       # the same run gives the same interval


def intervals(rounds, figures, draws=DRAWS, level=LEVEL, seed=SEED):
    """{name: (low, high)} of each figure that ``figures(rounds)``
    returns as {name: value}, over ``draws`` resamplings of ``rounds``."""
    rng = random.Random(seed)
    n = len(rounds)
    drawn = {}
    for _ in range(draws):
        for name, value in figures([rounds[rng.randrange(n)]
                                    for _ in range(n)]).items():
            drawn.setdefault(name, []).append(value)
    cut = int(draws * (1 - level) / 2)
    found = {}
    for name, values in drawn.items():
        values.sort()
        found[name] = (values[cut], values[-1 - cut])
    return found


def decided(low, high, goal):
    """Whether the interval lies wholly on one side of goal (a figure at
    most goal meets it)."""
    return high <= goal or low > goal
