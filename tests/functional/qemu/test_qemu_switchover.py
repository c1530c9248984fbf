"""The switch-over done by the host side, racing an operator's abort.

An abort that comes while the memory copy converges ends in exactly one of
two outcomes: cancelled before the switch-over (the move ``reverted``, the
guest on its source), or too late (the move ``completed``, the late abort
in its record, or refused outright once the point of no return is
recorded). Never a failed move, never two guests, and the audit is clean.
"""

import random
import time

from move_orchestrator import exception
from tests.functional.qemu import guests

TRIES = 20


def _abort_late(cloud, doc, delay):
    """Abort ``delay`` seconds after the copy started; the abort's answer."""
    guests.wait_for(lambda: cloud.api.get_task(None, doc['id'])['state'] in (
        'migrating-memory', 'switching-over', 'cleaning-up', 'completed'))
    time.sleep(delay)
    try:
        cloud.api.abort_task(None, doc['id'])
        return 'accepted'
    except exception.InvalidTaskAction:
        return 'refused'


def test_abort_racing_the_convergence(make_cloud, image):
    # 48 MiB of guest memory at 64 MiB/s: the copy converges in about
    # 0.75 s, so aborts spread over 0 to 1.2 s fall on both sides of it.
    cloud = make_cloud(qemu__max_bandwidth=64)
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    rng = random.Random(13)
    host, seen = 'host1', []
    for attempt in range(TRIES):
        other = 'host2' if host == 'host1' else 'host1'
        doc = cloud.api.move_instance(None, 'vm1', destination=other)
        answer = _abort_late(cloud, doc, rng.uniform(0, 1.2))
        doc = cloud.api.wait_task(None, doc['id'], timeout=120)
        actions = [(a['action'], a['result']) for a in doc['actions']]
        why = (attempt, answer, doc['state'], doc['reason'], actions)
        if doc['state'] == 'reverted':
            assert answer == 'accepted', why
            assert 'aborted' in doc['reason'], why
            assert doc['point_of_no_return'] is False, why
        else:
            assert doc['state'] == 'completed', why
            assert doc['point_of_no_return'] is True, why
            assert 'reverting' not in [h['state'] for h in doc['history']], why
            # Too late: refused at once, or accepted then refused by the
            # switch-over that had happened, and recorded so.
            assert answer == 'refused' or ('abort', 'refused') in actions, why
            host = other
        seen.append((doc['state'], answer))
        guests.assert_runs_only_on(cloud, vm, host)     # one QEMU, clean audit
        guests.assert_counting(cloud, vm, host)
    assert guests.same_disk(reference, cloud.world('vm1')['disks'][host]['path'])
    print('\nabort racing the convergence, %d tries: %s' % (TRIES, {
        outcome: seen.count(outcome) for outcome in set(seen)}))
