"""A conductor SIGKILLed during a real QEMU move; the next one carries on.

The new conductor finds out from QEMU what happened and completes the move
or rolls it back, as its resume_policy says, with exactly one QEMU process
left for the instance.
"""

import signal

import pytest

from move_orchestrator.drivers.compute import base
from tests.functional.qemu import guests


@pytest.mark.parametrize('when,policy,outcome', [
    ('at-the-switch-over-point', 'resume', 'completed'),
    ('mid-transfer', 'resume', 'completed'),
    ('mid-transfer', 'rollback', 'reverted'),
])
def test_conductor_killed_during_a_live_migration(make_cloud, image, when, policy, outcome):
    """SIGKILL the conductor; a new one finds out from QEMU what happened
    and carries the move on (or rolls it back, as its resume_policy says)."""
    bandwidth = 0 if when == 'at-the-switch-over-point' else 8    # MiB/s
    cloud = make_cloud(qemu__max_bandwidth=bandwidth)
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    tail = guests.SerialTail(cloud, vm, 'host1')
    url = cloud.url
    cloud.close()                  # the database is the subprocesses' now
    faults = (['TransferMemory.execute.after=kill']
              if when == 'at-the-switch-over-point' else [])
    first = guests.write_config(cloud, cloud.tmp / 'first.conf', bandwidth, faults)
    proc = guests.cli('--config-file', first, 'move', 'vm1', '--to', 'host2',
                      '--wait', wait=False)   # --wait: the move runs in this process
    if when == 'mid-transfer':
        def transferring():
            migration = cloud.services.driver.describe(vm['uuid'])['migration']
            assert proc.poll() is None, (migration, proc.communicate())
            return migration and migration.get('transferred_mb', 0) > 1
        guests.wait_for(transferring)
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    # Nobody runs the move now; QEMU goes on (or waits at the switch-over).
    migration = cloud.services.driver.describe(vm['uuid'])['migration']
    assert migration['status'] in (base.MIGRATION_RUNNING, base.MIGRATION_READY)

    second = guests.write_config(cloud, cloud.tmp / 'second.conf', bandwidth, resume_policy=policy)
    code, output = guests.cli('--config-file', second, 'conductor', '--until-idle')
    assert code == 0, output

    cloud = make_cloud(qemu__max_bandwidth=8)    # the same database, to look
    assert cloud.url == url
    [doc] = cloud.api.list_tasks(None)
    doc = cloud.api.get_task(None, doc['id'])
    assert doc['state'] == outcome, doc['reason']
    host = 'host2' if outcome == 'completed' else 'host1'
    if outcome == 'completed':
        guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, host)
    assert guests.same_disk(reference, cloud.world('vm1')['disks'][host]['path'])


# -- every task, opt-in: tox -e exhaustive (about 12 minutes on 2 cores) ----------
def _every_kill_point():
    from move_orchestrator.moves import types as move_types
    for type_name in ('live-migrate', 'cold-migrate', 'resize'):
        for step in move_types.get(type_name).steps:
            for when in ('execute', 'execute.after'):
                for policy in ('resume', 'rollback'):
                    yield type_name, '%s.%s' % (step.cls.__name__, when), policy


@pytest.mark.exhaustive  # tox -e exhaustive: a kill at every task, real VMs
@pytest.mark.parametrize('move_type,point,policy', list(_every_kill_point()))
def test_conductor_killed_at_every_task(make_cloud, image, move_type, point, policy):
    cloud = make_cloud()
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    cloud.close()
    first = guests.write_config(cloud, cloud.tmp / 'first.conf', 0, ['%s=kill' % point])
    args = {'live-migrate': ['--live'], 'cold-migrate': ['--cold'],
            'resize': ['--flavor', 'q.big']}[move_type]
    code, output = guests.cli('--config-file', first, 'move', 'vm1', '--to', 'host2',
                              '--wait', *args)
    assert code == -signal.SIGKILL, output
    second = guests.write_config(cloud, cloud.tmp / 'second.conf', 0, resume_policy=policy)
    code, output = guests.cli('--config-file', second, 'conductor', '--until-idle')
    assert code == 0, output

    cloud = make_cloud()
    [doc] = cloud.api.list_tasks(None)
    doc = cloud.api.get_task(None, doc['id'])
    assert doc['type'] == move_type
    cleanup = point.split('.')[0] in ('DestroySource', 'UnbindSourcePorts',
                                      'ReleaseSourceClaim')
    outcome = 'completed' if policy == 'resume' or cleanup else 'reverted'
    assert doc['state'] == outcome, doc['reason']
    host = 'host2' if outcome == 'completed' else 'host1'
    guests.assert_runs_only_on(cloud, vm, host)
    assert guests.same_disk(reference, cloud.world('vm1')['disks'][host]['path'])
