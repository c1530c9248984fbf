"""The benchmarks' resampled intervals (benchmarks/resample.py) and the
qemu report's verdicts built on them: a goal is said decided only when the
run's rounds, drawn again, keep the figure on one side of it."""

import statistics

from benchmarks import qemu_report
from benchmarks import resample


def _median_of(rounds):
    return {'median': statistics.median(rounds)}


def test_rounds_alike_give_no_spread():
    assert resample.intervals([5.0] * 12, _median_of) == {'median': (5.0, 5.0)}


def test_the_interval_holds_the_run_s_own_figure_and_is_repeatable():
    rounds = [1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0, 10.0]
    low, high = resample.intervals(rounds, _median_of)['median']
    assert low < statistics.median(rounds) < high
    assert resample.intervals(rounds, _median_of)['median'] == (low, high)


def test_decided_only_on_one_side_of_the_goal():
    assert resample.decided(0.9, 1.0, 1.05)         # wholly met
    assert resample.decided(1.06, 1.2, 1.05)        # wholly missed
    assert not resample.decided(0.99, 1.26, 1.05)   # either way


def _sample(migration, downtime=2, pause=5, whole=None, world=0.02):
    return {'migration': migration, 'downtime': downtime, 'pause': pause,
            'whole': whole if whole is not None else migration + 0.05,
            'world': world}


def _results(bare_ms, orchestrated_ms, floor_ms=None, world_ms=20):
    kinds = {'bare': bare_ms, 'held': bare_ms, 'driver': bare_ms,
             'orchestrated': orchestrated_ms}
    results = {kind: [_sample(ms / 1000, world=world_ms / 1000) for ms in values]
               for kind, values in kinds.items()}
    results[qemu_report.FLOOR] = [{'wall': ms / 1000} for ms in (
        floor_ms or [10] * len(bare_ms))]
    return results


def test_a_window_slower_in_every_round_is_a_decided_miss():
    bare = [150, 160, 170, 180, 500, 155, 165, 175, 185, 450]
    lines = qemu_report.goal_lines(_results(bare, [ms * 1.5 for ms in bare]))
    assert lines[0].startswith('migration window 1.50x bare')
    assert 'MISSED' in lines[0] and ': decided' in lines[0]


def test_a_window_that_differs_by_the_round_is_not_decided():
    bare = [150, 160, 170, 180, 500, 155, 165, 175, 185, 450]
    orchestrated = [140, 480, 150, 190, 160, 470, 200, 150, 210, 165]
    lines = qemu_report.goal_lines(_results(bare, orchestrated))
    assert 'NOT DECIDED by this run' in lines[0]


def _fixed_cost_line(lines):
    return next(line for line in lines if line.startswith('fixed cost'))


def test_the_fixed_cost_is_judged_against_the_floor_of_its_own_rounds():
    # Each round's cost outside the window is 3.2x the floor measured in
    # that round (a slower round is slower for both), the floor doubling
    # from one part of the run to the other: the ratio is decided.
    bare = [150] * 10
    floor = [10, 10, 10, 10, 10, 20, 20, 20, 20, 20]
    results = _results(bare, bare, floor_ms=floor, world_ms=0)
    for sample, floor_ms in zip(results['orchestrated'], floor):
        sample['whole'] = sample['migration'] + 3.2 * floor_ms / 1000
    line = _fixed_cost_line(qemu_report.goal_lines(results))
    assert '= 3.2x' in line and 'MISSED' in line and ': decided' in line


def test_a_floor_that_moves_apart_from_the_cost_leaves_it_undecided():
    bare = [150] * 10
    floor = [10, 30, 10, 30, 10, 30, 10, 30, 10, 30]
    results = _results(bare, bare, floor_ms=floor, world_ms=0)
    for sample in results['orchestrated']:
        sample['whole'] = sample['migration'] + 0.06     # 60 ms each round
    line = _fixed_cost_line(qemu_report.goal_lines(results))
    assert 'NOT DECIDED by this run' in line
