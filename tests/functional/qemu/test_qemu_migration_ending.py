"""How a live migration of the qemu driver ends other than by converging:
cancelled (before, during and after a switch-over), forced, timed out,
its disk mirror failed; real QEMU (TCG) processes.
"""

import os
import signal
import time

import pytest

from move_orchestrator.drivers import choreography
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import mirror
from move_orchestrator.drivers.compute.qemu import switchover
from move_orchestrator.drivers.compute.qemu import watcher_io
from move_orchestrator import exception

from tests.functional.qemu import domains


def test_cancel_after_an_undone_switch_over(driver):
    """The destination dies once the switch-over began (the source has sent
    everything): the switch-over's revert resumes the source, and cancelling
    the migration then finds nothing left to cancel; it used to refuse it as
    past the point of no return, so the move could only end failed."""
    spec = domains.boot(driver)
    domains.wait_for(lambda: domains.counters(driver, spec, 'h1'))
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    domains.poll_until(driver, spec, domains.CONVERGED)
    source = driver._domain(spec['uuid'], 'h1')
    with source.qmp() as q:        # switched over by the watcher
        domains.wait_for(lambda: q.execute('query-migrate')['status'] == 'completed')
    os.kill(domains.pid_of(driver, spec, 'h2'), signal.SIGKILL)
    domains.wait_for(lambda: domains.state(driver, spec, 'h2') == base.SHUTOFF)   # gone

    driver.power_on(spec['uuid'], 'h1')         # SwitchOverMigration's revert
    assert driver.cancel_migration(spec['uuid']) is True
    assert driver.cancel_migration(spec['uuid']) is False      # idempotent
    assert driver.poll_migration(spec['uuid'])['status'] == base.MIGRATION_CANCELLED
    assert domains.state(driver, spec, 'h1') == base.RUNNING
    domains.prints_again(driver, spec, 'h1')
    driver.destroy(spec['uuid'], 'h2')
    driver.delete_disk(spec['uuid'], 'h2')


def test_cancel_keeps_source_running(make_driver):
    driver = make_driver(max_bandwidth=4)     # 48 MiB at 4 MiB/s: ~12 s
    spec = domains.boot(driver)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    moving = domains.wait_for(lambda: (lambda m: m if m.get('transferred_mb', 0) > 0.5 else None)(
        driver.poll_migration(spec['uuid'])))
    assert moving['status'] == base.MIGRATION_RUNNING
    assert moving['remaining_mb'] < moving['total_mb']

    assert driver.cancel_migration(spec['uuid']) is True
    assert driver.cancel_migration(spec['uuid']) is False
    assert driver.poll_migration(spec['uuid'])['status'] == base.MIGRATION_CANCELLED
    assert domains.state(driver, spec, 'h1') == base.RUNNING
    domains.prints_again(driver, spec, 'h1')
    with pytest.raises(exception.DriverError):
        driver.complete_migration(spec['uuid'])
    driver.destroy(spec['uuid'], 'h2')
    driver.delete_disk(spec['uuid'], 'h2')


def test_force_complete_dirtying_guest_with_post_copy(make_driver):
    driver = make_driver(max_bandwidth=8, downtime_limit_ms=20, permit_post_copy=True)
    # 8 MiB rewritten all the time, sent at 8 MiB/s: never converges.
    spec = domains.boot(driver, dirty=True, fill_mb=8)
    domains.wait_for(lambda: len(domains.counters(driver, spec, 'h1')) > 5)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    stuck = domains.wait_for(lambda: (lambda m: m if m['dirty_pages_rate'] > 0 else None)(
        driver.poll_migration(spec['uuid'])))
    time.sleep(0.5)
    stuck = driver.poll_migration(spec['uuid'])
    assert stuck['status'] == base.MIGRATION_RUNNING    # cannot converge

    driver.force_complete_migration(spec['uuid'])
    assert driver.poll_migration(spec['uuid'])['status'] in domains.CONVERGED
    try:
        driver.force_complete_migration(spec['uuid'])   # a re-run: nothing to do
    except exception.MigrationNotRunning:
        # Unless the switch-over went on and the migration ended meanwhile.
        assert driver.poll_migration(spec['uuid'])['status'] == \
            base.MIGRATION_COMPLETED
    driver.complete_migration(spec['uuid'])
    with pytest.raises(exception.MigrationNotRunning, match='completed'):
        driver.force_complete_migration(spec['uuid'])   # ended: nothing to force
    assert domains.state(driver, spec, 'h2') == base.RUNNING
    last_on_source = domains.counters(driver, spec, 'h1')[-1]
    first = domains.wait_for(lambda: domains.counters(driver, spec, 'h2')[:3])[0]
    assert last_on_source < first <= last_on_source + 2
    domains.wait_for(lambda: domains.counters(driver, spec, 'h2')[-1] > first + 5)


@pytest.mark.parametrize('action', ['abort', 'force_complete'])
def test_completion_timeout(make_driver, action):
    # 64 MiB, shared storage: a timeout of 1 s per GiB is 1 s.
    driver = make_driver(max_bandwidth=4, completion_timeout_per_gib=1,
                         completion_timeout_action=action,
                         storage_groups={'h1': 'g', 'h2': 'g'})
    spec = domains.boot(driver, dirty=True, fill_mb=8)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    assert driver.poll_migration(spec['uuid'])['status'] == base.MIGRATION_RUNNING
    expected = {'abort': (base.MIGRATION_CANCELLED,), 'force_complete': domains.CONVERGED}
    domains.poll_until(driver, spec, expected[action], timeout=30)
    if action == 'abort':
        assert domains.state(driver, spec, 'h1') == base.RUNNING
    else:
        driver.complete_migration(spec['uuid'])
        assert domains.state(driver, spec, 'h2') == base.RUNNING


def test_cancel_that_wins_the_switch_over_lock(driver):
    """Converged, but the cancel holds the migration's lock first: the
    watcher waits for it, then finds the migration cancelled and leaves the
    source running; a new attempt then completes by itself."""
    spec = domains.boot(driver)
    domains.wait_for(lambda: domains.counters(driver, spec, 'h1'))
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    with switchover.locked(driver._record_path(spec['uuid'], 'h1')):
        driver.start_migration(spec['uuid'], 'h1', 'h2')
        domains.poll_until(driver, spec, (base.MIGRATION_READY,))
        assert domains.state(driver, spec, 'h1') == base.PAUSED
        assert driver._cancel_locked(spec['uuid']) is True
    assert domains.state(driver, spec, 'h1') == base.RUNNING
    domains.prints_again(driver, spec, 'h1')
    # The destination gave up; preparing it again allows a new attempt.
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    domains.poll_until(driver, spec, domains.CONVERGED)
    driver.complete_migration(spec['uuid'])
    assert domains.state(driver, spec, 'h2') == base.RUNNING
    # Too late now: refused, typed.
    with pytest.raises(exception.MigrationPastSwitchover):
        driver.cancel_migration(spec['uuid'])


def test_a_failed_disk_mirror_fails_the_migration(make_driver):
    driver = make_driver(max_bandwidth=4)
    spec = domains.boot(driver)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    domains.wait_for(lambda: driver.poll_migration(spec['uuid'])['transferred_mb'] > 0.5)
    # The mirror dies under the memory copy (as when the NBD export fails).
    with driver._domain(spec['uuid'], 'h1').qmp() as q:
        job = q.execute('query-block-jobs')[0]['device']
        q.execute('block-job-cancel', device=job, force=True)
    domains.wait_for(lambda: driver.poll_migration(spec['uuid'])['status'] == base.MIGRATION_FAILED)
    assert domains.state(driver, spec, 'h1') == base.RUNNING
    with pytest.raises(exception.DriverError):
        driver.complete_migration(spec['uuid'])


def test_a_describe_before_the_mirror_starts_does_not_fail_it(make_driver, monkeypatch):
    """A start that ended between the migration's record and its
    drive-mirror (its process died, say): a describe then (another
    process's) finds no job yet, which is not a failed mirror; the start
    run again mirrors the disk and migrates."""
    driver = make_driver()
    spec = domains.boot(driver)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')

    def ended(*args, **kwargs):
        raise exception.DriverError(operation='drive-mirror', reason='ended here')
    with monkeypatch.context() as m:
        m.setattr(mirror, 'start', ended)
        with pytest.raises(exception.DriverError, match='ended here'):
            driver.start_migration(spec['uuid'], 'h1', 'h2')
    assert driver.describe(spec['uuid'])['migration']['status'] == base.MIGRATION_RUNNING
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    domains.poll_until(driver, spec, domains.CONVERGED)
    driver.complete_migration(spec['uuid'])
    assert domains.state(driver, spec, 'h2') == base.RUNNING
    assert driver.compare_disks(spec['uuid'], 'h1', 'h2')


def _at_pre_switchover_unwatched(driver, spec):
    """A migration held at pre-switchover with its watcher killed before
    (nothing continues it); the watcher's monitor is then free."""
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    rec = driver._record(spec['uuid'])
    os.kill(rec['watcher'], signal.SIGKILL)
    source = driver._domain(spec['uuid'], 'h1')
    with source.qmp() as q:
        domains.wait_for(lambda: q.execute('query-migrate').get('status')
                         == 'pre-switchover')
    return rec, source


class _Recording(watcher_io.Monitor):
    """The watcher's monitor, and the commands sent on it."""

    def __init__(self, *args, **kwargs):
        self.sent = []
        super().__init__(*args, **kwargs)

    def execute(self, command, **arguments):
        self.sent.append(command)
        return super().execute(command, **arguments)


@pytest.mark.parametrize('left_it', [False, True])
def test_a_switch_over_told_by_qemu_continues_at_once(make_driver, left_it):
    """The watcher, told by QEMU's event, continues without asking first;
    a migration that left pre-switchover since (cancelled inside QEMU, not
    through the driver) is asked, and not taken for switched over."""
    # Shared storage: the told path is the memory's (a mirror is asked).
    driver = make_driver(max_bandwidth=64, storage_groups={'h1': 'g', 'h2': 'g'})
    spec = domains.boot(driver)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    rec, source = _at_pre_switchover_unwatched(driver, spec)
    path = driver._record_path(spec['uuid'], 'h1')
    if left_it:
        with source.qmp() as q:
            q.execute('migrate_cancel')
            domains.wait_for(lambda: q.execute('query-migrate')['status'] == 'cancelled')
    q = _Recording(source.switchover_path, timeout=10)
    try:
        done = switchover.switch_over(q, path, rec['id'], time.monotonic() + 10,
                                      told=True)
    finally:
        q.close()
    assert q.sent == ['qmp_capabilities', 'migrate-continue'] + (
        ['query-migrate'] if left_it else [])
    assert done is not left_it
    assert bool(watcher_io.read_json(path).get('continued')) is not left_it
    with source.qmp() as q:
        status = q.execute('query-migrate')['status']
    assert status == ('cancelled' if left_it else 'completed') or \
        (not left_it and status == 'device')
    if not left_it:
        driver.complete_migration(spec['uuid'])
        done = choreography.confirm_arrival(driver, spec['uuid'], 'h2',
                                            driver.poll_migration(spec['uuid']))
        assert done['status'] == base.MIGRATION_COMPLETED
        driver.destroy(spec['uuid'], 'h1')
    else:
        assert domains.state(driver, spec, 'h1') == base.RUNNING
