"""Drains: the state machine, and drains of the demo cloud on SQLite."""

import itertools

import pytest

from move_orchestrator import exception
from move_orchestrator.moves import drain as drain_machine
from move_orchestrator import states

HOST1 = ('vm1', 'vm3', 'vm5')   # all running


# -- the machine -------------------------------------------------------------
@pytest.mark.parametrize('source,event,target', drain_machine.TRANSITIONS)
def test_every_listed_transition(source, event, target):
    assert drain_machine.next_state('d', source, event) == target


UNLISTED = [(s, e) for s, e in itertools.product(drain_machine.STATES,
                                                 drain_machine.EVENTS)
            if (s, e) not in {(s2, e2) for s2, e2, _t in
                              drain_machine.TRANSITIONS}]


@pytest.mark.parametrize('source,event', UNLISTED)
def test_every_unlisted_transition_is_refused(source, event):
    with pytest.raises(exception.InvalidDrainTransition):
        drain_machine.next_state('d', source, event)


def test_terminal_states_are_the_shared_ones():
    ends = {t for _s, _e, t in drain_machine.TRANSITIONS} - {
        s for s, _e, _t in drain_machine.TRANSITIONS}
    assert ends == {states.COMPLETED, states.REVERTED}
    assert set(states.TERMINAL_STATES) <= set(drain_machine.STATES)


# -- drains of a cloud ---------------------------------------------------------
def names(cloud, uuids):
    by_uuid = {i['uuid']: i['name']
               for i in cloud.services.inventory.list_instances()}
    return sorted(by_uuid[u] for u in uuids)


def wait_for(cloud, task_id, check, timeout=30):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = cloud.api.get_task(None, task_id)
        if check(doc):
            return doc
        time.sleep(0.05)
    raise AssertionError('timed out: %s' % cloud.api.get_task(None, task_id))


def test_drain_is_one_task(cloud):
    doc = cloud.api.drain_host(None, 'host1')
    assert doc['type'] == 'drain' and doc['host'] == 'host1'
    assert cloud.services.inventory.get_host('host1')['state'] == 'disabled'
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'completed', doc
    assert doc['progress'] == {'total': 3, 'completed': 3, 'running': 0,
                               'waiting': 0, 'reverted': 0, 'failed': 0,
                               'refused': 0, 'not_started': 0,
                               'moved_elsewhere': 0}
    assert names(cloud, [c['instance'] for c in doc['children']]) == \
        list(HOST1)
    assert {c['type'] for c in doc['children']} == {'live-migrate'}
    assert [h['state'] for h in doc['history']] == [
        'accepted', 'draining', 'completed']
    assert cloud.services.inventory.list_instances(host='host1') == []
    # Listed and shown beside the moves, which name their drain.
    listed = cloud.api.list_tasks(None)   # the drain is older than its moves
    assert [d['id'] for d in listed][-1] == doc['id']
    assert {d['drain'] for d in listed[:-1]} == {doc['id']}
    assert [d['type'] for d in cloud.api.list_tasks(
        None, marker=listed[1]['id'])] == ['live-migrate', 'drain']
    assert cloud.api.list_tasks(None, marker=doc['id']) == []
    assert [d['id'] for d in cloud.api.list_tasks(
        None, instance='vm1')] == [c['id'] for c in doc['children']
                                   if c['instance'] ==
                                   cloud.instance('vm1')['uuid']]
    assert cloud.audit() == []


def test_drain_cold_and_stopped_instances(cloud):
    doc = cloud.api.drain_host(None, 'host2', live=True)
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'completed'
    # host2's instances are stopped: nothing to keep running, so cold.
    assert {c['type'] for c in doc['children']} == {'cold-migrate'}


def test_second_drain_of_a_host_is_refused_and_changes_nothing(make_cloud):
    cloud = make_cloud()
    drain = cloud.api.drain_host(None, 'host1')
    cloud.api.pause_task(None, drain['id'])
    wait_for(cloud, drain['id'], lambda d: all(
        c['state'] in states.TERMINAL_STATES or c['waiting']
        for c in d['children']))
    before = cloud.snapshot()
    with pytest.raises(exception.HostBusy):
        cloud.api.drain_host(None, 'host1')
    with pytest.raises(exception.HostNotFound):
        cloud.api.drain_host(None, 'nowhere')
    with pytest.raises(exception.InvalidParameter):
        cloud.api.drain_host(None, 'host2', live='yes')
    assert cloud.snapshot() == before


def test_pause_and_resume(make_cloud):
    cloud = make_cloud(fake_driver__operation_delay=0.01)
    drain = cloud.api.drain_host(None, 'host1')
    doc = cloud.api.pause_task(None, drain['id'])
    assert doc['state'] == 'paused'
    with pytest.raises(exception.InvalidTaskAction):
        cloud.api.pause_task(None, drain['id'])
    # The child started before the pause goes on; no other starts.
    doc = wait_for(cloud, drain['id'], lambda d: all(
        c['state'] in states.TERMINAL_STATES or c['waiting']
        for c in d['children']))
    for _ in range(3):
        cloud.api.conductor.resume_unfinished()
    doc = cloud.api.get_task(None, drain['id'])
    assert doc['state'] == 'paused'
    assert doc['progress']['completed'] == 1, doc
    assert doc['progress']['completed'] + doc['progress']['waiting'] + \
        doc['progress']['not_started'] == 3
    for child in doc['children']:
        if child['state'] == 'accepted':
            assert child['waiting'] == 'drain %s is paused' % drain['id']
    doc = cloud.api.resume_task(None, drain['id'])
    doc = cloud.api.wait_task(None, drain['id'], timeout=60)
    assert doc['state'] == 'completed'
    assert [a['action'] for a in doc['actions']] == ['pause', 'resume']
    assert cloud.services.inventory.list_instances(host='host1') == []


def test_abort_reverts_what_has_not_passed_its_point_of_no_return(
        make_cloud):
    cloud = make_cloud(fake_driver__operation_delay=0.02,
                       fake_driver__migration_steps=20)
    drain = cloud.api.drain_host(None, 'host1')
    wait_for(cloud, drain['id'], lambda d: any(
        c['state'] == 'migrating-memory' for c in d['children']))
    cloud.api.abort_task(None, drain['id'])
    doc = cloud.api.wait_task(None, drain['id'], timeout=60)
    assert doc['state'] == 'reverted', doc
    assert doc['reason'].startswith('aborted by ')
    assert 'host host1 stays disabled' in doc['reason']
    states_ = [c['state'] for c in doc['children']]
    assert 'reverted' in states_
    assert set(states_) <= {'reverted', 'completed'}
    moved = doc['progress']['completed']
    assert len(cloud.services.inventory.list_instances(host='host1')) == \
        3 - moved
    assert '%d moved and stay moved' % moved in doc['reason']
    assert cloud.audit() == []
    with pytest.raises(exception.InvalidTaskAction):
        cloud.api.resume_task(None, drain['id'])


def test_a_failed_child_fails_the_drain_and_resume_retries_it(make_cloud):
    cloud = make_cloud(driver_faults=['prepare_incoming@host3=fail_once'])
    drain = cloud.api.drain_host(None, 'host1')
    doc = cloud.api.wait_task(None, drain['id'], timeout=60)
    assert doc['state'] == 'failed', doc
    failed = [c for c in doc['children'] if c['state'] == 'reverted']
    assert len(failed) == 1
    assert doc['reason'] == 'child %s failed; resume the drain to retry' % \
        failed[0]['id']
    doc = cloud.api.resume_task(None, drain['id'])
    doc = cloud.api.wait_task(None, drain['id'], timeout=60)
    assert doc['state'] == 'completed', doc
    assert doc['progress']['completed'] == 3
    retried = [c for c in doc['children']
               if c['instance'] == failed[0]['instance']]
    assert [c['state'] for c in retried] == ['reverted', 'completed']
    assert cloud.services.inventory.list_instances(host='host1') == []


def test_children_made_at_once_spread_over_the_destinations(make_cloud):
    """Four children are made in one look (four outbound slots) before any
    claims: the scheduler counts what each will claim, so they do not all
    go to the emptiest host, where two claims would fail."""
    from move_orchestrator import cloud as cloud_mod
    cloud = make_cloud(seed=False, limits__max_outbound_per_host=4,
                       limits__max_inbound_per_host=0)
    inventory = cloud.services.inventory
    inventory.create_flavor('m1.small', 1, 2048, 20)
    inventory.create_host('src', vcpus=64, ram_mb=65536, disk_gb=1000,
                          cpu_model='Cascadelake')
    for host in ('dst1', 'dst2'):   # room for two m1.small each
        inventory.create_host(host, vcpus=64, ram_mb=5120, disk_gb=1000,
                              cpu_model='Cascadelake')
    for i in range(4):
        cloud_mod.boot_instance(cloud.services, 'vm%d' % i, 'src',
                                'm1.small', power_state='shutdown')
    drain = cloud.api.drain_host(None, 'src', live=False)
    doc = cloud.api.wait_task(None, drain['id'], timeout=60)
    assert doc['state'] == 'completed', doc
    assert sorted(c['state'] for c in doc['children']) == ['completed'] * 4
    assert [len(inventory.list_instances(host=h))
            for h in ('src', 'dst1', 'dst2')] == [0, 2, 2]


def test_resume_skips_a_reverted_child_whose_instance_moved_elsewhere(
        make_cloud):
    """A failed drain's reverted child whose instance another move took
    off the host since: resuming makes no child for it and does not count
    it as failed again; the drain completes and says where it went."""
    cloud = make_cloud(driver_faults=['prepare_incoming@host3=fail_once'])
    drain = cloud.api.drain_host(None, 'host1')
    doc = cloud.api.wait_task(None, drain['id'], timeout=60)
    assert doc['state'] == 'failed', doc
    [failed] = [c for c in doc['children'] if c['state'] == 'reverted']
    moved = cloud.api.move_instance(None, failed['instance'],
                                    destination='host2')
    assert cloud.api.wait_task(None, moved['id'],
                               timeout=60)['state'] == 'completed'
    cloud.api.resume_task(None, drain['id'])
    doc = cloud.api.wait_task(None, drain['id'], timeout=60)
    assert doc['state'] == 'completed', doc
    # No new child for it: its only one is the reverted try.
    assert [c['state'] for c in doc['children']
            if c['instance'] == failed['instance']] == ['reverted']
    assert doc['moved_elsewhere'] == [{
        'instance': failed['instance'], 'child': failed['id'],
        'host': 'host2'}]
    assert doc['progress']['completed'] == 2
    assert doc['progress']['moved_elsewhere'] == 1
    assert doc['progress']['reverted'] == 0
    assert cloud.services.inventory.list_instances(host='host1') == []
    assert cloud.instance(failed['instance'])['host'] == 'host2'
    assert cloud.audit() == []


def test_an_instance_that_cannot_move_is_named(cloud):
    vm3 = cloud.instance('vm3')
    cloud.services.inventory.update_instance(vm3['uuid'], vm_state='error')
    doc = cloud.api.wait_task(None, cloud.api.drain_host(None, 'host1')['id'],
                              timeout=60)
    assert doc['state'] == 'failed'
    assert doc['refused'][0]['instance'] == vm3['uuid']
    assert 'no move for instance %s' % vm3['uuid'] in doc['reason']


def test_a_drain_that_cannot_complete_fails_once_its_children_ended(make_cloud):
    """An instance refused at once, the others' moves still running (each
    destination takes 2 s to prepare): the drain makes no more children
    and is failed only when nothing of it runs any more."""
    cloud = make_cloud(driver_faults=['prepare_incoming=slow'])
    vm3 = cloud.instance('vm3')
    cloud.services.inventory.update_instance(vm3['uuid'], vm_state='error')
    doc = cloud.api.wait_task(None, cloud.api.drain_host(None, 'host1')['id'],
                              timeout=60)
    assert doc['state'] == 'failed', doc
    assert doc['refused'][0]['instance'] == vm3['uuid']
    assert doc['children'] and {c['state'] for c in doc['children']} == {
        'completed'}, doc['children']
    assert [i['uuid'] for i in cloud.services.inventory.list_instances(
        host='host1')] == [vm3['uuid']]


def test_a_host_that_is_down_is_evacuated(cloud):
    cloud.services.inventory.set_host_state('host1', 'down')
    doc = cloud.api.wait_task(None, cloud.api.drain_host(None, 'host1')['id'],
                              timeout=60)
    assert doc['state'] == 'completed' and doc['evacuate']
    assert {c['type'] for c in doc['children']} == {'evacuate'}
    assert cloud.services.inventory.get_host('host1')['state'] == 'down'


def test_actions_that_do_not_apply(cloud):
    move = cloud.move('vm1', destination='host3')
    with pytest.raises(exception.InvalidTaskAction):
        cloud.api.pause_task(None, move['id'])
    drain = cloud.api.drain_host(None, 'host2')
    with pytest.raises(exception.InvalidTaskAction):
        cloud.api.revert_task(None, drain['id'])
    cloud.api.wait_task(None, drain['id'], timeout=60)


def test_an_instance_another_task_moves_is_waited_for(cloud):
    vm1 = cloud.instance('vm1')
    with cloud.services.db.session() as s:
        cloud.services.inventory.lock_instance(s, vm1['uuid'], 'other-task')
    drain = cloud.api.drain_host(None, 'host1')
    doc = wait_for(cloud, drain['id'],
                   lambda d: d['progress']['completed'] == 2)
    doc = wait_for(cloud, drain['id'], lambda d: d['waiting'])
    assert doc['state'] == 'draining'
    assert doc['waiting'] == 'instance %s is being moved by task ' \
        'other-task' % vm1['uuid']
    with cloud.services.db.session() as s:
        cloud.services.inventory.unlock_instance(s, vm1['uuid'], 'other-task')
    doc = cloud.api.wait_task(None, drain['id'], timeout=60)
    assert doc['state'] == 'completed' and doc['waiting'] is None
    assert doc['progress']['completed'] == 3


def test_no_child_for_an_instance_moved_off_the_host_meanwhile(cloud):
    """A tick lists the host's instances, then makes their children one
    at a time: one that another move took off the host in between must not
    be moved a second time, from where it went."""
    vm1 = cloud.instance('vm1')
    assert cloud.move('vm1', destination='host3')['state'] == 'completed'
    drain = cloud.api.drain_host(None, 'host1')
    # A tick whose listing was read before vm1 moved offers it.
    assert not cloud.api.conductor.drains._make_child(
        cloud.services.drains.get(drain['id']), vm1['uuid'])
    doc = cloud.api.wait_task(None, drain['id'], timeout=60)
    assert doc['state'] == 'completed', doc
    assert vm1['uuid'] not in {c['instance'] for c in doc['children']}
    assert cloud.instance('vm1')['host'] == 'host3'
    assert cloud.audit() == []


def test_a_move_built_before_its_instance_moved_is_refused(cloud):
    """The instance's lock checks the host the move was built from."""
    from move_orchestrator.moves import request as move_request
    services = cloud.services
    values, params = move_request.build_move(
        services.inventory, services.conf, {'instance': 'vm1'},
        services.allocation_ratios)
    assert values['source_host'] == 'host1'
    assert cloud.move('vm1', destination='host3')['state'] == 'completed'
    before = cloud.snapshot()
    with pytest.raises(exception.InstanceMoved):
        services.store.create(dict(values, params=params))
    assert cloud.snapshot() == before


@pytest.mark.parametrize('payload', [{'host': 7}, {'host': ''},
                                     {'host': 'host1', 'live': 'yes'}])
def test_rpc_drain_payload_refused_before_anything(cloud, payload):
    import oslo_messaging as messaging

    from move_orchestrator import context
    from move_orchestrator import manager
    endpoint = manager.ConductorManager(cloud.api)
    before = cloud.snapshot()
    with pytest.raises(messaging.ExpectedException) as info:
        endpoint.drain_host(context.get_admin_context(), **payload)
    assert info.value.exc_info[0] is exception.InvalidParameter
    assert cloud.snapshot() == before


def test_rpc_drain_needs_an_administrator(cloud):
    import oslo_messaging as messaging

    from move_orchestrator import context
    from move_orchestrator import manager
    from oslo_config import cfg

    from move_orchestrator import policy
    conf = cfg.ConfigOpts()
    conf([], project='move-orchestrator')
    policy.reset()
    policy.init(conf)
    try:
        endpoint = manager.ConductorManager(cloud.api)
        member = context.get_context('u', 'demo', roles=['member'])
        before = cloud.snapshot()
        with pytest.raises(messaging.ExpectedException) as info:
            endpoint.drain_host(member, host='host1')
        assert info.value.exc_info[0] is exception.Forbidden
        assert cloud.snapshot() == before
    finally:
        policy.reset()
