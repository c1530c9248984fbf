"""The qemu compute driver against real QEMU (TCG) processes: a domain's
life cycle, a live migration that the destination continues, and what the
driver tells after its client died. How a migration ends otherwise
(cancelled, forced, timed out, its disk mirror failed) is in
test_qemu_migration_ending.py; the guests are domains.py's.
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
from move_orchestrator.drivers.compute import procfs
from move_orchestrator import exception

from tests.functional.qemu import domains


def test_spawn_power_destroy(driver):
    spec = domains.boot(driver)
    assert domains.state(driver, spec, 'h1') == base.RUNNING
    domains.wait_for(lambda: len(domains.counters(driver, spec, 'h1')) > 3)
    driver.spawn(spec, 'h1')                            # idempotent
    assert driver.list_domains() == [(spec['uuid'], 'h1', base.RUNNING)]
    pid = domains.pid_of(driver, spec, 'h1')

    driver.power_off(spec['uuid'], 'h1')
    assert not procfs.running(pid)
    assert domains.state(driver, spec, 'h1') == base.SHUTOFF
    driver.power_off(spec['uuid'], 'h1')                # no-op
    driver.power_on(spec['uuid'], 'h1')
    assert domains.state(driver, spec, 'h1') == base.RUNNING
    driver.power_on(spec['uuid'], 'h1')                 # no-op

    pid = domains.pid_of(driver, spec, 'h1')
    assert driver.destroy(spec['uuid'], 'h1') is True
    assert not procfs.running(pid)
    assert driver.destroy(spec['uuid'], 'h1') is False
    assert driver.list_domains() == []
    assert driver.list_disks() == [(spec['uuid'], 'h1')]
    with pytest.raises(exception.DriverError):
        driver.power_on(spec['uuid'], 'h1')
    assert driver.delete_disk(spec['uuid'], 'h1') is True
    assert driver.delete_disk(spec['uuid'], 'h1') is False
    with pytest.raises(exception.DriverError):
        driver.spawn(spec, 'h1')                        # no disk


@pytest.mark.parametrize('shared', [False, True], ids=['local-storage', 'shared-storage'])
def test_live_migration_continues_counter(make_driver, shared):
    driver = make_driver(storage_groups={'h1': 'g', 'h2': 'g'} if shared else {})
    spec = domains.boot(driver)
    domains.wait_for(lambda: len(domains.counters(driver, spec, 'h1')) > 10)
    src_pid = domains.pid_of(driver, spec, 'h1')
    domains.migrate(driver, spec)

    described = driver.describe(spec['uuid'])
    assert described['domains']['h1']['state'] == base.PAUSED    # kept for a revert
    assert described['domains']['h2']['state'] == base.RUNNING
    assert described['migration']['status'] == base.MIGRATION_COMPLETED
    last_on_source = domains.counters(driver, spec, 'h1')[-1]
    on_dest = domains.wait_for(lambda: domains.counters(driver, spec, 'h2')[:5])
    # The partial line the source was printing when paused is finished on
    # the destination, so its first complete line is the next one or the
    # one after.
    assert last_on_source < on_dest[0] <= last_on_source + 2
    assert on_dest == list(range(on_dest[0], on_dest[0] + len(on_dest)))
    if not shared:
        assert driver.compare_disks(spec['uuid'], 'h1', 'h2')
    shares, exports = domains.guest_disk(driver, spec, 'h2')
    assert 'write' not in shares and exports == []

    assert driver.destroy(spec['uuid'], 'h1') is True
    assert not procfs.running(src_pid)
    assert driver.list_domains() == [(spec['uuid'], 'h2', base.RUNNING)]
    if shared:
        # The destination still uses the one shared disk.
        assert driver.delete_disk(spec['uuid'], 'h1') is False
    else:
        assert driver.delete_disk(spec['uuid'], 'h1') is True
    domains.prints_again(driver, spec, 'h2')


def test_revert_after_switch_over_resumes_source(driver):
    spec = domains.boot(driver)
    domains.wait_for(lambda: domains.counters(driver, spec, 'h1'))
    domains.migrate(driver, spec)
    # The driver can still undo a switch-over: the destination destroyed,
    # the source resumed (the choreography no longer does, next test).
    driver.destroy(spec['uuid'], 'h2')
    driver.power_on(spec['uuid'], 'h1')
    assert domains.state(driver, spec, 'h1') == base.RUNNING
    domains.prints_again(driver, spec, 'h1')


def test_a_destination_switched_over_to_is_kept(driver):
    """QEMU leaves the source postmigrate, paused as one paused before the
    switch-over is, but told apart (``migrated``): the guest runs on the
    destination alone, so the revert of the destination's preparation
    keeps it, and the hosts say it switched over (a resume completes)."""
    spec = domains.boot(driver)
    uuid = spec['uuid']
    domains.wait_for(lambda: domains.counters(driver, spec, 'h1'))
    with driver._domain(uuid, 'h1').qmp() as q:
        q.execute('stop')
    paused = driver.describe_host(uuid, 'h1')['domains']['h1']
    assert paused['state'] == base.PAUSED and 'migrated' not in paused
    with driver._domain(uuid, 'h1').qmp() as q:
        q.execute('cont')
    assert not choreography.switched_over(driver, uuid, 'h1', 'h2')
    domains.migrate(driver, spec)

    left = driver.describe_host(uuid, 'h1')['domains']['h1']
    assert (left['state'], left.get('migrated')) == (base.PAUSED, True)
    assert choreography.switched_over(driver, uuid, 'h1', 'h2')
    with pytest.raises(exception.GuestOnlyOnDestination):
        choreography.undo_prepare_incoming(driver, uuid, 'h1', 'h2')
    assert domains.state(driver, spec, 'h2') == base.RUNNING
    domains.prints_again(driver, spec, 'h2')


def test_wait_migration_wakes_on_qemu_events(driver):
    """A wait ends when QEMU says the migration moved on, not at its timeout:
    with a timeout of minutes, the migration still reaches its switch-over
    point within a few waits, each answered by an event."""
    spec = domains.boot(driver)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    started = driver.start_migration(spec['uuid'], 'h1', 'h2')
    # Answered as a poll would: the copy under way.
    assert started['status'] == base.MIGRATION_RUNNING and started['total_mb'] > 0
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
    assert seen and seen[-1] in domains.CONVERGED, seen
    driver.complete_migration(spec['uuid'])
    # Nothing to wait for once it is over: the answer comes at once.
    assert driver.wait_migration(spec['uuid'], 0.01)['status'] == base.MIGRATION_COMPLETED


def _copying_for_ever(make_driver):
    """A copy started that never converges: a guest that dirties 12.8
    MiB/s of its 8 MiB, a copy of 8 MiB/s (passes of about a second)."""
    driver = make_driver(storage_groups={'h1': 'g', 'h2': 'g'}, max_bandwidth=8,
                         downtime_limit_ms=20, guest_dirty=True,
                         guest_dirty_pages=16)
    spec = domains.boot(driver, fill_mb=8)
    # Dirtying before the copy starts: a guest still booting (a loaded
    # host) let the copy converge at once.
    domains.wait_for(lambda: len(domains.counters(driver, spec, 'h1')) > 10)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    return driver, spec


def test_a_wait_that_goes_on_through_passes_says_what_each_had_left(make_driver):
    """Told not to end at a new pass over the memory, a wait ends at a
    change of status (the copy's start) or its timeout only: no caller
    woken at each pass, none connecting again where the guest would stop.
    It answers the passes it went through, oldest first, each as its
    first look saw it."""
    driver, spec = _copying_for_ever(make_driver)
    answers = []
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        answers.append(driver.wait_migration(
            spec['uuid'], max(0.1, deadline - time.monotonic()), wake_at_pass=False))
    assert {a['status'] for a in answers} == {base.MIGRATION_RUNNING}, answers
    passes = [p for a in answers for p in a.get('passes', ())]
    iterations = [p['iteration'] for p in passes]
    assert len(iterations) >= 2 and iterations == sorted(set(iterations)), passes
    # setup -> active may end the first wait; no pass ends one.
    assert len(answers) <= 2, [(a['qemu_status'], a.get('passes')) for a in answers]
    assert all(0 < p['remaining_mb'] <= p['total_mb'] == answers[-1]['total_mb']
               for p in passes)
    for answer in answers:
        ages = [p['age'] for p in answer.get('passes', ())]
        assert ages == sorted(ages, reverse=True) and min(ages + [0]) >= 0
    assert driver.cancel_migration(spec['uuid'])
    assert domains.state(driver, spec, 'h1') == base.RUNNING


def test_a_wait_that_does_not_look_at_passes_goes_on_through_them(make_driver):
    """look_at_passes false (the stall policy counts no pass yet): the
    wait goes on through the passes as above, and answers none."""
    driver, spec = _copying_for_ever(make_driver)
    answers = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        answers.append(driver.wait_migration(
            spec['uuid'], max(0.1, deadline - time.monotonic()),
            wake_at_pass=False, look_at_passes=False))
    assert {a['status'] for a in answers} == {base.MIGRATION_RUNNING}, answers
    assert len(answers) <= 2, [(a['qemu_status'], a.get('iteration')) for a in answers]
    assert not any('passes' in a for a in answers), answers
    # Passes went by meanwhile (about one a second).
    assert answers[-1]['iteration'] >= 2, answers[-1]
    assert driver.cancel_migration(spec['uuid'])
    assert domains.state(driver, spec, 'h1') == base.RUNNING


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
    spec = domains.boot(driver)
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
    os.kill(domains.pid_of(driver, spec, 'h1'), signal.SIGKILL)
    domains.wait_for(lambda: domains.state(driver, spec, 'h1') == base.SHUTOFF)
    world = driver.describe(spec['uuid'])
    assert world['migration']['status'] == base.MIGRATION_FAILED
    domains.wait_for(lambda: domains.state(driver, spec, 'h2') != base.INCOMING
                     or driver.destroy(spec['uuid'], 'h2'))
    assert driver.poll_migration(spec['uuid'])['status'] == base.MIGRATION_FAILED


def test_migration_preconditions(driver):
    spec = domains.make_spec()
    with pytest.raises(exception.DriverError):
        driver.prepare_incoming(spec, 'h2')             # no disk, no disk_bytes
    driver.create_disk(spec, 'h1')
    driver.spawn(spec, 'h1')
    with pytest.raises(exception.DriverError):
        driver.start_migration(spec['uuid'], 'h1', 'h2')    # nobody waiting
    assert driver.poll_migration(spec['uuid']) is None
    # A source that does not run (paused here) is refused on the session
    # that would have readied it: no record, no watcher, still paused.
    incoming = choreography.accept_incoming(driver, spec, 'h1', 'h2')
    source = driver._domain(spec['uuid'], 'h1')
    with source.qmp() as q:
        q.execute('stop')
    with pytest.raises(exception.DriverError, match='source domain on h1 is not running'):
        driver.start_migration(spec['uuid'], 'h1', 'h2', incoming=incoming)
    assert driver.poll_migration(spec['uuid']) is None
    assert source.status() == 'paused'
    assert not os.path.exists(os.path.join(driver.root, 'h1', '_migrations'))
    choreography.undo_prepare_incoming(driver, spec['uuid'], 'h1', 'h2')
    with source.qmp() as q:
        q.execute('cont')
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
