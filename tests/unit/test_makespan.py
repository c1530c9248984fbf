"""The storm benchmark's ideal makespan: the bound and a schedule agree."""

import itertools

from benchmarks import makespan


def test_the_scale_scenario():
    # 20 hosts x 50 instances, 2 at a time per host, 1 s each: 25 rounds.
    assert makespan.ideal_makespan([50] * 20, 1.0, 2) == 25.0
    # 2 conductors x 8 workers cannot run the 40 moves the limits allow.
    assert makespan.ideal_makespan([50] * 20, 1.0, 2, slots=16) == 63.0


def test_the_bound_is_reached_by_a_schedule():
    for per_host in itertools.product((0, 1, 3, 7), repeat=3):
        for per_source, slots, per_dest, dests in itertools.product(
                (1, 2), (None, 1, 3, 5), (None, 1, 2), (1, 3)):
            limits = dict(slots=slots, per_dest=per_dest, dest_hosts=dests)
            assert makespan.ideal_rounds(list(per_host), per_source,
                                         **limits) == \
                makespan.greedy_rounds(list(per_host), per_source,
                                       **limits), (per_host, per_source,
                                                   limits)


def test_a_lopsided_drain_waits_for_its_busiest_host():
    assert makespan.ideal_rounds([10, 1, 1], 2, slots=100) == 5
    assert makespan.greedy_rounds([10, 1, 1], 2, slots=100) == 5
