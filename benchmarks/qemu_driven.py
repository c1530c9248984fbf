"""The driver and orchestrated kinds of the qemu benchmark (bench_qemu.py):
one live migration of the cloud's VM through the qemu driver's API as the
orchestrated move's steps call it, and one through the whole move, each
returning its sample (qemu_bare.py holds the bare QMP kinds)."""

import datetime
import time

from benchmarks import qemu_cpu
from benchmarks import qemu_report
from benchmarks import world_calls
from move_orchestrator.drivers import choreography
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import arrival as qemu_arrival
from move_orchestrator.drivers.compute.qemu import process
from move_orchestrator.drivers.compute.qemu import switchover as qemu_switchover
from move_orchestrator.drivers.compute.qemu import watchers as qemu_watchers
from move_orchestrator.steps import stall


def _seconds(a, b):
    return (datetime.datetime.fromisoformat(b)
            - datetime.datetime.fromisoformat(a)).total_seconds()


def by_driver(cloud):
    """The driver's API, as the orchestrated move's steps call it."""
    source, dest = cloud.hosts()
    d = cloud.driver
    # The spare watchers (qemu/watchers.py) fork this migration's: their
    # own CPU counts from here, the watchers' from their start.
    running = qemu_watchers.SPARES.pids()
    spares = {'spare ' + name: running[script] for name, script in (
        ('switch-over', qemu_switchover.__file__),
        ('arrival', qemu_arrival.__file__)) if script in running}
    # Asked before, as the orchestrated move's pre-check asks them.
    _world, facts = choreography.source_facts(d, cloud.uuid, source, dest)
    prep = qemu_cpu.snapshot({'source': cloud.domain(source).pid()}, spares)
    before = prep
    t0, t0_epoch = time.perf_counter(), time.time()
    # The destination accepts the migration as the orchestrated move's
    # does (PrepareIncoming), and confirms the arrival (SwitchOverMigration).
    incoming = choreography.accept_incoming(d, cloud.spec, source, dest, facts)
    # Its answer is the first look, as TransferMemory takes it (a poll
    # here would connect to the source as the copy starts).
    migration = d.start_migration(cloud.uuid, source, dest, incoming=incoming)
    src, dst = cloud.domain(source), cloud.domain(dest)
    qemus = {'source': src.pid(), 'dest': dst.pid()}
    watchers = dict(spares, **{
        'switch-over': d._record(cloud.uuid).get('watcher'),
        'arrival': (process.read_json(dst.path('incoming.json'))
                    or {}).get('watcher')})
    copy = qemu_cpu.snapshot(qemus, watchers)
    prep = qemu_cpu.delta(prep, copy)
    policy, poll = cloud.conf.live_migration, cloud.conf.conductor.poll_interval
    watch = stall.StallWatch.of(policy, time.monotonic())
    while migration['status'] == base.MIGRATION_RUNNING:
        # Through the passes, as the conductor waits while its stall
        # policy cannot act (its timeout is minutes), looking at them
        # once it counts them.
        migration = d.wait_migration(
            cloud.uuid, poll, wake_at_pass=False,
            look_at_passes=watch.counting(time.monotonic() + poll))
    if migration['status'] not in (base.MIGRATION_READY,
                                   base.MIGRATION_COMPLETED):
        raise RuntimeError('driver migration %s' % migration['status'])
    d.complete_migration(cloud.uuid)
    migration = choreography.confirm_arrival(d, cloud.uuid, dest,
                                             d.poll_migration(cloud.uuid))
    t1 = time.perf_counter()
    end = qemu_cpu.snapshot(qemus, watchers)
    copy, whole = qemu_cpu.delta(copy, end), qemu_cpu.delta(before, end)
    with src.qmp() as q:
        info = q.execute('query-migrate')
    d.destroy(cloud.uuid, source)
    elapsed = time.perf_counter() - t0
    cloud.put_right(source, dest, destroyed=True)
    return {'whole': elapsed, 'to_end': t1 - t0,
            'migration': _resumed(migration, t0_epoch, t1 - t0),
            'downtime': migration.get('downtime_ms'),
            'pause': migration.get('guest_pause_ms'),
            'wait': migration.get('switchover_wait_ms'),
            'sent': migration.get('transferred_mb'),
            'cpu': copy, 'prep': prep, 'whole_cpu': whole,
            'qemu': qemu_cpu.figures(info)}


def orchestrated(cloud):
    """move_instance and wait_task: the whole move."""
    source, dest = cloud.hosts()
    # The whole move's CPU: the conductor's threads are this process's.
    before = qemu_cpu.snapshot({'source': cloud.domain(source).pid()}, {})
    del cloud.world[:]
    t0, called = time.perf_counter(), time.time()
    doc = cloud.api.move_instance(None, 'vm', destination=dest)
    accepted = time.time()
    doc = cloud.api.wait_task(None, doc['id'])
    elapsed, answered = time.perf_counter() - t0, time.time()
    whole = qemu_cpu.delta(before, qemu_cpu.snapshot(
        {'dest': cloud.domain(dest).pid()}, {}))
    if doc['state'] != 'completed':
        raise RuntimeError('move %s: %s' % (doc['state'], doc['reason']))
    subs = {s['name']: s for s in doc['subtasks']}
    phases = {}
    for sub in doc['subtasks']:
        phases[sub['phase']] = (phases.get(sub['phase'], 0)
                                + _seconds(sub['started'], sub['finished']))
    result = subs['SwitchOverMigration']['result'] or {}
    to_end = _seconds(subs['PrepareIncoming']['started'],
                      subs['SwitchOverMigration']['finished'])
    started = datetime.datetime.fromisoformat(
        subs['PrepareIncoming']['started']).timestamp()
    migration = _resumed(result, started, to_end)
    return {'whole': elapsed, 'phases': phases, 'to_end': to_end,
            'migration': migration,
            'world': world_calls.outside(cloud.world, started, started + migration),
            'marks': qemu_report.marks(doc, called, accepted, answered,
                                       started + migration),
            'downtime': result.get('downtime_ms'),
            'pause': result.get('guest_pause_ms'),
            'wait': result.get('switchover_wait_ms'),
            'sent': result.get('transferred_mb'), 'whole_cpu': whole,
            'qemu': {'total-time': result.get('total_time_ms'),
                     'downtime': result.get('downtime_ms')}}


def _resumed(migration, started, otherwise):
    """Seconds from ``started`` (epoch) to the destination's RESUME, QEMU's
    own timestamp (the source's STOP plus the guest's pause); ``otherwise``
    when the figures are missing."""
    if migration.get('stopped_at') is None or migration.get('guest_pause_ms') is None:
        return otherwise
    return migration['stopped_at'] + migration['guest_pause_ms'] / 1000 - started
