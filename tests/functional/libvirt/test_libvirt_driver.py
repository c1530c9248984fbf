"""The libvirt driver against two real libvirtd daemons, and the harness
that runs them."""

import os
import shutil
import signal
import tempfile
import threading
import uuid as uuid_mod

import pytest

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute import procfs
from move_orchestrator import exception
from move_orchestrator.drivers.compute.libvirt import daemons
from move_orchestrator.drivers.compute.libvirt import domain_xml
from tests.functional.libvirt import guests

SPEC = {'name': 'vm', 'vcpus': 1, 'ram_mb': 64, 'disk_gb': 1}


def _spawn(driver, host='host1'):
    spec = dict(SPEC, uuid=str(uuid_mod.uuid4()))
    driver.create_disk(spec, host)
    driver.spawn(spec, host)
    guests.wait_for(lambda: len(guests.counters(driver, spec['uuid'], host)) > 3)
    return spec


def _migrate(driver, spec, migration_id='m1'):
    uuid = spec['uuid']
    disk = driver.describe_host(uuid, 'host1')['disks']['host1']
    driver.prepare_incoming(dict(spec, disk_bytes=int(disk['size_gb'] * (1 << 30))),
                            'host2')
    return driver.start_migration(uuid, 'host1', 'host2', migration_id=migration_id)


def test_live_migration(make_driver, libvirt_hosts):
    driver = make_driver()
    spec = _spawn(driver)
    uuid = spec['uuid']
    tail = guests.SerialTail(driver, uuid, 'host1')
    started = _migrate(driver, spec)
    # Answered as a poll would, libvirt's job under way.
    assert (started['id'], started['status']) == ('m1', base.MIGRATION_RUNNING)
    # Started again with the same id (a step re-run after a crash): a no-op
    # that answers the same migration.
    again = driver.start_migration(uuid, 'host1', 'host2', migration_id='m1')
    assert again['id'] == 'm1' and again['started_at'] == started['started_at']
    migration = guests.wait_for(
        lambda: (lambda m: m['status'] != base.MIGRATION_RUNNING and m)(
            driver.poll_migration(uuid)))
    assert migration['status'] == base.MIGRATION_COMPLETED, migration.get('reason')
    assert migration['id'] == 'm1' and migration['downtime_ms'] >= 0
    # libvirt's figures of the completed job answer every poll, not the first.
    assert driver.poll_migration(uuid)['downtime_ms'] == migration['downtime_ms']
    # Already done: nothing to do, and it answers the finished migration
    # (the move then needs no second poll).
    finished = driver.complete_migration(uuid)
    assert finished['status'] == base.MIGRATION_COMPLETED
    assert finished['id'] == 'm1' and finished['downtime_ms'] == migration['downtime_ms']
    guests.assert_continues(driver, uuid, tail, 'host2')
    assert guests.defined_on(libvirt_hosts, uuid) == {'host2': 'running'}
    world = driver.describe(uuid)
    assert world['domains'] == {'host2': {'state': base.RUNNING, 'vcpus': 1,
                                          'ram_mb': 64}}
    assert world['migration']['status'] == base.MIGRATION_COMPLETED
    # What the agent checks a migration's source by: describe's migration,
    # read without the domains and disks.
    assert driver.migration_of(uuid) == world['migration']
    # A driver that did not start it (a conductor restarted) reads the same
    # from libvirt: the record travelled with the domain.
    again = make_driver().poll_migration(uuid)
    assert (again['id'], again['status']) == ('m1', base.MIGRATION_COMPLETED)
    # Nothing to cancel once it completed.
    driver.cancel_migration(uuid)
    assert driver.destroy(uuid, 'host1') is False


def test_the_destination_hears_the_guest_arrive(make_driver, libvirt_hosts,
                                                monkeypatch):
    """wait_arrival is woken by libvirt's lifecycle events of the domain,
    not by its looks: asked before the migration starts (host2 prepared,
    no domain there yet) and with the look stretched to an hour, only an
    event ends it within the minute it is given (a guard against a hang,
    far beyond the copy's seconds)."""
    from move_orchestrator.drivers.compute.libvirt import incoming
    monkeypatch.setattr(incoming, 'LOOK_AGAIN', 3600)
    driver = make_driver()
    spec = _spawn(driver)
    uuid = spec['uuid']
    disk = driver.describe_host(uuid, 'host1')['disks']['host1']
    driver.prepare_incoming(dict(spec, disk_bytes=int(disk['size_gb'] * (1 << 30))),
                            'host2')
    assert driver.conns.lifecycle.watches('host2')
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(
        driver.wait_arrival(uuid, 'host2')), daemon=True)
    waiter.start()
    # Its first look finds no domain on host2 (the copy that makes it
    # starts now and takes far longer than a look): it waits for events.
    driver.start_migration(uuid, 'host1', 'host2', migration_id='m1')
    waiter.join(60)
    assert answers, 'wait_arrival not woken by the guest\'s arrival'
    assert (answers[0]['host'], answers[0]['state']) == ('host2', base.RUNNING)
    finished = driver.wait_migration(uuid, 30)
    assert finished['status'] == base.MIGRATION_COMPLETED, finished.get('reason')
    assert driver.destroy(uuid, 'host1') is False
    assert guests.defined_on(libvirt_hosts, uuid) == {'host2': 'running'}


def test_a_daemon_that_answers_nothing_fails_the_call(make_driver,
                                                      libvirt_hosts):
    """A hung daemon (here frozen by SIGSTOP) ends a call waiting on it
    with an error once libvirt's keepalive gives up, where the call waited
    for ever; so does the next one, whose connection cannot open, and
    neither holds up another host's calls. The connection is opened again
    once the daemon answers."""
    driver = make_driver(keepalive_interval=1, keepalive_count=1)
    spec = _spawn(driver)
    uuid = spec['uuid']
    driver.conns.get('host2')
    pids = procfs.processes(libvirt_hosts[0].conf_path)
    assert pids, 'no libvirtd of host1'

    def outcome_of(host):
        outcome = []

        def call():
            try:
                outcome.append(driver.describe_host(uuid, host))
            except exception.DriverError as e:
                outcome.append(e)
        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        # A guard against the hang itself, far beyond the ~2 s keepalive.
        caller.join(60)
        assert outcome, 'the call to %s still waits' % host
        return outcome[0]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        in_call = outcome_of('host1')
        at_open = outcome_of('host1')
        with_host2 = outcome_of('host2')
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert isinstance(in_call, exception.DriverError), in_call
    assert 'keepalive' in str(in_call)
    assert isinstance(at_open, exception.DriverError), at_open
    assert 'did not answer' in str(at_open)
    assert with_host2['domains'] == {}
    again = driver.describe_host(uuid, 'host1')
    assert again['domains']['host1']['state'] == base.RUNNING


def test_unconfirmed_migration_refused_by_a_driver_started_since(
        make_driver, libvirt_hosts):
    """libvirt completed the migration and the process that started it is
    gone before complete_migration (an agent restarted): a driver without
    its job still refuses to cancel, from the mark in the destination's
    domain, until complete_migration confirms it there."""
    driver = make_driver()
    spec = _spawn(driver)
    uuid = spec['uuid']
    _migrate(driver, spec)
    migration = guests.wait_for(
        lambda: (lambda m: m['status'] != base.MIGRATION_RUNNING and m)(
            driver.poll_migration(uuid)))
    assert migration['status'] == base.MIGRATION_COMPLETED, migration.get('reason')
    driver.close()

    restarted = make_driver()
    with pytest.raises(exception.MigrationPastSwitchover):
        restarted.cancel_migration(uuid)
    assert guests.defined_on(libvirt_hosts, uuid) == {'host2': 'running'}
    restarted.complete_migration(uuid)
    restarted.complete_migration(uuid)      # confirmed already: the same
    # A later move's driver: an earlier move's migration, nothing to cancel.
    make_driver().cancel_migration(uuid)
    assert guests.defined_on(libvirt_hosts, uuid) == {'host2': 'running'}

    # A record written before the mark existed: its confirmation unknown,
    # it counts as unconfirmed.
    dom = restarted._dom(uuid, 'host2')
    _, rec = domain_xml.read(dom.XMLDesc(0))
    assert rec['confirmed'] is True
    del rec['confirmed']
    restarted._set_migration(dom, rec)
    with pytest.raises(exception.MigrationPastSwitchover):
        make_driver().cancel_migration(uuid)
    assert guests.defined_on(libvirt_hosts, uuid) == {'host2': 'running'}


def test_abort_of_a_throttled_migration(make_driver, libvirt_hosts):
    # 48 MiB at 1 MiB/s: about 48 s, unless aborted.
    driver = make_driver(max_bandwidth=1, downtime_limit_ms=20)
    spec = _spawn(driver)
    uuid = spec['uuid']
    _migrate(driver, spec)
    guests.wait_for(lambda: driver.poll_migration(uuid).get('transferred_mb', 0) > 0.5)
    running = driver.poll_migration(uuid)
    assert running['status'] == base.MIGRATION_RUNNING
    # [libvirt] downtime_limit_ms is the migration's (libvirt's default: 300).
    dom = driver.conns.get('host1').lookupByUUIDString(uuid)
    assert dom.migrateGetMaxDowntime(0) == 20
    assert 0 < running['remaining_mb'] < running['total_mb']
    seen = make_driver().poll_migration(uuid)     # from libvirt's job alone
    assert (seen['id'], seen['status']) == ('m1', base.MIGRATION_RUNNING)
    assert seen['total_mb'] > 0
    driver.cancel_migration(uuid)
    assert driver.poll_migration(uuid)['status'] == base.MIGRATION_CANCELLED
    assert guests.defined_on(libvirt_hosts, uuid) == {'host1': 'running'}
    count = guests.counters(driver, uuid, 'host1')[-1]
    guests.wait_for(lambda: guests.counters(driver, uuid, 'host1')[-1] > count)
    # Another driver (a conductor restarted) reads the same end from libvirt.
    assert make_driver().poll_migration(uuid)['status'] == base.MIGRATION_CANCELLED


def test_force_complete_by_suspending(make_driver, libvirt_hosts):
    driver = make_driver(max_bandwidth=1)
    spec = _spawn(driver)
    uuid = spec['uuid']
    _migrate(driver, spec)
    guests.wait_for(lambda: driver.poll_migration(uuid).get('transferred_mb', 0) > 0.5)
    # libvirt takes auto-converge only when a migration starts: refused.
    with pytest.raises(exception.DriverNotSupported):
        driver.tune_migration(uuid, base.TUNE_AUTO_CONVERGE,
                              {'initial': 20, 'increment': 10})
    driver.force_complete_migration(uuid)
    assert driver.poll_migration(uuid)['paused'] is True
    driver.cancel_migration(uuid)       # 48 s at 1 MiB/s: not waited for
    assert guests.defined_on(libvirt_hosts, uuid) == {'host1': 'running'}


def test_the_destination_waits_for_the_guest_on_its_way(make_driver, libvirt_hosts):
    """The conductor asks the destination's confirm_incoming together with
    the source's complete_migration: asked while the guest is on its way
    (its domain there paused, the copy going on), the destination's answer
    waits for its arrival."""
    # Shared storage: only the memory moves, about 3 s of it at 20 MiB/s
    # (a block migration's disk would take most of a minute at that pace).
    driver = make_driver(max_bandwidth=20, storage_groups={'host1': 'g', 'host2': 'g'})
    spec = _spawn(driver)
    uuid = spec['uuid']
    _migrate(driver, spec)
    guests.wait_for(lambda: guests.defined_on(libvirt_hosts, uuid).get('host2')
                    == 'paused')
    answers = []
    confirming = threading.Thread(target=lambda: answers.append(
        driver.confirm_incoming(uuid, 'host2')))
    confirming.start()
    confirming.join(0.5)
    # Before, it failed at once: the guest did not run there yet.
    assert confirming.is_alive() and answers == []
    confirming.join(60)
    assert [(a['host'], a['state']) for a in answers] == [('host2', base.RUNNING)]
    assert driver.poll_migration(uuid)['status'] == base.MIGRATION_COMPLETED
    assert driver.complete_migration(uuid)['status'] == base.MIGRATION_COMPLETED
    assert guests.defined_on(libvirt_hosts, uuid) == {'host2': 'running'}


def test_disk_copied_by_libvirt_volume_download(make_driver, libvirt_hosts):
    driver = make_driver()
    spec = dict(SPEC, uuid=str(uuid_mod.uuid4()))
    uuid = spec['uuid']
    driver.create_disk(spec, 'host1')
    guests.qemu_guests.run('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x5a 1M 1M',
                           driver.disk_path(uuid, 'host1'))
    export = driver.export_disk(uuid, 'host1')
    assert driver.export_disk(uuid, 'host1') == export       # a re-run: the same
    driver.import_disk(uuid, 'host2', export, 2)
    driver.import_disk(uuid, 'host2', export, 2)             # there already
    assert driver.unexport_disk(uuid, 'host1') is True
    assert driver.unexport_disk(uuid, 'host1') is False
    assert driver.compare_disks(uuid, 'host1', 'host2')
    assert driver.describe_host(uuid, 'host2')['disks']['host2']['size_gb'] == 2
    assert driver.delete_disk(uuid, 'host1') is True
    assert driver.delete_disk(uuid, 'host2') is True


def test_stopped_hosts_leave_nothing_behind(make_driver):
    """A daemon stopped with a domain running: its QEMU, socket, mounts
    and files all go (what the session fixture checks at its end)."""
    root = tempfile.mkdtemp(prefix='mol', dir='/tmp')
    [host] = daemons.start_hosts(root, ['host9'])
    try:
        driver = make_driver(host_uris={'host9': host.uri},
                             instances_path=os.path.join(host.root, 'inst'))
        spec = _spawn(driver, 'host9')
        assert daemons.leftovers(root)      # a daemon, a QEMU, sockets, mounts
    finally:
        killed = host.stop()
    assert len(killed) == 1, killed          # the domain's QEMU
    driver.close()
    shutil.rmtree(host.root)
    assert daemons.leftovers(root) == []     # no process, mount or file
    assert procfs.processes(spec['uuid']) == []
    os.rmdir(root)


def test_source_libvirtd_restarted_during_a_migration(make_driver, libvirt_hosts):
    """libvirt keeps the QEMUs running across a restart: the driver's end
    of the migration is where the guest then runs, never a guess from the
    call that the restart cut off."""
    groups = {'host1': 'g', 'host2': 'g'}
    driver = make_driver(max_bandwidth=8, storage_groups=groups)   # ~6 s
    spec = _spawn(driver)
    uuid = spec['uuid']
    driver.prepare_incoming(spec, 'host2')
    driver.start_migration(uuid, 'host1', 'host2', migration_id='m1')
    guests.wait_for(lambda: driver.poll_migration(uuid).get('transferred_mb', 0) > 1)

    libvirt_hosts[0].restart()
    migration = guests.wait_for(
        lambda: (lambda m: m['status'] != base.MIGRATION_RUNNING and m)(
            driver.poll_migration(uuid)), timeout=90)
    where = guests.defined_on(libvirt_hosts, uuid)
    if migration['status'] == base.MIGRATION_COMPLETED:
        assert where == {'host2': 'running'}
    else:
        assert migration['status'] in (base.MIGRATION_FAILED,
                                       base.MIGRATION_CANCELLED), migration
        assert where['host1'] == 'running' and where.get('host2') != 'running'
    print('after the restart: %s, %s' % (migration['status'], where))
