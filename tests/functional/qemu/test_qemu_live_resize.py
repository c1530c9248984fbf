"""live-resize of real QEMU guests: vCPUs and memory hot-plugged into the
running process, checked with QEMU's own query-cpus-fast and
query-memory-devices; reverted at each step; migrated live afterwards.

The test guest has no OS, so it never gives a hot-plugged device back:
QEMU refuses to unplug an x86 vCPU before the guest's ACPI switched to the
modern CPU hotplug interface, and a pc-dimm stays until the guest ejects
it. A revert after a plug therefore ends ``failed``, naming the device that
stays, with the claim kept; before a plug it ends ``reverted``.
"""

import signal

import pytest

from tests.functional.qemu import guests

MIB = 1 << 20


def _cloud(make_cloud, task_faults=()):
    cloud = make_cloud(task_faults=task_faults,
                       compute__hot_unplug_timeout=0.5)
    cloud.services.inventory.create_flavor('q.wide', 2, 128, 1)
    return cloud


def _qemu_size(cloud, vm, host):
    cpus = guests.qmp_query(cloud, vm, host, 'query-cpus-fast')
    dimms = guests.qmp_query(cloud, vm, host, 'query-memory-devices')
    return len(cpus), [d['data']['size'] // MIB for d in dimms]


def test_grown_in_place(make_cloud):
    cloud = _cloud(make_cloud)
    vm, _ = guests.boot(cloud, 'vm1')
    [(pid, _cmdline)] = guests.qemu_pids(cloud, vm)
    assert _qemu_size(cloud, vm, 'host1') == (1, [])

    doc = cloud.move('vm1', flavor='q.wide')
    assert (doc['type'], doc['state']) == ('live-resize', 'completed'), \
        doc['reason']
    assert _qemu_size(cloud, vm, 'host1') == (2, [64])
    # The same process, still running the guest: nothing was restarted.
    assert [p for p, _ in guests.qemu_pids(cloud, vm)] == [pid]
    guests.assert_counting(cloud, vm, 'host1')
    guests.assert_runs_only_on(cloud, vm, 'host1')
    assert cloud.instance('vm1')['flavor'] == 'q.wide'
    assert cloud.world('vm1')['domains']['host1']['vcpus'] == 2
    assert cloud.audit() == []


@pytest.mark.parametrize('point', [
    'ClaimResources.execute.after', 'CheckInstance.execute',
    'CheckHotplugRoom.execute'])
def test_reverted_before_a_plug(make_cloud, point):
    cloud = _cloud(make_cloud, task_faults=['%s=fail' % point])
    vm, _ = guests.boot(cloud, 'vm1')
    doc = cloud.move('vm1', flavor='q.wide')
    assert (doc['type'], doc['state']) == ('live-resize', 'reverted'), \
        doc['reason']
    assert _qemu_size(cloud, vm, 'host1') == (1, [])
    assert cloud.instance('vm1')['flavor'] == 'q.small'
    assert cloud.claims_of(doc['id']) == []
    guests.assert_runs_only_on(cloud, vm, 'host1')
    assert cloud.audit() == []


@pytest.mark.parametrize('point,stays,size', [
    ('PlugVcpus.execute.after', 'vCPU vcpu-0-1-0', (2, [])),
    ('PlugMemory.execute.after', 'memory dimm0 (64 MB)', (2, [64])),
    ('VerifyResize.execute.after', 'memory dimm0 (64 MB)', (2, [64])),
    ('UpdateInstanceHost.execute.after', 'memory dimm0 (64 MB)',
     (2, [64]))])
def test_revert_after_a_plug_is_refused_by_the_guest(
        make_cloud, point, stays, size):
    cloud = _cloud(make_cloud, task_faults=['%s=fail_once' % point])
    vm, _ = guests.boot(cloud, 'vm1')
    doc = cloud.move('vm1', flavor='q.wide')
    assert (doc['type'], doc['state']) == ('live-resize', 'failed'), \
        doc['reason']
    assert 'Cannot unplug %s' % stays in doc['reason']
    # What QEMU has is what the record says stays; the guest runs on, and
    # the claim of what it still uses is kept.
    assert _qemu_size(cloud, vm, 'host1') == size
    guests.assert_counting(cloud, vm, 'host1')
    assert cloud.claims_of(doc['id']) != []
    # The operator finishes it: the plugs find their devices there.
    cloud.api.resume_task(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=120)
    assert doc['state'] == 'completed', doc['reason']
    assert _qemu_size(cloud, vm, 'host1') == (2, [64])
    assert cloud.instance('vm1')['flavor'] == 'q.wide'
    assert cloud.claims_of(doc['id']) == []
    assert cloud.audit() == []


def test_live_migration_after_a_live_resize(make_cloud):
    cloud = _cloud(make_cloud)
    vm, _ = guests.boot(cloud, 'vm1')
    doc = cloud.move('vm1', flavor='q.wide')
    assert doc['state'] == 'completed', doc['reason']
    tail = guests.SerialTail(cloud, vm, 'host1')

    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), \
        doc['reason']
    # The destination was started with the plugged devices: QEMU refuses
    # a migration stream between different topologies.
    assert _qemu_size(cloud, vm, 'host2') == (2, [64])
    guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, 'host2')
    # And it can grow again there.
    cloud.services.inventory.create_flavor('q.wider', 3, 192, 1)
    doc = cloud.move('vm1', flavor='q.wider')
    assert (doc['type'], doc['state']) == ('live-resize', 'completed'), \
        doc['reason']
    assert _qemu_size(cloud, vm, 'host2') == (3, [64, 64])


@pytest.mark.parametrize('point,policy,outcome,size', [
    ('PlugMemory.execute.after', 'resume', 'completed', (2, [64])),
    ('PlugVcpus.execute', 'rollback', 'reverted', (1, [])),
    ('PlugVcpus.execute.after', 'rollback', 'failed', (2, [])),
])
def test_conductor_killed_during_a_live_resize(make_cloud, point, policy,
                                               outcome, size):
    """A re-run plug finds its devices (nothing plugged twice); a rollback
    unplugs nothing that was not plugged, and says what the guest keeps."""
    cloud = _cloud(make_cloud)
    vm, _ = guests.boot(cloud, 'vm1')
    cloud.close()
    first = guests.write_config(cloud, cloud.tmp / 'first.conf', 0,
                                ['%s=kill' % point])
    code, output = guests.cli('--config-file', first, 'move', 'vm1',
                              '--flavor', 'q.wide', '--wait')
    assert code == -signal.SIGKILL, output
    second = guests.write_config(cloud, cloud.tmp / 'second.conf', 0,
                                 resume_policy=policy)
    code, output = guests.cli('--config-file', second, 'conductor',
                              '--until-idle')
    assert code == 0, output

    cloud = make_cloud()
    [doc] = cloud.api.list_tasks(None)
    doc = cloud.api.get_task(None, doc['id'])
    assert (doc['type'], doc['state']) == ('live-resize', outcome), \
        doc['reason']
    assert _qemu_size(cloud, vm, 'host1') == size
    assert len(guests.qemu_pids(cloud, vm)) == 1
    if outcome == 'failed':
        assert 'Cannot unplug vCPU' in doc['reason']
    else:
        guests.assert_runs_only_on(cloud, vm, 'host1')
        assert cloud.audit() == []
