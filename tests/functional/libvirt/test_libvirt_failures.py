"""A failure injected in each phase of a libvirt move.

Before the point of no return the move reverts, with the domain running on
the source only (a live migration's guest never stopped: one count, no
gap). A live migration's point of no return is the convergence: libvirt
switches the guest over by itself when the copy ends, so a step failing
after that is run again and the move completes.
"""

import pytest

from move_orchestrator import faults

from tests.functional.libvirt import guests


def _phase_faults():
    """The last step of each phase before the point of no return, failing
    once it has run (its own revert included); the point of no return's
    own step failing before it runs."""
    from move_orchestrator.moves import types as move_types
    from move_orchestrator.moves.types import base as types_base
    for type_name in ('live-migrate', 'cold-migrate', 'resize'):
        move_type = move_types.get(type_name)
        last = {}
        for step in move_type.stage_steps(types_base.MAIN):
            last[step.cls.phase] = step.cls.__name__
            if step.cls.__name__ == move_type.ponr_after:
                break
        for phase, name in last.items():
            when = 'execute' if name == move_type.ponr_after else 'execute.after'
            yield type_name, phase, '%s.%s=fail' % (name, when)


# The destination prepared, the migration not started yet: undone too.
PHASE_FAULTS = list(_phase_faults()) + [
    ('live-migrate', 'transfer', 'PrepareIncoming.execute.after=fail')]


@pytest.mark.parametrize('move_type,phase,fault', PHASE_FAULTS,
                         ids=['%s-%s-%s' % (t, p, f.split('.')[0])
                              for t, p, f in PHASE_FAULTS])
def test_failure_in_a_phase_reverts(make_cloud, libvirt_hosts, move_type, phase, fault):
    cloud = make_cloud(task_faults=[fault])
    vm = guests.boot(cloud, 'vm1')
    driver = cloud.services.driver
    request = {'destination': 'host2', 'live': move_type == 'live-migrate',
               'flavor': 'l.big' if move_type == 'resize' else None}

    doc = cloud.move('vm1', **request)
    assert (doc['type'], doc['state']) == (move_type, 'reverted'), doc['reason']
    assert doc['failed_step'] == fault.split('.')[0]
    assert phase in [s['phase'] for s in doc['subtasks']
                     if s['name'] == doc['failed_step']]
    assert cloud.claims_of(doc['id']) == []
    assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host1': 'running'}
    world = cloud.world('vm1')
    assert list(world['disks']) == ['host1']
    assert world['domains']['host1'] == {'state': 'running', 'vcpus': 1, 'ram_mb': 64}
    if move_type == 'live-migrate':
        # Never stopped nor restarted: one count, no gap, still going.
        seen = guests.counters(driver, vm['uuid'], 'host1')
        assert seen == list(range(seen[0], seen[0] + len(seen)))
    count = guests.counters(driver, vm['uuid'], 'host1')
    guests.wait_for(lambda: guests.counters(driver, vm['uuid'], 'host1') != count)
    assert cloud.audit() == []


@pytest.mark.parametrize('fault', ['TransferMemory.execute.after=fail_once',
                                   'SwitchOverMigration.execute=fail_once',
                                   'UpdateInstanceHost.execute.after=fail_once'])
def test_failure_after_the_convergence_rolls_forward(make_cloud, libvirt_hosts, fault):
    cloud = make_cloud(task_faults=[fault])
    vm = guests.boot(cloud, 'vm1')
    tail = guests.SerialTail(cloud.services.driver, vm['uuid'], 'host1')

    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
    assert 'reverting' not in [h['state'] for h in doc['history']]
    [sub] = [s for s in doc['subtasks'] if s['name'] == fault.split('.')[0]]
    assert 'FAILURE' in [h['state'] for h in sub['history']]
    assert sub['state'] == 'SUCCESS'
    guests.assert_continues(cloud.services.driver, vm['uuid'], tail, 'host2')
    assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host2': 'running'}
    assert list(cloud.world('vm1')['disks']) == ['host2']
    assert cloud.audit() == []


def test_an_earlier_moves_migration_is_not_a_switch_over(make_cloud, libvirt_hosts):
    """The domain keeps its last migration's record, and the driver that
    ran it its job: a later move failing before its own migration starts
    still reverts (the completed migration it finds is not its own)."""
    cloud = make_cloud()
    vm = guests.boot(cloud, 'vm1')
    assert cloud.move('vm1', destination='host2')['state'] == 'completed'
    # The same conductor and driver, a fault from now on.
    cloud.services.task_faults = faults.parse(['TransferMemory.execute=fail'])

    doc = cloud.move('vm1', destination='host1')
    assert (doc['type'], doc['state']) == ('live-migrate', 'reverted'), doc['reason']
    assert doc['failed_step'] == 'TransferMemory'
    assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host2': 'running'}
    assert cloud.audit() == []
