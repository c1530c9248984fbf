"""Moves through the conductor service, called as a compute API would."""

import uuid

import pytest

from move_orchestrator import exception
from tests.functional.rpc import harness


def _states(doc):
    return [h['state'] for h in doc['history']]


@pytest.mark.parametrize('kind', ['live-migrate', 'cold-migrate', 'resize',
                                  'evacuate'])
def test_every_move_type_completes(conductor, api, admin, boot, kind):
    src, dst = conductor.hosts[0], conductor.hosts[1]
    if kind == 'evacuate':
        src = 'evac-%s' % uuid.uuid4().hex[:6]
        conductor.services.inventory.create_host(
            src, vcpus=64, ram_mb=65536, disk_gb=1000,
            cpu_model='Cascadelake', storage_group='local-' + src)
    vm = boot(host=src, power_state='shutdown' if kind == 'cold-migrate'
              else 'running')
    kwargs = {'destination': dst}
    if kind == 'resize':
        kwargs['flavor'] = 'm1.small'
    if kind == 'evacuate':
        api.set_host_state(admin, src, 'down')

    doc = api.move_instance(admin, vm['uuid'], **kwargs)
    assert doc['state'] == 'accepted'
    assert doc['type'] == kind
    doc = harness.wait_task(api, admin, doc['id'])

    assert doc['state'] == 'completed', (doc['reason'], _states(doc))
    assert _states(doc)[0] == 'accepted'
    assert doc['destination'] == dst
    assert all(s['state'] == 'SUCCESS' for s in doc['subtasks'])
    moved = conductor.services.inventory.get_instance(vm['uuid'])
    assert moved['host'] == dst and moved['move_id'] is None
    if kind == 'resize':
        assert moved['flavor'] == 'm1.small'
    assert [p for p in api.audit(admin) if p['instance'] == vm['uuid']] == []


def test_failure_before_ponr_reverts(conductor, api, admin, boot):
    vm = boot(power_state='shutdown')
    doc = api.move_instance(admin, vm['uuid'], destination='host-faulty')
    doc = harness.wait_task(api, admin, doc['id'])
    assert doc['state'] == 'reverted'
    assert doc['failed_step'] == 'CopyDisk'
    assert 'copy_disk@host-faulty' in doc['reason']
    back = conductor.services.inventory.get_instance(vm['uuid'])
    assert back['host'] == vm['host'] and back['move_id'] is None
    assert [p for p in api.audit(admin) if p['instance'] == vm['uuid']] == []


def test_paging_and_filters(api, admin, boot):
    vm = boot(power_state='shutdown')
    ids = []
    for dest in ('host2', 'host3', 'host4', 'host5', 'host6'):
        doc = api.move_instance(admin, vm['uuid'], destination=dest)
        ids.append(harness.wait_task(api, admin, doc['id'])['id'])
    newest_first = list(reversed(ids))

    everything = api.list_tasks(admin, instance=vm['uuid'])
    assert [t['id'] for t in everything] == newest_first
    pages, marker = [], None
    while True:
        page = api.list_tasks(admin, instance=vm['uuid'], limit=2,
                              marker=marker)
        if not page:
            break
        assert len(page) <= 2
        pages.append([t['id'] for t in page])
        marker = page[-1]['id']
    assert [i for p in pages for i in p] == newest_first
    assert [len(p) for p in pages] == [2, 2, 1]
    assert len(api.list_tasks(admin, state='completed', limit=3)) == 3
    assert api.list_tasks(admin, instance=vm['uuid'], state='reverted') == []
    with pytest.raises(exception.TaskNotFound):
        api.list_tasks(admin, marker=str(uuid.uuid4()))


def test_same_request_id_same_task(api, admin, boot):
    vm = boot()
    request_id = 'req-%s' % uuid.uuid4()
    first = api.move_instance(admin, vm['uuid'], request_id=request_id)
    again = api.move_instance(admin, vm['uuid'], request_id=request_id)
    assert again['id'] == first['id']
    harness.wait_task(api, admin, first['id'])
    after = api.move_instance(admin, vm['uuid'], request_id=request_id)
    assert after['id'] == first['id']
    assert len(api.list_tasks(admin, instance=vm['uuid'])) == 1
    with pytest.raises(exception.InvalidMoveRequest):   # not the same ask
        api.move_instance(admin, vm['uuid'], destination='host5',
                          request_id=request_id)


def test_second_move_of_busy_instance_refused(api, admin, boot):
    vm = boot()
    first = api.move_instance(admin, vm['uuid'], destination='host3')
    with pytest.raises(exception.InstanceBusy) as err:
        api.move_instance(admin, vm['uuid'], destination='host4')
    assert err.value.kwargs == {'instance': vm['uuid'], 'task': first['id']}
    assert harness.wait_task(api, admin, first['id'])['state'] == 'completed'


def test_state_changes_are_notified(api, admin, boot, notifications):
    vm = boot()
    doc = api.move_instance(admin, vm['uuid'], destination='host2')
    doc = harness.wait_task(api, admin, doc['id'])
    expected = ['move.%s' % s for s in _states(doc)]

    def _arrived():
        events = notifications.for_task(doc['id'])
        return events if len(events) >= len(expected) else None

    events = harness.wait_for(_arrived, timeout=20)
    # "accepted" comes from the RPC process, the rest from the move runner:
    # two connections, so only the runner's are ordered among themselves.
    assert sorted(e[1] for e in events) == sorted(expected)
    assert [e[1] for e in events if e[1] != 'move.accepted'] == expected[1:]
    assert {e[0] for e in events} == {'info'}
    last = events[-1][2]
    assert last['payload_version'] == '1.0'
    assert last['state'] == 'completed' and last['instance'] == vm['uuid']
    assert [h['state'] for h in last['history']] == _states(doc)
