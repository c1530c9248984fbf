"""Conductors started together share the moves posted on their board:
each takes its part of the jobs waiting, not as many as it has workers."""

import collections
import math

import pytest

# Every move may run at once: who runs which is the conductors' sharing
# alone, not which conductor looked first after a slot freed.
UNLIMITED = {'max_outbound_live_per_host': 0, 'max_outbound_per_host': 0,
             'max_inbound_per_host': 0}


@pytest.mark.parametrize('count,moves', [(2, 8), (3, 12)])
def test_conductors_started_together_share_the_moves(cluster, count, moves):
    with cluster(count=count, expiry=3.0, delay=0.1,
                 limits=UNLIMITED) as c:
        c.wait_live()
        names = {c.runner_name(p) for p in c.conductors}
        docs = c.storm(moves)
        done = c.wait_all(docs)
        c.check_world(done)
        # Nobody died: one claim a move, by the conductor the task names.
        assert [len(d['claims']) for d in done] == [1] * moves
        assert all(d['claims'][0]['conductor'] == d['conductor']
                   for d in done)
        ran = collections.Counter(d['conductor'] for d in done)
        print('moves run by each conductor: %s' % sorted(ran.values()))
        assert set(ran) == names, ran
        # A lone conductor would take as many as its 6 workers.
        assert max(ran.values()) <= math.ceil(moves / count) + 1, ran
