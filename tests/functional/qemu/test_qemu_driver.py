"""The qemu compute driver against real QEMU (TCG) processes.

Guests are 64 MiB, 48 MiB of it filled with data, so migrations move real
pages; the guest prints a counter on its serial port every 5 ms, which
proves that the destination continues where the source stopped.
"""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from move_orchestrator.drivers import choreography
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import switchover
from move_orchestrator import exception

from tests import waiting

RAM_MB = 64
FILL_MB = 48


def make_spec(**extra):
    spec = {'uuid': str(uuid.uuid4()), 'name': 'vm', 'vcpus': 1, 'ram_mb': RAM_MB,
            'disk_gb': 1, 'image': 'test-image', 'fill_mb': FILL_MB}
    spec.update(extra)
    return spec


def boot(driver, host='h1', **extra):
    spec = make_spec(**extra)
    driver.create_disk(spec, host)
    driver.spawn(spec, host)
    return spec


def counters(driver, spec, host):
    """Complete counter lines of the domain's serial log, as ints."""
    path = os.path.join(driver.root, host, spec['uuid'], 'serial.log')
    with open(path) as f:
        text = f.read()
    lines = text.split('\n')[:-1]     # the last one may be partial
    return [int(line, 16) for line in lines if len(line) == 8]


wait_for = waiting.wait_for


def poll_until(driver, spec, statuses, timeout=60.0):
    return wait_for(lambda: (lambda m: m if m['status'] in statuses else None)(
        driver.poll_migration(spec['uuid'])), timeout=timeout, interval=0.01)


def state(driver, spec, host):
    return driver.describe(spec['uuid'])['domains'].get(host, {}).get('state')


def pid_of(driver, spec, host):
    with open(os.path.join(driver.root, host, spec['uuid'], 'pid')) as f:
        return int(f.read())


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def test_spawn_power_destroy(driver):
    spec = boot(driver)
    assert state(driver, spec, 'h1') == base.RUNNING
    wait_for(lambda: len(counters(driver, spec, 'h1')) > 3)
    driver.spawn(spec, 'h1')                            # idempotent
    assert driver.list_domains() == [(spec['uuid'], 'h1', base.RUNNING)]
    pid = pid_of(driver, spec, 'h1')

    driver.power_off(spec['uuid'], 'h1')
    assert not alive(pid)
    assert state(driver, spec, 'h1') == base.SHUTOFF
    driver.power_off(spec['uuid'], 'h1')                # no-op
    driver.power_on(spec['uuid'], 'h1')
    assert state(driver, spec, 'h1') == base.RUNNING
    driver.power_on(spec['uuid'], 'h1')                 # no-op

    pid = pid_of(driver, spec, 'h1')
    assert driver.destroy(spec['uuid'], 'h1') is True
    assert not alive(pid)
    assert driver.destroy(spec['uuid'], 'h1') is False
    assert driver.list_domains() == []
    assert driver.list_disks() == [(spec['uuid'], 'h1')]
    with pytest.raises(exception.DriverError):
        driver.power_on(spec['uuid'], 'h1')
    assert driver.delete_disk(spec['uuid'], 'h1') is True
    assert driver.delete_disk(spec['uuid'], 'h1') is False
    with pytest.raises(exception.DriverError):
        driver.spawn(spec, 'h1')                        # no disk


CONVERGED = (base.MIGRATION_READY, base.MIGRATION_COMPLETED)


def _migrate(driver, spec, source='h1', dest='h2'):
    choreography.prepare_incoming(driver, spec, source, dest)
    choreography.prepare_incoming(driver, spec, source, dest)   # idempotent
    assert state(driver, spec, dest) == base.INCOMING
    driver.start_migration(spec['uuid'], source, dest)
    driver.start_migration(spec['uuid'], source, dest)  # idempotent
    # Converged, then switched over by the watcher without being asked.
    ready = poll_until(driver, spec, CONVERGED)
    assert ready['source'] == source and ready['dest'] == dest
    wait_for(lambda: state(driver, spec, dest) == base.RUNNING)
    assert state(driver, spec, source) == base.PAUSED
    driver.complete_migration(spec['uuid'])             # records it
    driver.complete_migration(spec['uuid'])             # idempotent
    done = driver.poll_migration(spec['uuid'])
    assert done['status'] == base.MIGRATION_COMPLETED
    # QEMU's own figures are kept: the filled RAM was sent, the guest paused;
    # and the pause as QEMU's events (STOP, RESUME) tell it.
    assert done['transferred_mb'] >= FILL_MB
    assert 0 <= done['downtime_ms'] <= done['total_time_ms']
    assert done['guest_pause_ms'] > 0 and done['switchover_wait_ms'] >= 0


@pytest.mark.parametrize('shared', [False, True], ids=['local-storage', 'shared-storage'])
def test_live_migration_continues_counter(make_driver, shared):
    driver = make_driver(storage_groups={'h1': 'g', 'h2': 'g'} if shared else {})
    spec = boot(driver)
    wait_for(lambda: len(counters(driver, spec, 'h1')) > 10)
    src_pid = pid_of(driver, spec, 'h1')
    _migrate(driver, spec)

    described = driver.describe(spec['uuid'])
    assert described['domains']['h1']['state'] == base.PAUSED    # kept for a revert
    assert described['domains']['h2']['state'] == base.RUNNING
    assert described['migration']['status'] == base.MIGRATION_COMPLETED
    last_on_source = counters(driver, spec, 'h1')[-1]
    on_dest = wait_for(lambda: counters(driver, spec, 'h2')[:5])
    # The partial line the source was printing when paused is finished on
    # the destination, so its first complete line is the next one or the
    # one after.
    assert last_on_source < on_dest[0] <= last_on_source + 2
    assert on_dest == list(range(on_dest[0], on_dest[0] + len(on_dest)))
    if not shared:
        assert driver.compare_disks(spec['uuid'], 'h1', 'h2')

    assert driver.destroy(spec['uuid'], 'h1') is True
    assert not alive(src_pid)
    assert driver.list_domains() == [(spec['uuid'], 'h2', base.RUNNING)]
    if shared:
        # The destination still uses the one shared disk.
        assert driver.delete_disk(spec['uuid'], 'h1') is False
    else:
        assert driver.delete_disk(spec['uuid'], 'h1') is True
    count = counters(driver, spec, 'h2')[-1]
    wait_for(lambda: counters(driver, spec, 'h2')[-1] > count)


def test_revert_after_switch_over_resumes_source(driver):
    spec = boot(driver)
    wait_for(lambda: counters(driver, spec, 'h1'))
    _migrate(driver, spec)
    # Before the PONR a revert destroys the destination and resumes the source.
    driver.destroy(spec['uuid'], 'h2')
    driver.power_on(spec['uuid'], 'h1')
    assert state(driver, spec, 'h1') == base.RUNNING
    count = counters(driver, spec, 'h1')[-1]
    wait_for(lambda: counters(driver, spec, 'h1')[-1] > count)


def test_wait_migration_wakes_on_qemu_events(driver):
    """A wait ends when QEMU says the migration moved on, not at its timeout:
    with a timeout of minutes, the migration still reaches its switch-over
    point within a few waits, each answered by an event."""
    spec = boot(driver)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    seen = []

    def follow():
        migration = driver.poll_migration(spec['uuid'])
        while migration['status'] == base.MIGRATION_RUNNING and len(seen) < 10:
            migration = driver.wait_migration(spec['uuid'], 300)
            seen.append(migration['status'])

    waiter = threading.Thread(target=follow, daemon=True)
    waiter.start()
    waiter.join(60)
    assert not waiter.is_alive(), 'wait_migration sat out its timeout: %s' % seen
    assert seen and seen[-1] in CONVERGED, seen
    driver.complete_migration(spec['uuid'])
    # Nothing to wait for once it is over: the answer comes at once.
    assert driver.wait_migration(spec['uuid'], 0.01)['status'] == base.MIGRATION_COMPLETED


def test_cancel_after_an_undone_switch_over(driver):
    """The destination dies once the switch-over began (the source has sent
    everything): the switch-over's revert resumes the source, and cancelling
    the migration then finds nothing left to cancel; it used to refuse it as
    past the point of no return, so the move could only end failed."""
    spec = boot(driver)
    wait_for(lambda: counters(driver, spec, 'h1'))
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    poll_until(driver, spec, CONVERGED)
    source = driver._domain(spec['uuid'], 'h1')
    with source.qmp() as q:        # switched over by the watcher
        wait_for(lambda: q.execute('query-migrate')['status'] == 'completed')
    os.kill(pid_of(driver, spec, 'h2'), signal.SIGKILL)
    wait_for(lambda: state(driver, spec, 'h2') == base.SHUTOFF)   # gone

    driver.power_on(spec['uuid'], 'h1')         # SwitchOverMigration's revert
    assert driver.cancel_migration(spec['uuid']) is True
    assert driver.cancel_migration(spec['uuid']) is False      # idempotent
    assert driver.poll_migration(spec['uuid'])['status'] == base.MIGRATION_CANCELLED
    assert state(driver, spec, 'h1') == base.RUNNING
    count = counters(driver, spec, 'h1')[-1]
    wait_for(lambda: counters(driver, spec, 'h1')[-1] > count)
    driver.destroy(spec['uuid'], 'h2')
    driver.delete_disk(spec['uuid'], 'h2')


def test_cancel_keeps_source_running(make_driver):
    driver = make_driver(max_bandwidth=4)     # 48 MiB at 4 MiB/s: ~12 s
    spec = boot(driver)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    moving = wait_for(lambda: (lambda m: m if m.get('transferred_mb', 0) > 0.5 else None)(
        driver.poll_migration(spec['uuid'])))
    assert moving['status'] == base.MIGRATION_RUNNING
    assert moving['remaining_mb'] < moving['total_mb']

    assert driver.cancel_migration(spec['uuid']) is True
    assert driver.cancel_migration(spec['uuid']) is False
    assert driver.poll_migration(spec['uuid'])['status'] == base.MIGRATION_CANCELLED
    assert state(driver, spec, 'h1') == base.RUNNING
    count = counters(driver, spec, 'h1')[-1]
    wait_for(lambda: counters(driver, spec, 'h1')[-1] > count)
    with pytest.raises(exception.DriverError):
        driver.complete_migration(spec['uuid'])
    driver.destroy(spec['uuid'], 'h2')
    driver.delete_disk(spec['uuid'], 'h2')


def test_force_complete_dirtying_guest_with_post_copy(make_driver):
    driver = make_driver(max_bandwidth=8, downtime_limit_ms=20, permit_post_copy=True)
    # 8 MiB rewritten all the time, sent at 8 MiB/s: never converges.
    spec = boot(driver, dirty=True, fill_mb=8)
    wait_for(lambda: len(counters(driver, spec, 'h1')) > 5)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    stuck = wait_for(lambda: (lambda m: m if m['dirty_pages_rate'] > 0 else None)(
        driver.poll_migration(spec['uuid'])))
    time.sleep(0.5)
    stuck = driver.poll_migration(spec['uuid'])
    assert stuck['status'] == base.MIGRATION_RUNNING    # cannot converge

    driver.force_complete_migration(spec['uuid'])
    assert driver.poll_migration(spec['uuid'])['status'] in CONVERGED
    driver.force_complete_migration(spec['uuid'])       # already done
    driver.complete_migration(spec['uuid'])
    assert state(driver, spec, 'h2') == base.RUNNING
    last_on_source = counters(driver, spec, 'h1')[-1]
    first = wait_for(lambda: counters(driver, spec, 'h2')[:3])[0]
    assert last_on_source < first <= last_on_source + 2
    wait_for(lambda: counters(driver, spec, 'h2')[-1] > first + 5)


CLIENT = textwrap.dedent('''
    import sys
    from oslo_config import cfg
    from move_orchestrator import conf as mo_conf
    from move_orchestrator.drivers.compute import qemu
    conf = cfg.ConfigOpts()
    mo_conf.register_all(conf)
    conf([], default_config_files=[])
    conf.set_override('instances_path', sys.argv[1], 'qemu')
    conf.set_override('max_bandwidth', 2, 'qemu')
    conf.set_override('storage_groups', {'h1': 'g', 'h2': 'g'}, 'qemu')
    driver = qemu.QemuDriver(conf)
    driver.start_migration(sys.argv[2], 'h1', 'h2')
    while driver.poll_migration(sys.argv[2])['transferred_mb'] < 1:
        pass
    print('started', flush=True)
    while True:
        driver.poll_migration(sys.argv[2])
''')


def test_describe_tells_the_truth_after_the_client_is_killed(make_driver):
    driver = make_driver(storage_groups={'h1': 'g', 'h2': 'g'})
    spec = boot(driver)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    client = subprocess.Popen([sys.executable, '-c', CLIENT, driver.root, spec['uuid']],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == 'started'
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait()
        client.stdout.close()

    # A new conductor (driver) sees the migration QEMU is still doing.
    world = driver.describe(spec['uuid'])
    assert world['migration']['status'] == base.MIGRATION_RUNNING
    assert (world['migration']['source'], world['migration']['dest']) == ('h1', 'h2')
    assert world['migration']['remaining_mb'] < world['migration']['total_mb']
    assert world['domains']['h1']['state'] == base.RUNNING
    assert world['domains']['h2']['state'] == base.INCOMING

    # The source QEMU dies: the migration failed, the source is off, and
    # the destination, with nobody to migrate from, is not running.
    os.kill(pid_of(driver, spec, 'h1'), signal.SIGKILL)
    wait_for(lambda: state(driver, spec, 'h1') == base.SHUTOFF)
    world = driver.describe(spec['uuid'])
    assert world['migration']['status'] == base.MIGRATION_FAILED
    wait_for(lambda: state(driver, spec, 'h2') != base.INCOMING
             or driver.destroy(spec['uuid'], 'h2'))
    assert driver.poll_migration(spec['uuid'])['status'] == base.MIGRATION_FAILED


@pytest.mark.parametrize('action', ['abort', 'force_complete'])
def test_completion_timeout(make_driver, action):
    # 64 MiB, shared storage: a timeout of 1 s per GiB is 1 s.
    driver = make_driver(max_bandwidth=4, completion_timeout_per_gib=1,
                         completion_timeout_action=action,
                         storage_groups={'h1': 'g', 'h2': 'g'})
    spec = boot(driver, dirty=True, fill_mb=8)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    assert driver.poll_migration(spec['uuid'])['status'] == base.MIGRATION_RUNNING
    expected = {'abort': (base.MIGRATION_CANCELLED,), 'force_complete': CONVERGED}
    poll_until(driver, spec, expected[action], timeout=30)
    if action == 'abort':
        assert state(driver, spec, 'h1') == base.RUNNING
    else:
        driver.complete_migration(spec['uuid'])
        assert state(driver, spec, 'h2') == base.RUNNING


def test_cancel_that_wins_the_switch_over_lock(driver):
    """Converged, but the cancel holds the migration's lock first: the
    watcher waits for it, then finds the migration cancelled and leaves the
    source running; a new attempt then completes by itself."""
    spec = boot(driver)
    wait_for(lambda: counters(driver, spec, 'h1'))
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    with switchover.locked(driver._record_path(spec['uuid'], 'h1')):
        driver.start_migration(spec['uuid'], 'h1', 'h2')
        poll_until(driver, spec, (base.MIGRATION_READY,))
        assert state(driver, spec, 'h1') == base.PAUSED
        assert driver._cancel_locked(spec['uuid']) is True
    assert state(driver, spec, 'h1') == base.RUNNING
    count = counters(driver, spec, 'h1')[-1]
    wait_for(lambda: counters(driver, spec, 'h1')[-1] > count)
    # The destination gave up; preparing it again allows a new attempt.
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    poll_until(driver, spec, CONVERGED)
    driver.complete_migration(spec['uuid'])
    assert state(driver, spec, 'h2') == base.RUNNING
    # Too late now: refused, typed.
    with pytest.raises(exception.MigrationPastSwitchover):
        driver.cancel_migration(spec['uuid'])


def test_migration_preconditions(driver):
    spec = make_spec()
    with pytest.raises(exception.DriverError):
        driver.prepare_incoming(spec, 'h2')             # no disk, no disk_bytes
    driver.create_disk(spec, 'h1')
    driver.spawn(spec, 'h1')
    with pytest.raises(exception.DriverError):
        driver.start_migration(spec['uuid'], 'h1', 'h2')    # nobody waiting
    assert driver.poll_migration(spec['uuid']) is None
    with pytest.raises(exception.DriverError):
        driver.prepare_incoming(spec, 'h1')             # runs there already
    with pytest.raises(exception.DriverError):
        driver.complete_migration(str(uuid.uuid4()))
    assert driver.cancel_migration(str(uuid.uuid4())) is False


def test_loaded_from_the_entry_point(driver):
    from move_orchestrator.drivers import compute
    from move_orchestrator.drivers.compute import qemu
    loaded = compute.load_driver('qemu', conf=driver.conf)
    assert isinstance(loaded, qemu.QemuDriver)


def test_a_failed_disk_mirror_fails_the_migration(make_driver):
    driver = make_driver(max_bandwidth=4)
    spec = boot(driver)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    wait_for(lambda: driver.poll_migration(spec['uuid'])['transferred_mb'] > 0.5)
    # The mirror dies under the memory copy (as when the NBD export fails).
    with driver._domain(spec['uuid'], 'h1').qmp() as q:
        job = q.execute('query-block-jobs')[0]['device']
        q.execute('block-job-cancel', device=job, force=True)
    wait_for(lambda: driver.poll_migration(spec['uuid'])['status'] == base.MIGRATION_FAILED)
    assert state(driver, spec, 'h1') == base.RUNNING
    with pytest.raises(exception.DriverError):
        driver.complete_migration(spec['uuid'])


def test_a_describe_before_the_mirror_starts_does_not_fail_it(make_driver, monkeypatch):
    """Another process may describe the instance between the migration's
    record and its drive-mirror: no job yet is not a failed mirror."""
    driver = make_driver()
    spec = boot(driver)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    seen = []
    real_save = driver._save

    def save(instance_uuid, rec):
        real_save(instance_uuid, rec)
        if not seen:
            seen.append(None)
            seen.append(driver.describe(instance_uuid)['migration']['status'])
    monkeypatch.setattr(driver, '_save', save)
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    assert seen == [None, base.MIGRATION_RUNNING]
    poll_until(driver, spec, CONVERGED)
    driver.complete_migration(spec['uuid'])
    assert state(driver, spec, 'h2') == base.RUNNING
    assert driver.compare_disks(spec['uuid'], 'h1', 'h2')
