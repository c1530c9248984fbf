"""Disks moved between hosts over NBD by the qemu driver, with real
qemu-nbd and qemu-img: a read-only export, the copy, and an export left by
a crash stopped by the undo."""

import os
import subprocess

import pytest

from move_orchestrator.drivers import choreography
from move_orchestrator import exception

from tests.functional.qemu import domains


def _nbd_pids(driver):
    """This test's qemu-nbd processes (their command line names its disks):
    other tests, on other workers, export theirs meanwhile."""
    out = subprocess.run(['pgrep', '-f', '^qemu-nbd .*%s/' % driver.root],
                         capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_disk_copied_over_nbd_then_compared(make_driver, tmp_path):
    """A disk goes to another host only over the network: exported read-only
    by qemu-nbd on the host's address, imported with qemu-img convert."""
    driver = make_driver()
    image = tmp_path / 'image.raw'
    image.write_bytes(os.urandom(2 << 20) + b'\0' * (2 << 20))
    spec = domains.make_spec(image=str(image))
    driver.create_disk(spec, 'h1')
    driver.create_disk(spec, 'h1')                      # idempotent
    export = driver.export_disk(spec['uuid'], 'h1')
    assert export == driver.export_disk(spec['uuid'], 'h1')    # the same export
    assert export['uri'].startswith('nbd://127.0.0.1:')
    assert (export['host'], export['size_bytes'], export['image']) == ('h1', 1 << 30,
                                                                       str(image))
    # Read-only: a peer cannot write into the source's disk.
    out = subprocess.run(['qemu-io', '-f', 'raw', '-c', 'write 0 512', export['uri']],
                         capture_output=True, text=True)
    assert out.returncode != 0 or 'failed' in (out.stdout + out.stderr).lower(), out
    driver.import_disk(spec['uuid'], 'h2', export, 2)
    driver.import_disk(spec['uuid'], 'h2', export, 2)   # re-run
    assert driver.unexport_disk(spec['uuid'], 'h1') is True
    assert driver.unexport_disk(spec['uuid'], 'h1') is False
    assert _nbd_pids(driver) == []
    disks = driver.describe(spec['uuid'])['disks']
    assert (disks['h1']['size_gb'], disks['h2']['size_gb']) == (1, 2)
    assert disks['h2']['image'] == str(image)
    for host in ('h1', 'h2'):
        out = subprocess.run(['qemu-img', 'compare', '-f', 'raw', str(image),
                              disks[host]['path']], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
    assert driver.compare_disks(spec['uuid'], 'h1', 'h2')
    driver.resize_disk(spec['uuid'], 'h1', 3)           # in place
    assert driver.describe(spec['uuid'])['disks']['h1']['size_gb'] == 3
    with pytest.raises(exception.DriverError):
        driver.resize_disk(spec['uuid'], 'h1', 1)       # no shrinking...
    driver.resize_disk(spec['uuid'], 'h1', 1, shrink=True)     # ...but in a revert
    assert driver.describe(spec['uuid'])['disks']['h1']['size_gb'] == 1
    assert driver.compare_disks(spec['uuid'], 'h1', 'h2')
    with pytest.raises(exception.DriverError):
        driver.export_disk(spec['uuid'], 'h3')          # no disk there
    with pytest.raises(exception.DriverError):
        driver.import_disk(spec['uuid'], 'h3', export, 1)   # the export is gone
    assert not os.path.exists(driver.disk_path(spec['uuid'], 'h3'))


def test_an_export_left_by_a_crash_is_stopped_by_the_revert(make_driver):
    """The conductor died between the export and the import: the move's
    revert, in another process with another driver object, finds the
    export by what the host keeps of it and stops it; the copy's undo is
    idempotent."""
    driver = make_driver()
    spec = domains.boot(driver)
    driver.power_off(spec['uuid'], 'h1')
    driver.export_disk(spec['uuid'], 'h1')
    assert len(_nbd_pids(driver)) == 1
    again = make_driver()       # a conductor (and driver) started afresh
    choreography.undo_copy(again, spec['uuid'], 'h1', 'h2', 1)
    choreography.undo_copy(again, spec['uuid'], 'h1', 'h2', 1)
    assert _nbd_pids(driver) == []
    assert list(again.describe(spec['uuid'])['disks']) == ['h1']
    # A resumed copy exports again and completes, leaving no export.
    driver.export_disk(spec['uuid'], 'h1')
    choreography.copy_disk(again, spec['uuid'], 'h1', 'h2', 1)
    assert _nbd_pids(driver) == []
    assert again.compare_disks(spec['uuid'], 'h1', 'h2')
