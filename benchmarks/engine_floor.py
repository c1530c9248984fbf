"""TaskFlow's own floor per move: the cold migration's flows, no-op steps.

The same shape as a cold migration (9 steps in four nested linear flows,
then a cleanup flow of 3 steps under a retry controller, each stage its
own serial engine, as the conductor runs them), every step doing nothing,
on TaskFlow's memory persistence: what TaskFlow alone costs one move, in
CPU time. One conductor process runs one thread of Python at a time, so
its moves/s can never pass the inverse of this.
"""

import statistics
import time

from taskflow import engines
from taskflow.patterns import linear_flow
from taskflow.persistence import backends
from taskflow import retry
from taskflow import task

MAIN = (('claim', 1), ('pre-check', 2), ('transfer', 3), ('switch-over', 3))
CLEANUP = 3


class Nothing(task.Task):
    def execute(self, move_id):
        return None


def _flows():
    main = linear_flow.Flow('main')
    n = 0
    for phase, count in MAIN:
        sub = linear_flow.Flow(phase)
        for _ in range(count):
            sub.add(Nothing('step%d' % n))
            n += 1
        main.add(sub)
    cleanup = linear_flow.Flow('cleanup', retry=retry.Times(
        3, name='retry')).add(*[Nothing('step%d' % (n + i))
                                for i in range(CLEANUP)])
    return main, cleanup


def cpu_ms_per_move(moves=200):
    backend = backends.fetch({'connection': 'memory://'})
    start = time.process_time()
    for i in range(moves):
        for flow in _flows():
            engine = engines.load(flow, backend=backend, engine='serial',
                                  store={'move_id': str(i)})
            engine.run()
    return 1000 * (time.process_time() - start) / moves


def linear_wall_s(steps, samples=30):
    """Median wall time of TaskFlow alone running ``steps`` no-op tasks in
    one linear flow, in memory (no persistence): the least any flow of
    that many steps costs on this machine."""
    times = [_linear_run(steps) for _ in range(samples + 5)]
    return statistics.median(times[5:])


def linear_wall_round(steps, samples=3):
    """linear_wall_s in a benchmark's round, beside what it is compared
    with: the median of a few runs (the first of a process pays TaskFlow's
    imports and caches: a benchmark's first round is not counted)."""
    return statistics.median(_linear_run(steps) for _ in range(samples))


def _linear_run(steps):
    t0 = time.perf_counter()
    engines.load(linear_flow.Flow('floor').add(
        *[Nothing('step%d' % i) for i in range(steps)]),
        engine='serial', store={'move_id': None}).run()
    return time.perf_counter() - t0
