"""Whole moves of libvirt domains through the orchestrator.

``[compute] driver = libvirt`` on host1 and host2, two real libvirtd daemons
(conftest.py); 64 MiB guests, 48 MiB of it filled, disks copied by the
migration where the hosts share no storage. After each test the audit is clean
and nothing of it is left on the daemons.
"""

import pytest

from move_orchestrator.drivers.compute import base
from tests.functional.libvirt import guests


@pytest.mark.parametrize('shared', [False, True], ids=['local-storage', 'shared-storage'])
def test_live_migrate(make_cloud, libvirt_hosts, shared):
    groups = {'host1': 'g', 'host2': 'g'} if shared else {}
    cloud = make_cloud(libvirt__storage_groups=groups)
    vm = guests.boot(cloud, 'vm1')
    driver = cloud.services.driver
    tail = guests.SerialTail(driver, vm['uuid'], 'host1')

    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
    subtasks = {s['name']: s for s in doc['subtasks']}
    assert subtasks['TransferMemory']['progress'] == 1.0
    switched = subtasks['SwitchOverMigration']['result']
    assert switched['status'] == base.MIGRATION_COMPLETED
    assert switched['id'] == doc['id']
    guests.assert_continues(driver, vm['uuid'], tail, 'host2')
    assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host2': 'running'}
    assert cloud.instance('vm1')['host'] == 'host2'
    world = cloud.world('vm1')
    assert list(world['disks']) == ['host2']
    # One file both hosts reach, or a copy of the disk made by the migration.
    same_file = world['disks']['host2']['path'] == driver.disk_path(vm['uuid'], 'host1')
    assert same_file is shared
    assert cloud.audit() == []


def test_abort_during_a_throttled_live_migration(make_cloud, libvirt_hosts):
    # 48 MiB of RAM and the disk at 1 MiB/s: a minute and more, unless aborted.
    cloud = make_cloud(libvirt__max_bandwidth=1)
    vm = guests.boot(cloud, 'vm1')
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    guests.migrating(cloud, doc)

    cloud.api.abort_task(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'reverted', doc['reason']
    assert cloud.world('vm1')['migration']['status'] == base.MIGRATION_CANCELLED
    assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host1': 'running'}
    assert list(cloud.world('vm1')['disks']) == ['host1']
    assert cloud.audit() == []


@pytest.mark.parametrize('power_state', ['running', 'shutdown'])
def test_cold_migrate(make_cloud, libvirt_hosts, power_state):
    cloud = make_cloud()
    vm = guests.boot(cloud, 'vm1', power_state=power_state)
    driver = cloud.services.driver
    reference = str(cloud.tmp / 'reference.qcow2')
    guests.qemu_guests.run('qemu-img', 'convert', '-U', '-O', 'qcow2',
                           driver.disk_path(vm['uuid'], 'host1'), reference)

    doc = cloud.move('vm1', destination='host2', live=False)
    assert (doc['type'], doc['state']) == ('cold-migrate', 'completed'), doc['reason']
    state = 'running' if power_state == 'running' else 'shut off'
    assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host2': state}
    world = cloud.world('vm1')
    assert list(world['disks']) == ['host2']
    if power_state == 'shutdown':   # a running guest may have written since
        assert guests.qemu_guests.same_disk(reference, world['disks']['host2']['path'])
    assert cloud.audit() == []


def test_resize(make_cloud, libvirt_hosts):
    cloud = make_cloud()
    vm = guests.boot(cloud, 'vm1')

    doc = cloud.move('vm1', destination='host2', flavor='l.big')
    assert (doc['type'], doc['state']) == ('resize', 'completed'), doc['reason']
    assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host2': 'running'}
    world = cloud.world('vm1')
    assert world['domains']['host2'] == {'state': base.RUNNING, 'vcpus': 2,
                                         'ram_mb': 96}
    assert world['disks']['host2']['size_gb'] == 2
    guests.wait_for(lambda: len(guests.counters(cloud.services.driver, vm['uuid'],
                                                'host2')) > 3)
    assert cloud.audit() == []


def test_source_libvirtd_restarted_during_a_live_migration(make_cloud, libvirt_hosts):
    # 48 MiB at 8 MiB/s: about 6 s, the restart in the middle.
    cloud = make_cloud(libvirt__max_bandwidth=8,
                       libvirt__storage_groups={'host1': 'g', 'host2': 'g'})
    vm = guests.boot(cloud, 'vm1')
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    guests.migrating(cloud, doc, minimum_mb=1)

    libvirt_hosts[0].restart()
    doc = cloud.api.wait_task(None, doc['id'], timeout=90)
    where = guests.defined_on(libvirt_hosts, vm['uuid'])
    assert doc['state'] in ('completed', 'reverted'), doc['reason']
    expected = 'host2' if doc['state'] == 'completed' else 'host1'
    assert where == {expected: 'running'}
    assert cloud.instance('vm1')['host'] == expected
    assert cloud.audit() == []
    print('after the restart: the move %s' % doc['state'])


def test_evacuate(make_cloud, libvirt_hosts):
    cloud = make_cloud()
    vm = guests.boot(cloud, 'vm1')
    # host1's guest dies (its daemon answers still: it is cleaned up).
    guests.virsh(libvirt_hosts[0], 'destroy', vm['uuid'])
    cloud.services.inventory.set_host_state('host1', 'down')

    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('evacuate', 'completed'), doc['reason']
    cloud.services.inventory.set_host_state('host1', 'up')    # repaired
    assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host2': 'running'}
    guests.wait_for(lambda: len(guests.counters(cloud.services.driver, vm['uuid'],
                                                'host2')) > 3)
    assert cloud.audit() == []
