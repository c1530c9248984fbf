"""A conductor SIGKILLed during a real QEMU move; the next one carries on.

The new conductor finds out from QEMU what happened and completes the move
or rolls it back, as its resume_policy says, with exactly one QEMU process
left for the instance.
"""

import signal

import pytest

from move_orchestrator.drivers.compute import base
from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base as types_base
from tests.functional.qemu import guests


def _figures(cloud, vm):
    """The guest's pause as QEMU's events tell it (printed, never asserted
    on: the machine is shared, its timing is noise)."""
    migration = cloud.services.driver.poll_migration(vm['uuid'])
    return {k: migration.get(k) for k in ('guest_pause_ms', 'switchover_wait_ms',
                                          'downtime_ms')}


# Kill points around the switch-over: where the conductor first sees the
# copy converged (the watcher has switched the guest over by then), and the
# steps after it; the resume policy says roll back, and cannot: past the
# point of no return.
SWITCH_OVER_KILLS = ['TransferMemory.execute.after', 'SwitchOverMigration.execute',
                     'SwitchOverMigration.execute.after',
                     'ActivateDestinationPorts.execute']


@pytest.mark.parametrize('point', SWITCH_OVER_KILLS)
def test_guest_switched_over_with_no_conductor_alive(make_cloud, image, point):
    """SIGKILL the conductor at the switch-over: the guest is not left
    paused. With no conductor alive it runs on the destination, its counter
    going on; a later conductor (resume_policy = rollback) completes the
    move, since it is past its point of no return."""
    cloud = make_cloud(qemu__max_bandwidth=0)
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    tail = guests.SerialTail(cloud, vm, 'host1')
    cloud.close()                  # the database is the subprocesses' now
    first = guests.write_config(cloud, cloud.tmp / 'first.conf', 0, ['%s=kill' % point])
    code, output = guests.cli('--config-file', first, 'move', 'vm1', '--to', 'host2',
                              '--wait')
    assert code == -signal.SIGKILL, output

    # Nobody runs the move: the guest runs on host2 all the same.
    guests.assert_continues(cloud, vm, tail, 'host2')
    counted = guests.counters(cloud, vm, 'host2')[-1]
    guests.wait_for(lambda: guests.counters(cloud, vm, 'host2')[-1] > counted + 10)
    print('\n%s: %s' % (point, _figures(cloud, vm)))

    second = guests.write_config(cloud, cloud.tmp / 'second.conf', 0,
                                 resume_policy='rollback')
    code, output = guests.cli('--config-file', second, 'conductor', '--until-idle')
    assert code == 0, output
    cloud = make_cloud()
    [doc] = cloud.api.list_tasks(None)
    doc = cloud.api.get_task(None, doc['id'])
    assert doc['state'] == 'completed', doc['reason']
    assert doc['point_of_no_return'] is True
    assert 'reverting' not in [h['state'] for h in doc['history']]
    guests.assert_runs_only_on(cloud, vm, 'host2')
    assert guests.same_disk(reference, cloud.world('vm1')['disks']['host2']['path'])


@pytest.mark.parametrize('policy,converged,outcome', [
    ('resume', False, 'completed'),
    ('rollback', False, 'reverted'),
    ('rollback', True, 'completed'),
])
def test_conductor_killed_mid_transfer(make_cloud, image, policy, converged, outcome):
    """SIGKILL the conductor during the memory copy. Before the copy
    converges a new conductor resumes or rolls back, as its resume_policy
    says; once it has converged, the host side has switched the guest over
    and the move is past its point of no return: completed either way."""
    bandwidth = 8 if converged else 2     # MiB/s: a 48 MiB guest, 6 or 24 s
    cloud = make_cloud(qemu__max_bandwidth=bandwidth)
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    tail = guests.SerialTail(cloud, vm, 'host1')
    url = cloud.url
    cloud.close()                  # the database is the subprocesses' now
    first = guests.write_config(cloud, cloud.tmp / 'first.conf', bandwidth)
    proc = guests.cli('--config-file', first, 'move', 'vm1', '--to', 'host2',
                      '--wait', wait=False)   # --wait: the move runs in this process

    def transferring():
        migration = cloud.services.driver.describe(vm['uuid'])['migration']
        assert proc.poll() is None, (migration, proc.communicate())
        return migration and migration.get('transferred_mb', 0) > 1
    guests.wait_for(transferring)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    migration = cloud.services.driver.describe(vm['uuid'])['migration']
    assert migration['status'] in base.MIGRATION_ACTIVE
    if converged:
        # Nobody runs the move; the copy converges and the guest runs on.
        guests.assert_continues(cloud, vm, tail, 'host2')

    second = guests.write_config(cloud, cloud.tmp / 'second.conf', bandwidth,
                                 resume_policy=policy)
    code, output = guests.cli('--config-file', second, 'conductor', '--until-idle')
    assert code == 0, output

    cloud = make_cloud(qemu__max_bandwidth=8)    # the same database, to look
    assert cloud.url == url
    [doc] = cloud.api.list_tasks(None)
    doc = cloud.api.get_task(None, doc['id'])
    assert doc['state'] == outcome, doc['reason']
    host = 'host2' if outcome == 'completed' else 'host1'
    if outcome == 'completed' and not converged:
        guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, host)
    assert guests.same_disk(reference, cloud.world('vm1')['disks'][host]['path'])


# -- every task, opt-in: tox -e exhaustive (about 12 minutes on 2 cores) ----------
def _every_kill_point():
    for type_name in ('live-migrate', 'cold-migrate', 'resize', 'live-resize'):
        for step in move_types.get(type_name).steps:
            for when in ('execute', 'execute.after'):
                for policy in ('resume', 'rollback'):
                    yield type_name, '%s.%s' % (step.cls.__name__, when), policy


@pytest.mark.exhaustive  # tox -e exhaustive: a kill at every task, real VMs
@pytest.mark.parametrize('move_type,point,policy', list(_every_kill_point()))
def test_conductor_killed_at_every_task(make_cloud, image, move_type, point, policy):
    cloud = make_cloud()
    cloud.services.inventory.create_flavor('q.wide', 2, 128, 1)
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    cloud.close()
    first = guests.write_config(cloud, cloud.tmp / 'first.conf', 0, ['%s=kill' % point])
    args = {'live-migrate': ['--live'], 'cold-migrate': ['--cold'],
            'resize': ['--flavor', 'q.big'],
            'live-resize': ['--flavor', 'q.wide']}[move_type]
    dest = 'host1' if move_type == 'live-resize' else 'host2'
    code, output = guests.cli('--config-file', first, 'move', 'vm1', '--to', dest,
                              '--wait', *args)
    assert code == -signal.SIGKILL, output
    second = guests.write_config(cloud, cloud.tmp / 'second.conf', 0, resume_policy=policy)
    code, output = guests.cli('--config-file', second, 'conductor', '--until-idle')
    assert code == 0, output

    cloud = make_cloud()
    [doc] = cloud.api.list_tasks(None)
    doc = cloud.api.get_task(None, doc['id'])
    assert doc['type'] == move_type
    move = move_types.get(move_type)
    step = point.split('.')[0]
    after = step in [s.cls.__name__ for s in move.stage_steps(types_base.CLEANUP)] or (
        step == move.ponr_after and point.endswith('execute.after'))
    outcome = 'completed' if policy == 'resume' or after else 'reverted'
    if outcome == 'reverted' and move_type == 'live-resize' and (
            point not in ('PlugVcpus.execute',) and step not in (
                'ClaimResources', 'CheckInstance', 'CheckHotplugRoom')):
        # Something was plugged: the test guest (no OS) never gives it
        # back. Reverts run newest first: memory, once plugged, is the one
        # refused.
        outcome = 'failed'
        plugged_memory = point == 'PlugMemory.execute.after' or step in (
            'VerifyResize', 'UpdateInstanceHost')
        assert ('Cannot unplug memory' if plugged_memory
                else 'Cannot unplug vCPU') in doc['reason'], doc['reason']
    assert doc['state'] == outcome, doc['reason']
    if outcome == 'failed':
        return
    host = 'host2' if outcome == 'completed' and move_type != 'live-resize' else 'host1'
    guests.assert_runs_only_on(cloud, vm, host)
    assert guests.same_disk(reference, cloud.world('vm1')['disks'][host]['path'])
