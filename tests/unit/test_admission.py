"""Admission within the concurrency limits, on SQLite.

Moves are persisted here without being scheduled (the conductor's watch is
kept away with a long interval), and admission is asked directly, so each
decision can be looked at.
"""

import pytest

from move_orchestrator.conductor import admission
from move_orchestrator import exception
from move_orchestrator.moves import request as move_request

QUIET = {'conductor__watch_interval': 3600}


def accept(cloud, instance, **request):
    """Persist an accepted move as submit does, without running it."""
    services = cloud.services
    values, params = move_request.build_move(
        services.inventory, services.conf, dict(instance=instance, **request),
        services.allocation_ratios)
    values['params'] = params
    move, _created = services.store.create(values)
    return move['id']


def admit(cloud):
    return cloud.api.conductor.admission.runnable()


def waiting(cloud, move_id):
    return cloud.api.get_task(None, move_id)['waiting']


def end(cloud, move_id, state='completed'):
    cloud.services.store.set_state(move_id, lambda move: state)


def test_one_outbound_live_migration_per_host_first_in_first_out(make_cloud):
    cloud = make_cloud(**QUIET)
    first = accept(cloud, 'vm1', destination='host3')
    second = accept(cloud, 'vm3', destination='host4')
    third = accept(cloud, 'vm5', destination='host3')
    assert admit(cloud) == [first]
    assert waiting(cloud, first) is None
    assert cloud.api.get_task(None, first)['admitted'] is not None
    for move_id in (second, third):
        assert waiting(cloud, move_id) == \
            'host1 has 1 of 1 outbound live migrations'
        assert cloud.api.get_task(None, move_id)['state'] == 'accepted'
    assert admit(cloud) == [first]   # asked again: nothing changes

    end(cloud, first)                # its slot is free: the oldest next
    assert admit(cloud) == [second]
    assert waiting(cloud, second) is None
    end(cloud, second, 'failed')     # a failed move holds no slot
    assert admit(cloud) == [third]


def test_a_move_blocked_by_its_host_does_not_block_other_hosts(make_cloud):
    cloud = make_cloud(limits__max_inbound_per_host=1, **QUIET)
    running = accept(cloud, 'vm1', destination='host3')
    blocked = accept(cloud, 'vm3', destination='host4')     # host1 is full
    other = accept(cloud, 'vm2', destination='host4')       # host2 -> host4
    assert admit(cloud) == [running, other]
    assert waiting(cloud, blocked) == \
        'host1 has 1 of 1 outbound live migrations'
    later = accept(cloud, 'vm4', destination='host3')
    assert admit(cloud) == [running, other]
    assert waiting(cloud, later) == 'host3 has 1 of 1 inbound moves'


def test_outbound_limit_of_every_type_and_the_waiting_reason(make_cloud):
    cloud = make_cloud(limits__max_outbound_per_host=2, **QUIET)
    cold = [accept(cloud, name, destination='host3')
            for name in ('vm2', 'vm4', 'vm6')]       # host2, stopped
    assert admit(cloud) == cold[:2]
    assert waiting(cloud, cold[2]) == 'host2 has 2 of 2 outbound moves'


def test_per_type_limit(make_cloud):
    cloud = make_cloud(limits__max_moves_per_type={'cold-migrate': '1'},
                       **QUIET)
    live = accept(cloud, 'vm1', destination='host3')
    cold = accept(cloud, 'vm2', destination='host3')
    cold2 = accept(cloud, 'vm4', destination='host4')
    live2 = accept(cloud, 'vm3', destination='host4')
    assert admit(cloud) == [live, cold]
    assert waiting(cloud, cold2) == '1 of 1 cold-migrate moves run'
    end(cloud, live)
    # live2 does not need what cold2 waits for: it goes first.
    assert admit(cloud) == [cold, live2]
    assert waiting(cloud, cold2) == '1 of 1 cold-migrate moves run'


def test_global_limit(make_cloud):
    cloud = make_cloud(limits__max_moves=2,
                       limits__max_outbound_live_per_host=0,
                       limits__max_outbound_per_host=0, **QUIET)
    ids = [accept(cloud, name, destination=dest) for name, dest in
           (('vm1', 'host3'), ('vm3', 'host4'), ('vm5', 'host2'))]
    assert admit(cloud) == ids[:2]
    assert waiting(cloud, ids[2]) == '2 of 2 moves run in the cloud'
    end(cloud, ids[0], 'reverted')
    assert admit(cloud) == ids[1:]


def test_zero_means_unlimited(make_cloud):
    cloud = make_cloud(limits__max_outbound_live_per_host=0,
                       limits__max_outbound_per_host=0,
                       limits__max_inbound_per_host=0, **QUIET)
    ids = [accept(cloud, name, destination='host3')
           for name in ('vm1', 'vm3', 'vm5')]
    assert admit(cloud) == ids


def test_evacuations_do_not_count_against_a_dead_source(make_cloud):
    cloud = make_cloud(limits__max_outbound_per_host=1, **QUIET)
    cloud.services.inventory.set_host_state('host2', 'down')
    ids = [accept(cloud, name, destination=dest) for name, dest in
           (('vm2', 'host3'), ('vm4', 'host4'))]
    assert [cloud.api.get_task(None, i)['type'] for i in ids] == \
        ['evacuate'] * 2
    assert admit(cloud) == ids


def test_an_aborted_waiting_move_runs_without_a_slot(make_cloud):
    cloud = make_cloud(**QUIET)
    first = accept(cloud, 'vm1', destination='host3')
    second = accept(cloud, 'vm3', destination='host4')
    assert admit(cloud) == [first]
    cloud.services.store.update(second, abort_requested_by='admin')
    assert admit(cloud) == [first, second]
    # ... and the conductor only records its revert: nothing ran.
    cloud.api.conductor.execution.run_move(second)
    doc = cloud.api.get_task(None, second)
    assert doc['state'] == 'reverted' and doc['subtasks'] == []


def test_a_move_past_accepted_without_a_slot_takes_one(make_cloud):
    """Started before limits existed, or resumed by an operator: it runs,
    and counts."""
    cloud = make_cloud(**QUIET)
    old = accept(cloud, 'vm1', destination='host3')
    cloud.services.store.set_state(old, lambda move: 'claiming')
    new = accept(cloud, 'vm3', destination='host4')
    assert admit(cloud) == [old]
    assert cloud.api.get_task(None, old)['admitted'] is not None
    assert waiting(cloud, new) == \
        'host1 has 1 of 1 outbound live migrations'


@pytest.mark.parametrize('value', [{'teleport': '1'}, {'resize': 'x'},
                                   {'resize': '-1'}])
def test_bad_per_type_limit_is_a_typed_error(make_cloud, value):
    cloud = make_cloud(**QUIET)
    cloud.override('max_moves_per_type', value, 'limits')
    with pytest.raises(exception.InvalidParameter) as info:
        admission.per_type_limits(cloud.services.conf)
    assert 'max_moves_per_type' in str(info.value)
    assert '\n' not in str(info.value)


def test_waiting_moves_run_when_slots_free(make_cloud):
    """Through the conductor: three live migrations off one host all
    complete, never two at once (the fake hypervisor's own record)."""
    cloud = make_cloud(fake_driver__operation_delay=0.01)
    docs = [cloud.api.move_instance(None, name, destination=dest)
            for name, dest in (('vm1', 'host3'), ('vm3', 'host4'),
                               ('vm5', 'host3'))]
    assert [d['waiting'] for d in docs[1:]] == [
        'host1 has 1 of 1 outbound live migrations'] * 2
    done = [cloud.api.wait_task(None, d['id'], timeout=60) for d in docs]
    assert [d['state'] for d in done] == ['completed'] * 3
    peaks = cloud.services.driver.transfer_peaks()
    assert peaks[('source-live', 'host1')] == 1
    assert peaks[('dest', 'host3')] == 1
    assert cloud.audit() == []
