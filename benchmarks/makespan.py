"""The ideal makespan of a drain: the shortest time the limits allow.

Every move's transfer takes the same fixed time ``t`` (the fake driver's
``[fake_driver] transfer_time``) and everything else is taken as free. Moves
then run in rounds of ``t``; in one round at most ``per_source`` moves leave
each host, at most ``slots`` run in all (the global limit, or the workers of
every conductor together), and at most ``per_dest`` arrive on each of
``dest_hosts`` hosts. No schedule does better than the largest of

* the busiest source host: ``ceil(n_h / per_source)`` rounds,
* all moves through the slots: ``ceil(N / slots)`` rounds,
* all moves through the destinations: ``ceil(N / (dest_hosts * per_dest))``,

and, the moves being all alike, taking each round the moves of the hosts
with most left reaches it (:func:`greedy_rounds` does, and the tests check
the two agree). The benchmark prints its measured makespan beside this.
"""

import math

# The scale scenario of the storm benchmark (item 9 of issue 10).
SCENARIO = {'sources': 20, 'instances_per_source': 50, 'transfer_s': 1.0,
            'per_source': 2, 'conductors': 2}


def ideal_rounds(per_host, per_source, slots=None, per_dest=None,
                 dest_hosts=None):
    """The fewest rounds that move per_host[i] instances off host i."""
    total = sum(per_host)
    if not total:
        return 0
    bounds = [math.ceil(n / per_source) for n in per_host]
    if slots:
        bounds.append(math.ceil(total / slots))
    if per_dest and dest_hosts:
        bounds.append(math.ceil(total / (per_dest * dest_hosts)))
    return max(bounds)


def ideal_makespan(per_host, transfer_s, per_source, **limits):
    return ideal_rounds(per_host, per_source, **limits) * transfer_s


def greedy_rounds(per_host, per_source, slots=None, per_dest=None,
                  dest_hosts=None):
    """Simulate rounds, each taking the moves of the hosts with most left."""
    left = list(per_host)
    cap = slots or sum(left)
    if per_dest and dest_hosts:
        cap = min(cap, per_dest * dest_hosts)
    rounds = 0
    while any(left):
        budget = cap
        for i in sorted(range(len(left)), key=lambda i: -left[i]):
            take = min(per_source, left[i], budget)
            left[i] -= take
            budget -= take
        rounds += 1
    return rounds


def print_scale_scenario(workers_per_conductor=None):
    s = SCENARIO
    per_host = [s['instances_per_source']] * s['sources']
    moves = sum(per_host)
    ideal = ideal_makespan(per_host, s['transfer_s'], s['per_source'])
    print('scale scenario (item 9): drain %d hosts x %d instances = %d '
          'moves over %d conductors, transfer %.0f s each, limit %d '
          'outbound per host' % (s['sources'], s['instances_per_source'],
                                 moves, s['conductors'], s['transfer_s'],
                                 s['per_source']))
    print('  ideal makespan the limits allow: %.0f s (goal: measured '
          '<= %.0f s); it needs %d moves running at once'
          % (ideal, 1.2 * ideal, s['sources'] * s['per_source']))
    if workers_per_conductor:
        slots = workers_per_conductor * s['conductors']
        print('  with %d workers per conductor: %.0f s' % (
            workers_per_conductor, ideal_makespan(
                per_host, s['transfer_s'], s['per_source'], slots=slots)))
    print('  measured makespan and recovery after SIGKILL: '
          'tox -e bench -- --only scale (two jobboard conductor processes '
          'on PostgreSQL and Redis)')
