"""A live migration's destination accepts it and confirms it (qemu driver).

The source gets only what accept_migration answered (a TCP address for the
stream, an NBD URI for the disk mirror) and reaches nothing of the
destination's files: the source's record says so, and the destination's
arrival watcher sees the guest arrive without the source or a conductor.
"""

import logging
import os
import signal
import sys

import pytest

from move_orchestrator.drivers import choreography
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import arrival
from move_orchestrator.drivers.compute.qemu import destination
from move_orchestrator.drivers.compute.qemu import mirror
from move_orchestrator.drivers.compute.qemu import paused
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import watcher_io
from move_orchestrator.drivers.compute.qemu import waiting
from move_orchestrator.drivers.compute.qemu import watchers
from move_orchestrator import exception
from tests.functional.qemu import domains

wait_for = domains.wait_for


def _accept(driver, spec, source='h1', dest='h2'):
    incoming = choreography.accept_incoming(driver, spec, source, dest)
    assert choreography.accept_incoming(driver, spec, source, dest) == incoming
    assert domains.state(driver, spec, dest) == base.INCOMING
    return incoming


@pytest.mark.parametrize('shared', [False, True], ids=['local-storage', 'shared-storage'])
def test_accepted_migration_arrives_and_is_confirmed(make_driver, shared):
    driver = make_driver(storage_groups={'h1': 'g', 'h2': 'g'} if shared else {})
    spec = domains.boot(driver)
    wait_for(lambda: len(domains.counters(driver, spec, 'h1')) > 10)
    incoming = _accept(driver, spec)
    assert incoming['host'] == 'h2' and incoming['uri'].startswith('tcp:')
    # A disk that is not shared is mirrored into an export on the network.
    assert (incoming['nbd'] or '').startswith('nbd://') is not shared

    driver.start_migration(spec['uuid'], 'h1', 'h2', migration_id='m1',
                           incoming=incoming)
    domains.poll_until(driver, spec, domains.CONVERGED)
    # The destination's own watcher saw it arrive and run.
    dest_dir = os.path.join(driver.root, 'h2', spec['uuid'])
    wait_for(lambda: os.path.exists(os.path.join(dest_dir, arrival.ARRIVAL)))
    driver.complete_migration(spec['uuid'])
    migration = driver.poll_migration(spec['uuid'])
    assert migration['status'] == base.MIGRATION_COMPLETED
    # Kept on the source's side; the destination has no migration record.
    assert os.path.exists(os.path.join(driver.root, 'h1', '_migrations',
                                       spec['uuid'] + '.json'))
    assert not os.path.exists(os.path.join(driver.root, 'h2', '_migrations'))

    done = choreography.confirm_arrival(driver, spec['uuid'], 'h2', migration)
    assert done['guest_pause_ms'] > 0
    again = driver.confirm_incoming(spec['uuid'], 'h2')          # idempotent
    assert again['state'] == base.RUNNING
    # The image is the guest's alone again (a mirrored disk's export, still
    # there as the guest started, used to leave others free to write it).
    shares, exports = domains.guest_disk(driver, spec, 'h2')
    assert 'write' not in shares and exports == []
    assert driver._domain(spec['uuid'], 'h2').last_said() is None   # no conflict
    assert not os.path.exists(os.path.join(dest_dir, arrival.STATE))
    if not shared:
        assert driver.compare_disks(spec['uuid'], 'h1', 'h2')
    last = domains.counters(driver, spec, 'h1')[-1]
    on_dest = wait_for(lambda: domains.counters(driver, spec, 'h2')[:5])
    assert last < on_dest[0] <= last + 2
    assert driver.destroy(spec['uuid'], 'h1') is True
    assert driver.list_domains() == [(spec['uuid'], 'h2', base.RUNNING)]


def test_a_cancelled_accepted_migration_leaves_the_source_running(make_driver):
    # Slow enough to cancel. Cancelled while the disk mirror ran, the
    # memory's stream never reached the destination: it waits for the guest
    # until operation_timeout.
    driver = make_driver(max_bandwidth=1, operation_timeout=5.0)
    spec = domains.boot(driver)
    incoming = _accept(driver, spec)
    driver.start_migration(spec['uuid'], 'h1', 'h2', migration_id='m1',
                           incoming=incoming)
    assert driver.cancel_migration(spec['uuid']) is True
    assert driver.poll_migration(spec['uuid'])['status'] == base.MIGRATION_CANCELLED
    with pytest.raises(exception.MigrationFailed, match='did not arrive'):
        driver.confirm_incoming(spec['uuid'], 'h2')
    choreography.undo_prepare_incoming(driver, spec['uuid'], 'h1', 'h2')
    assert driver.list_domains() == [(spec['uuid'], 'h1', base.RUNNING)]
    domains.prints_again(driver, spec, 'h1')


def _spy_on_qmp(monkeypatch):
    """Every QMP connection and command of this process, as (monitor's
    socket, command, sent by paused.hold); each is still made."""
    sent = []
    hold = paused.hold.__code__

    def in_hold():
        frame = sys._getframe(2)
        while frame is not None and frame.f_code is not hold:
            frame = frame.f_back
        return frame is not None

    connect, execute = qmp.QMPClient.connect, qmp.QMPClient.execute

    def connecting(self):
        sent.append((self.path, 'connect', in_hold()))
        return connect(self)

    def executing(self, command, **arguments):
        sent.append((self.path, command, in_hold()))
        return execute(self, command, **arguments)

    monkeypatch.setattr(qmp.QMPClient, 'connect', connecting)
    monkeypatch.setattr(qmp.QMPClient, 'execute', executing)
    return sent


def _wait_converged(driver, spec, caplog):
    """The first wait that answers the migration converged, and what its
    log said (the hold's last line: why it returned)."""
    def converged():
        caplog.clear()
        found = driver.wait_migration(spec['uuid'], 5)
        return found if found['status'] != base.MIGRATION_RUNNING else None

    found = wait_for(converged, timeout=120)
    return found, [r.getMessage() for r in caplog.records
                   if r.name == waiting.__name__]


def test_the_wait_that_sees_the_switch_over_returns_once_the_guest_runs(
        make_driver, caplog, monkeypatch):
    # A wait that returned while the guest runs nowhere (the source
    # switched over, the destination still loading) would let a conductor
    # work meanwhile, on the destination's CPU: the first wait that sees the
    # switch-over, at pre-switchover or later, holds until the RESUME. Its
    # log line says why it returned. The hold itself asks QEMU nothing: a
    # command on the source waits its turn with the watcher's
    # migrate-continue, one on the loading destination shares its main
    # loop with the load; it follows QEMU's events and the arrival
    # watcher's record.
    caplog.set_level(logging.DEBUG, logger=waiting.__name__)
    driver = make_driver()
    spec = domains.boot(driver)
    wait_for(lambda: len(domains.counters(driver, spec, 'h1')) > 10)
    incoming = _accept(driver, spec)
    driver.start_migration(spec['uuid'], 'h1', 'h2', migration_id='m1',
                           incoming=incoming)
    with monkeypatch.context() as spying:
        sent = _spy_on_qmp(spying)
        found, why = _wait_converged(driver, spec, caplog)
    assert found['status'] in domains.CONVERGED, (found, why)
    assert found['qemu_status'] == 'completed', (found, why)
    assert why and why[-1].endswith(paused.RECORDED), why
    assert domains.state(driver, spec, 'h2') == base.RUNNING
    destination = driver._domain(spec['uuid'], 'h2').qmp_path
    assert sent and not [s for s in sent if s[2] or s[0] == destination], sent
    driver.complete_migration(spec['uuid'])
    choreography.confirm_arrival(driver, spec['uuid'], 'h2',
                                 driver.poll_migration(spec['uuid']))
    assert driver.destroy(spec['uuid'], 'h1') is True


def _arrival_watcher(driver, spec, host):
    """The pid of the arrival watcher of the instance's domain on host: the
    process whose standard error is that domain's arrival.log (a spare's
    fork, so its command line does not tell)."""
    log = driver._domain(spec['uuid'], host).path('arrival.log')
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            if os.readlink('/proc/%s/fd/2' % pid) == log:
                return int(pid)
        except OSError:
            continue
    raise AssertionError('no arrival watcher runs for %s' % host)


def test_a_silent_arrival_watcher_is_waited_for_a_while_then_the_destination_asked(
        make_driver, caplog):
    # The hold follows the destination by its arrival watcher's record; a
    # watcher that stays silent (stopped here) holds the wait for
    # ARRIVAL_BOUND only, then the destination's own monitor says the guest
    # runs. The migration completes all the same, without the watcher's
    # figures.
    caplog.set_level(logging.DEBUG, logger=waiting.__name__)
    driver = make_driver()
    spec = domains.boot(driver)
    wait_for(lambda: len(domains.counters(driver, spec, 'h1')) > 10)
    incoming = _accept(driver, spec)
    watcher = _arrival_watcher(driver, spec, 'h2')
    os.kill(watcher, signal.SIGSTOP)
    try:
        driver.start_migration(spec['uuid'], 'h1', 'h2', migration_id='m1',
                               incoming=incoming)
        found, why = _wait_converged(driver, spec, caplog)
        assert found['qemu_status'] == 'completed', (found, why)
        assert why and why[-1].endswith(paused.RUNS), why
        assert domains.state(driver, spec, 'h2') == base.RUNNING
        driver.complete_migration(spec['uuid'])
        arrived = choreography.confirm_arrival(
            driver, spec['uuid'], 'h2', driver.poll_migration(spec['uuid']))
        assert arrived['status'] == base.MIGRATION_COMPLETED
    finally:
        os.kill(watcher, signal.SIGKILL)
    assert not os.path.exists(os.path.join(
        driver._domain(spec['uuid'], 'h2').dir, arrival.STATE))
    assert driver.destroy(spec['uuid'], 'h1') is True
    assert driver.list_domains() == [(spec['uuid'], 'h2', base.RUNNING)]


def test_an_export_the_other_side_ended_meanwhile_is_ended(make_driver):
    # The arrival watcher and the destination's confirmation both end a
    # mirrored disk's export before they run its held guest; the one that
    # looks second may find it gone by the time it stops it (seen: the
    # confirmation failed the switch-over with "NBD server not running").
    driver = make_driver()
    spec = domains.boot(driver)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    dom = driver._domain(spec['uuid'], 'h2')
    with dom.qmp() as mine:
        mirror.export_disk(mine, dom)
        theirs = watcher_io.Monitor(dom.switchover_path, timeout=5)
        try:
            class StoppedByTheOtherFirst:
                """This side's session; the other stops the export between
                this side's look and its stop."""
                def execute(self, command, **arguments):
                    if command == 'nbd-server-stop':
                        theirs.execute('nbd-server-stop')
                    return mine.execute(command, **arguments)

            assert destination.end_export(StoppedByTheOtherFirst()) is True
            assert mine.execute('query-block-exports') == []
            assert destination.end_export(mine) is False     # none left
        finally:
            theirs.close()


def test_what_the_destinations_qemu_said_is_kept_and_told(make_driver):
    # Each domain's QEMU writes its own errors to the host's _logs/<uuid>.log,
    # kept after the domain is gone; a destination that could not load the
    # stream (its RAM is not the source's here) says why, and the
    # confirmation tells it.
    driver = make_driver(storage_groups={'h1': 'g', 'h2': 'g'})
    spec = domains.boot(driver)
    wait_for(lambda: domains.counters(driver, spec, 'h1'))
    other = dict(spec, ram_mb=2 * spec['ram_mb'], topology=None)
    incoming = driver.accept_migration(other, 'h2', 'h1')
    driver.start_migration(spec['uuid'], 'h1', 'h2', migration_id='m1',
                           incoming=incoming)
    failed = domains.poll_until(driver, spec, (base.MIGRATION_FAILED,))
    assert failed['status'] == base.MIGRATION_FAILED
    dest = driver._domain(spec['uuid'], 'h2')
    wait_for(lambda: dest.pid() is None)
    with pytest.raises(exception.MigrationFailed,
                       match=r'no domain runs on h2 \(QEMU: .*load of migration failed'):
        driver.confirm_incoming(spec['uuid'], 'h2')
    driver.destroy(spec['uuid'], 'h2')
    with open(dest.log_path) as f:
        assert 'load of migration failed' in f.read()
    # The source runs on; its own log says only that the stream was cut.
    domains.prints_again(driver, spec, 'h1')
    assert 'socket' in driver._domain(spec['uuid'], 'h1').last_said()


def test_a_qemu_that_cannot_start_says_why(make_driver):
    driver = make_driver()
    spec = domains.boot(driver)
    driver.destroy(spec['uuid'], 'h1')
    with open(driver.disk_path(spec['uuid'], 'h1'), 'r+b') as f:
        f.write(b'not a qcow2 image')
    with pytest.raises(exception.DriverError, match='did not start: .*qcow2'):
        driver.spawn(spec, 'h1')


def test_an_accept_that_died_before_writing_its_answer_is_answered_again(make_driver):
    # A conductor (or agent) that dies after the destination listens and
    # before the answer is written down: asked again, the destination
    # answers the port its QEMU listens on, keeps the one arrival watcher
    # it has, and the migration arrives.
    driver = make_driver()
    spec = domains.boot(driver)
    wait_for(lambda: len(domains.counters(driver, spec, 'h1')) > 10)
    first = choreography.accept_incoming(driver, spec, 'h1', 'h2')
    dom = driver._domain(spec['uuid'], 'h2')
    watcher = _arrival_watcher(driver, spec, 'h2')
    state = watcher_io.read_json(dom.path(arrival.STATE))
    del state['answer'], state['watcher']
    watcher_io.write_json(dom.path(arrival.STATE), state)

    again = choreography.accept_incoming(driver, spec, 'h1', 'h2')
    assert again == first
    assert watcher_io.read_json(dom.path(arrival.STATE))['watcher'] == watcher
    assert _arrival_watcher(driver, spec, 'h2') == watcher
    driver.start_migration(spec['uuid'], 'h1', 'h2', migration_id='m1',
                           incoming=again)
    domains.poll_until(driver, spec, domains.CONVERGED)
    driver.complete_migration(spec['uuid'])
    done = choreography.confirm_arrival(driver, spec['uuid'], 'h2',
                                        driver.poll_migration(spec['uuid']))
    assert done['status'] == base.MIGRATION_COMPLETED and done['guest_pause_ms'] > 0
    assert driver.destroy(spec['uuid'], 'h1') is True
    assert driver.list_domains() == [(spec['uuid'], 'h2', base.RUNNING)]


def test_a_start_that_died_before_writing_its_watcher_down_keeps_that_watcher(
        make_driver):
    # The switch-over watcher's pid is written down with the copy's start;
    # a start_migration that dies before (its copy started regardless),
    # run again, finds the watcher by its log and keeps it: one more would
    # wait for the source's second monitor until the first one ends.
    # 48 MiB of data at 8 MiB/s: in progress all along, once the guest has
    # filled its RAM (it prints after: one still booting on a loaded host
    # had only zero pages, and the copy completed at once).
    driver = make_driver(storage_groups={'h1': 'g', 'h2': 'g'}, max_bandwidth=8)
    spec = domains.boot(driver)
    domains.wait_for(lambda: domains.counters(driver, spec, 'h1'))
    incoming = choreography.accept_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2', migration_id='m1',
                           incoming=incoming)
    path = driver._record_path(spec['uuid'], 'h1')
    rec = watcher_io.read_json(path)
    watcher = rec.pop('watcher')
    rec['migrate_started'] = False
    watcher_io.write_json(path, rec)

    again = driver.start_migration(spec['uuid'], 'h1', 'h2', migration_id='m1',
                                   incoming=incoming)
    assert again['status'] == base.MIGRATION_RUNNING, again
    rec = watcher_io.read_json(path)
    assert rec['watcher'] == watcher and rec['migrate_started'] is True, rec
    assert watchers.switchover_watcher(path) == watcher
    driver.cancel_migration(spec['uuid'])
    choreography.undo_prepare_incoming(driver, spec['uuid'], 'h1', 'h2')
    assert driver.list_domains() == [(spec['uuid'], 'h1', base.RUNNING)]
