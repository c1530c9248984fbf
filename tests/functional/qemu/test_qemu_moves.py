"""Whole moves of real QEMU VMs through the orchestrator: every move type.

Every move type runs through the conductor (TaskFlow engines, persistence,
inventory) with ``[compute] driver = qemu``: a cloud of three simulated
hosts on loopback and 64 MiB guests (48 MiB of it filled with data, so
live migrations move real pages), from the ``make_cloud`` fixture.
Failures, aborts and force-complete are in test_qemu_failures.py, killed
conductors in test_qemu_crash.py.

At the end of every test every QEMU process, socket and disk is gone (the
``qemu_root`` fixture checks it again for the whole session).
"""

import os

import pytest
from rich.console import Console

from move_orchestrator.cli import render
from move_orchestrator.drivers.compute import base
from tests.functional.qemu import conftest
from tests.functional.qemu import guests


# -- every move type ---------------------------------------------------------------
@pytest.mark.parametrize('shared', [False, True], ids=['local-storage', 'shared-storage'])
def test_live_migrate(make_cloud, image, shared):
    groups = {'host1': 'g', 'host2': 'g'} if shared else {}
    cloud = make_cloud(qemu__storage_groups=groups)
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    tail = guests.SerialTail(cloud, vm, 'host1')

    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
    subtasks = {s['name']: s for s in doc['subtasks']}
    assert subtasks['TransferMemory']['progress'] == 1.0
    # The record shows what the switch-over found: QEMU's figures.
    switched = subtasks['SwitchOverMigration']['result']
    assert switched['status'] == base.MIGRATION_COMPLETED
    assert switched['transferred_mb'] > 0 and switched['downtime_ms'] >= 0
    console = Console(record=True, width=200)
    render.print_task(doc, console=console)
    assert 'guest paused %s ms' % switched['downtime_ms'] in console.export_text()
    guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, 'host2')
    # The disk followed (mirrored, or shared): the data is the same.
    world = cloud.world('vm1')
    assert guests.same_disk(reference, world['disks']['host2']['path'])
    assert world['migration']['status'] == base.MIGRATION_COMPLETED
    assert not os.path.exists(os.path.join(cloud.services.driver.root, 'host1', vm['uuid']))


def test_cold_migrate(make_cloud, image):
    cloud = make_cloud()
    running, running_ref = guests.boot(cloud, 'vm1', image=image)
    stopped, stopped_ref = guests.boot(cloud, 'vm2', image=image, power_state='shutdown')

    doc = cloud.move('vm1', destination='host2', live=False)
    assert (doc['type'], doc['state']) == ('cold-migrate', 'completed'), doc['reason']
    guests.assert_runs_only_on(cloud, running, 'host2')
    assert guests.same_disk(running_ref, cloud.world('vm1')['disks']['host2']['path'])

    doc = cloud.move('vm2', destination='host3')
    assert (doc['type'], doc['state']) == ('cold-migrate', 'completed'), doc['reason']
    guests.assert_runs_only_on(cloud, stopped, 'host3', power='shutdown')
    assert guests.same_disk(stopped_ref, cloud.world('vm2')['disks']['host3']['path'])


@pytest.mark.parametrize('dest', ['host2', 'host1'], ids=['other-host', 'same-host'])
def test_resize(make_cloud, image, dest):
    cloud = make_cloud(move__allow_resize_to_same_host=True)
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    assert len(guests.qmp_query(cloud, vm, 'host1', 'query-cpus-fast')) == 1

    doc = cloud.move('vm1', destination=dest, flavor='q.big')
    assert (doc['type'], doc['state']) == ('resize', 'completed'), doc['reason']
    assert cloud.instance('vm1')['flavor'] == 'q.big'
    guests.assert_runs_only_on(cloud, vm, dest)
    # What the QEMU process really has, not what the driver wrote down.
    assert len(guests.qmp_query(cloud, vm, dest, 'query-cpus-fast')) == 2
    memory = guests.qmp_query(cloud, vm, dest, 'query-memory-size-summary')
    assert memory['base-memory'] == 96 << 20
    disk = cloud.world('vm1')['disks'][dest]
    assert disk['size_gb'] == 2
    assert guests.same_disk(reference, disk['path'])


def test_evacuate(make_cloud, image):
    cloud = make_cloud()
    vm, _reference = guests.boot(cloud, 'vm1', image=image)
    # host1 dies: its QEMU process with it.
    guests.kill_qemu(cloud, vm)
    cloud.services.inventory.set_host_state('host1', 'down')

    doc = cloud.move('vm1', destination='host3')
    assert (doc['type'], doc['state']) == ('evacuate', 'completed'), doc['reason']
    cloud.services.inventory.set_host_state('host1', 'up')    # repaired
    guests.assert_runs_only_on(cloud, vm, 'host3')
    # Rebuilt from the image: the image's data, not the lost disk's pattern.
    rebuilt = cloud.world('vm1')['disks']['host3']['path']
    assert guests.same_disk(image, rebuilt)


# -- moves after moves ---------------------------------------------------------------
def test_live_migrate_again_along_an_earlier_route(make_cloud, image):
    """QEMU's last migration stays on record after it ends; a later live
    migration between the same two hosts (here after a cold migration back)
    must run its own, not take the earlier one's for finished. Before the
    migration had the move's id, that later move reverted at its
    switch-over: "destination host2 does not run the instance"."""
    cloud = make_cloud()
    vm, _reference = guests.boot(cloud, 'vm1', image=image)
    first = cloud.move('vm1', destination='host2')
    assert first['state'] == 'completed', first['reason']
    back = cloud.move('vm1', destination='host1', live=False)
    assert back['state'] == 'completed', back['reason']
    tail = guests.SerialTail(cloud, vm, 'host1')
    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
    migration = cloud.world('vm1')['migration']
    assert (migration['id'], migration['status']) == (doc['id'], base.MIGRATION_COMPLETED)
    guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, 'host2')


@pytest.mark.parametrize('shared', [False, True], ids=['local-storage', 'shared-storage'])
def test_one_vm_through_every_move_type_in_turn(make_cloud, image, shared):
    """What each move leaves behind is what the next one starts from: a
    resize after a live migration, a live migration of the resized VM, a
    cold migration back and an evacuation, with the guest's counter
    continuing across each live migration and the audit clean after each."""
    groups = {'host1': 'g', 'host2': 'g', 'host3': 'g'} if shared else {}
    cloud = make_cloud(qemu__storage_groups=groups)
    vm, reference = guests.boot(cloud, 'vm1', image=image)

    def move(dest, want_type, reference=reference, **kwargs):
        tail = guests.SerialTail(cloud, vm, cloud.instance('vm1')['host'])
        doc = cloud.move('vm1', destination=dest, **kwargs)
        assert (doc['type'], doc['state']) == (want_type, 'completed'), doc['reason']
        if want_type == 'live-migrate':
            guests.assert_continues(cloud, vm, tail, dest)
        else:
            tail.file.close()
        guests.assert_runs_only_on(cloud, vm, dest)
        assert guests.same_disk(reference, cloud.world('vm1')['disks'][dest]['path'])
        return doc

    move('host2', 'live-migrate')
    move('host1', 'resize', flavor='q.big')
    assert len(guests.qmp_query(cloud, vm, 'host1', 'query-cpus-fast')) == 2
    move('host2', 'live-migrate')
    # The resized VM went as it is: two vCPUs, 96 MiB.
    assert len(guests.qmp_query(cloud, vm, 'host2', 'query-cpus-fast')) == 2
    memory = guests.qmp_query(cloud, vm, 'host2', 'query-memory-size-summary')
    assert memory['base-memory'] == 96 << 20
    move('host1', 'cold-migrate', live=False)
    move('host2', 'live-migrate')
    # host2 dies with its QEMU process; the VM is rebuilt on host3.
    guests.kill_qemu(cloud, vm)
    cloud.services.inventory.set_host_state('host2', 'down')
    doc = cloud.move('vm1', destination='host3')
    assert (doc['type'], doc['state']) == ('evacuate', 'completed'), doc['reason']
    cloud.services.inventory.set_host_state('host2', 'up')
    guests.assert_runs_only_on(cloud, vm, 'host3')
    # Rebuilt from the image, unless host3 reaches the disk: then it is kept.
    move('host1', 'live-migrate', reference=reference if shared else image)


# -- the demo --------------------------------------------------------------------
def test_demo_with_qemu(qemu_root, tmp_path):
    path = os.path.join(qemu_root, 'demo')
    conf = tmp_path / 'demo.conf'
    conf.write_text('[database]\nconnection = sqlite:///%s\n[qemu]\ninstances_path = %s\n'
                    % (tmp_path / 'demo.db', path))
    code, output = guests.cli('--config-file', str(conf), 'demo', '--driver', 'qemu')
    assert code == 0, [line for line in output.splitlines() if '│' in line
                       or 'ERROR' in line] or output
    assert 'audit: no violations' in output
    for move_type in ('live-migrate', 'cold-migrate', 'resize', 'evacuate'):
        assert move_type in output
    assert 'aborted' in output
    assert conftest.qemu_processes(path) == []
    assert not os.path.exists(path)
