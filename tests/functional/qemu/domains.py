"""Driver-level helpers of the qemu tests: a booted domain, its serial
counter, its state and process, and one whole live migration.

Guests are 64 MiB, 48 MiB of it filled with data, so migrations move real
pages; the guest prints a counter on its serial port every 5 ms, which
proves that the destination continues where the source stopped.
"""

import os
import uuid

from move_orchestrator.drivers import choreography
from move_orchestrator.drivers.compute import base

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


def prints_again(driver, spec, host):
    """Wait until the guest prints a counter line it had not printed yet:
    it runs (one paused right after its boot may have printed none)."""
    printed = len(counters(driver, spec, host))
    wait_for(lambda: len(counters(driver, spec, host)) > printed)


def poll_until(driver, spec, statuses, timeout=60.0):
    return wait_for(lambda: (lambda m: m if m['status'] in statuses else None)(
        driver.poll_migration(spec['uuid'])), timeout=timeout, interval=0.01)


def state(driver, spec, host):
    return driver.describe(spec['uuid'])['domains'].get(host, {}).get('state')


def pid_of(driver, spec, host):
    with open(os.path.join(driver.root, host, spec['uuid'], 'pid')) as f:
        return int(f.read())


def guest_disk(driver, spec, host):
    """(What the guest's disk lets others do to its image, the disk exports
    there), as QEMU says: once the guest runs nobody else may write the
    image, and nothing exports it."""
    with driver._domain(spec['uuid'], host).qmp() as q:
        graph = q.execute('x-debug-query-block-graph')
        exports = q.execute('query-block-exports')
    backend = [n['id'] for n in graph['nodes'] if n['type'] == 'block-backend'
               and n['name'] == 'drive0']
    [edge] = [e for e in graph['edges'] if e['parent'] in backend]
    return edge['shared-perm'], exports


CONVERGED = (base.MIGRATION_READY, base.MIGRATION_COMPLETED)


def migrate(driver, spec, source='h1', dest='h2'):
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
