"""A drain of 50 instances across 4 hosts within every limit, with the fake
hypervisor's own record of what ran at once; and a drain paused, resumed
and aborted on the way.

The fake driver counts the transfers in flight (memory copies from start to
switch-over, disk copies) and keeps the peaks in its database; the task
records give each move's slot, from admission to its end. Both are checked
against the limits.
"""

import time

import pytest

from move_orchestrator import cloud as cloud_mod
from move_orchestrator import states
from tests import harness

LIMITS = {'limits__max_moves': 3, 'limits__max_outbound_per_host': 2,
          'limits__max_outbound_live_per_host': 1,
          'limits__max_inbound_per_host': 1}
HOSTS = ('host1', 'host2', 'host3', 'host4')
INSTANCES = 50


@pytest.fixture
def cloud(tmp_path):
    cloud = harness.Cloud('sqlite:///%s' % (tmp_path / 'mo.db'), seed=False,
                          fake_driver__operation_delay=0.002,
                          conductor__max_concurrent_moves=8, **LIMITS)
    inventory = cloud.services.inventory
    inventory.create_flavor('m1.nano', 1, 128, 1)
    for host in HOSTS:
        inventory.create_host(host, vcpus=64, ram_mb=65536, disk_gb=1000,
                              cpu_model='Cascadelake')
    for i in range(INSTANCES):
        cloud_mod.boot_instance(
            cloud.services, 'vm%02d' % i, 'host1', 'm1.nano',
            power_state='running' if i % 3 else 'shutdown')
    yield cloud
    cloud.close()


def wait_for(cloud, task_id, check, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = cloud.api.get_task(None, task_id)
        if check(doc):
            return doc
        time.sleep(0.1)
    raise AssertionError('timed out: %s' % cloud.api.get_task(None, task_id))


def slot_overlaps(cloud, children):
    """The most slots held at once per resource, from the task records:
    each admitted move holds one from admission to its end."""
    moves = [cloud.services.store.get(c['id']) for c in children
             if c['state'] in states.TERMINAL_STATES]
    peaks = {}
    for move in moves:
        if move['admitted_at'] is None:
            continue   # aborted while waiting: it never held a slot
        at = move['admitted_at']
        holding = [m for m in moves if m['admitted_at'] is not None and
                   m['admitted_at'] <= at < m['finished_at']]
        for key, count in (
                (('all',), len(holding)),
                (('out', move['source_host']), sum(
                    m['source_host'] == move['source_host']
                    for m in holding)),
                (('out-live', move['source_host']), sum(
                    m['source_host'] == move['source_host'] and m['live']
                    for m in holding)),
                (('in', move['dest_host']), sum(
                    m['dest_host'] == move['dest_host'] for m in holding))):
            peaks[key] = max(peaks.get(key, 0), count)
    return peaks


def check_limits(cloud, doc):
    peaks = cloud.services.driver.transfer_peaks()
    assert 1 <= peaks[('all', '*')] <= 3
    assert 1 <= peaks[('source', 'host1')] <= 2
    assert peaks[('source-live', 'host1')] == 1
    for host in HOSTS[1:]:
        assert peaks.get(('dest', host), 0) <= 1, peaks
    assert not [k for k in peaks if k[0].startswith('source')
                and k[1] != 'host1']
    slots = slot_overlaps(cloud, doc['children'])
    assert 1 <= slots[('all',)] <= 3, slots
    assert slots[('out', 'host1')] <= 2
    assert slots[('out-live', 'host1')] == 1
    assert all(v <= 1 for k, v in slots.items() if k[0] == 'in'), slots


def test_drain_of_50_within_the_limits_paused_and_resumed(cloud):
    drain = cloud.api.drain_host(None, 'host1')
    doc = wait_for(cloud, drain['id'],
                   lambda d: d['progress']['completed'] >= 10)
    # Some child waits, and says for what.
    cloud.api.pause_task(None, drain['id'])
    doc = wait_for(cloud, drain['id'], lambda d: all(
        c['state'] in states.TERMINAL_STATES or c['waiting']
        for c in d['children']))
    paused_at = doc['progress']
    time.sleep(1.5)   # a watch or two: nothing new starts
    doc = cloud.api.get_task(None, drain['id'])
    assert doc['state'] == 'paused'
    assert doc['progress'] == paused_at
    assert paused_at['not_started'] > 0
    assert [c['waiting'] for c in doc['children']
            if c['state'] == 'accepted'] == [
        'drain %s is paused' % drain['id']] * paused_at['waiting']

    cloud.api.resume_task(None, drain['id'])
    doc = cloud.api.wait_task(None, drain['id'], timeout=600)
    assert doc['state'] == 'completed', doc['reason']
    assert doc['progress']['completed'] == INSTANCES
    assert {c['type'] for c in doc['children']} == {'live-migrate',
                                                    'cold-migrate'}
    assert cloud.services.inventory.list_instances(host='host1') == []
    assert cloud.audit() == []
    check_limits(cloud, doc)


def test_drain_of_50_aborted(cloud):
    drain = cloud.api.drain_host(None, 'host1')
    wait_for(cloud, drain['id'], lambda d: d['progress']['completed'] >= 5
             and d['progress']['running'] >= 1)
    cloud.api.abort_task(None, drain['id'])
    doc = cloud.api.wait_task(None, drain['id'], timeout=300)
    assert doc['state'] == 'reverted', doc
    p = doc['progress']
    assert p['completed'] >= 5 and p['not_started'] > 0
    assert p['completed'] + p['reverted'] + p['not_started'] == INSTANCES
    assert ('%d moved and stay moved' % p['completed']) in doc['reason']
    assert ('%d not started' % p['not_started']) in doc['reason']
    left = cloud.services.inventory.list_instances(host='host1')
    assert len(left) == INSTANCES - p['completed']
    assert not any(i['move_id'] for i in left)
    assert cloud.audit() == []
    check_limits(cloud, doc)
