"""The fake network driver: port bindings as durable rows per host."""

import pytest

from move_orchestrator.drivers import choreography
from move_orchestrator.drivers import network
from move_orchestrator import exception


def test_bindings_one_active_and_durable(cloud):
    net = cloud.services.network
    u = 'a0b1c2d3-0000-4000-8000-000000000001'
    net.bind_ports(u, 'host1')
    net.bind_ports(u, 'host1')                  # idempotent
    net.bind_ports(u, 'host2')
    assert net.bindings(u) == {'host1': False, 'host2': False}
    net.activate_binding(u, 'host2')
    net.activate_binding(u, 'host1')
    # Another process's driver (a conductor restarted) finds them so.
    assert network.load_driver(conf=cloud.services.conf).bindings(u) == {
        'host1': True, 'host2': False}
    before = cloud.snapshot()
    with pytest.raises(exception.DriverError):
        net.activate_binding(u, 'host3')        # no binding there: nothing changes
    assert cloud.snapshot() == before
    assert net.unbind_ports(u, 'host2') is True
    assert net.unbind_ports(u, 'host2') is False
    assert net.bindings(u) == {'host1': True}


def test_the_compute_driver_no_longer_reports_bindings(cloud):
    vm = cloud.instance('vm1')
    assert 'bindings' not in cloud.services.driver.describe(vm['uuid'])
    assert cloud.services.network.bindings(vm['uuid']) == {vm['host']: True}


def test_fake_disk_copy_over_export_and_import(cloud):
    """The choreography's copy with the fake driver: the export's import
    makes dest's disk, and its undo deletes it; a copy within one host
    resizes in place."""
    driver = cloud.services.driver
    vm = cloud.instance('vm1')
    src, uuid = vm['host'], vm['uuid']
    dest = 'host3' if src != 'host3' else 'host4'
    size = driver.describe(uuid)['disks'][src]['size_gb']
    choreography.copy_disk(driver, uuid, src, dest, size + 10)
    choreography.copy_disk(driver, uuid, src, dest, size + 10)    # re-run
    disks = driver.describe(uuid)['disks']
    assert (disks[src]['size_gb'], disks[dest]['size_gb']) == (size, size + 10)
    assert disks[dest]['checksum'] == disks[src]['checksum']
    choreography.undo_copy(driver, uuid, src, dest, size)
    choreography.undo_copy(driver, uuid, src, dest, size)
    assert list(driver.describe(uuid)['disks']) == [src]
    choreography.copy_disk(driver, uuid, src, src, size + 5)
    assert driver.describe(uuid)['disks'][src]['size_gb'] == size + 5
    choreography.undo_copy(driver, uuid, src, src, size)
    assert driver.describe(uuid)['disks'][src]['size_gb'] == size
