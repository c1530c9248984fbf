"""Spare watchers (qemu/watchers.py, spare.py) against real QEMU.

A migration's watchers are forked by the spares started before it was
asked for, which stay for the next; a forked watcher is the migration's for
good: it switches the guest over and sees it arrive with the process that
asked for it SIGKILLed (and its spares ended with it); a spare ends with
the process that started it.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

from move_orchestrator.drivers import choreography
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute import procfs
from move_orchestrator.drivers.compute.qemu import arrival
from move_orchestrator.drivers.compute.qemu import process
from move_orchestrator.drivers.compute.qemu import switchover
from move_orchestrator.drivers.compute.qemu import watchers

from tests.functional.qemu import domains

wait_for = domains.wait_for
KINDS = (switchover.__file__, arrival.__file__)

# A process that starts the spares (and, asked, a migration they are
# handed), says so, and waits to be killed.
STARTER = textwrap.dedent('''
    import json
    import sys
    import time
    from oslo_config import cfg
    from move_orchestrator import conf as mo_conf
    from move_orchestrator.drivers import choreography
    from move_orchestrator.drivers.compute import qemu
    from move_orchestrator.drivers.compute.qemu import arrival
    from move_orchestrator.drivers.compute.qemu import switchover
    from move_orchestrator.drivers.compute.qemu import watchers
    root, spec, migrate = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    for script in (switchover.__file__, arrival.__file__):
        watchers.SPARES.refill(script)
    print(json.dumps(watchers.SPARES.pids()), flush=True)
    if migrate == 'yes':
        conf = cfg.ConfigOpts()
        mo_conf.register_all(conf)
        conf([], default_config_files=[])
        conf.set_override('instances_path', root, 'qemu')
        conf.set_override('max_bandwidth', 16, 'qemu')     # seconds to copy
        conf.set_override('storage_groups', {'h1': 'g', 'h2': 'g'}, 'qemu')
        conf.set_override('permit_post_copy', False, 'qemu')
        driver = qemu.QemuDriver(conf)
        incoming = choreography.accept_incoming(driver, spec, 'h1', 'h2')
        driver.start_migration(spec['uuid'], 'h1', 'h2', migration_id='m1',
                               incoming=incoming)
        print('started', flush=True)
    time.sleep(600)
''')


def _starter(root, spec, migrate):
    """The starter's process and its spares' pids {script: pid}."""
    proc = subprocess.Popen([sys.executable, '-c', STARTER, root, json.dumps(spec),
                             migrate], stdout=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline())


def _kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


def _handed(driver, spec):
    """The pids of the migration's watchers: {script: pid}."""
    dest = driver._domain(spec['uuid'], 'h2')
    return {switchover.__file__: driver._record(spec['uuid'])['watcher'],
            arrival.__file__: process.read_json(dest.path(arrival.STATE))['watcher']}


def _parents(pids):
    """{script: the parent's pid} of live processes {script: pid}."""
    return {script: procfs.stat(pid)[1] for script, pid in pids.items()}


def test_a_migration_s_watchers_are_forked_by_the_spares(make_driver):
    driver = make_driver(storage_groups={'h1': 'g', 'h2': 'g'})
    spec = domains.boot(driver)
    for script in KINDS:
        watchers.SPARES.refill(script)
    spares = watchers.SPARES.pids()
    assert set(spares) == set(KINDS) and all(map(procfs.running, spares.values()))

    incoming = choreography.accept_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2', migration_id='m1',
                           incoming=incoming)
    # The watchers that run were forked by the spares started before.
    handed = _handed(driver, spec)
    assert _parents(handed) == spares
    domains.poll_until(driver, spec, domains.CONVERGED)
    driver.complete_migration(spec['uuid'])
    done = choreography.confirm_arrival(driver, spec['uuid'], 'h2',
                                        driver.poll_migration(spec['uuid']))
    assert done['status'] == base.MIGRATION_COMPLETED
    # Their figures and logs are a directly started watcher's.
    assert done['guest_pause_ms'] > 0 and done['switchover_wait_ms'] >= 0
    log = switchover.log_path(driver._record_path(spec['uuid'], 'h1'))
    with open(log) as f:
        assert 'switched over' in f.read()
    # Once they ended, the same spares wait for the next migration.
    wait_for(lambda: not any(map(procfs.running, handed.values())))
    assert watchers.SPARES.pids() == spares
    assert all(map(procfs.running, spares.values()))


def test_a_spare_ends_with_the_process_that_started_it(qemu_root):
    proc, spares = _starter(qemu_root, {}, 'no')
    assert set(spares) == set(KINDS) and all(map(procfs.running, spares.values()))
    _kill(proc)
    wait_for(lambda: not any(map(procfs.running, spares.values())))


def test_a_forked_watcher_outlives_the_process_that_asked_for_it(make_driver):
    driver = make_driver(storage_groups={'h1': 'g', 'h2': 'g'})
    spec = domains.boot(driver)
    wait_for(lambda: len(domains.counters(driver, spec, 'h1')) > 10)
    proc, spares = _starter(driver.root, spec, 'yes')
    try:
        assert proc.stdout.readline().strip() == 'started'
        handed = _handed(driver, spec)
        assert _parents(handed) == spares
    finally:
        _kill(proc)
    wait_for(lambda: not any(map(procfs.running, spares.values())))
    # With nobody to ask them, the spares switch the guest over (it was
    # still being copied) and see it arrive.
    dest = driver._domain(spec['uuid'], 'h2')
    assert not os.path.exists(dest.path(arrival.ARRIVAL))
    arrived = wait_for(lambda: process.read_json(dest.path(arrival.ARRIVAL)))
    assert arrived['status'] == 'arrived'
    assert domains.state(driver, spec, 'h2') == base.RUNNING
    last = domains.counters(driver, spec, 'h1')[-1]
    wait_for(lambda: domains.counters(driver, spec, 'h2')[-1] > last + 10)
    with open(switchover.log_path(driver._record_path(spec['uuid'], 'h1'))) as f:
        assert 'switched over' in f.read()
    driver.complete_migration(spec['uuid'])
    done = choreography.confirm_arrival(driver, spec['uuid'], 'h2',
                                        driver.poll_migration(spec['uuid']))
    assert done['status'] == base.MIGRATION_COMPLETED
