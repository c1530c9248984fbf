"""What admission within the limits costs, and what a drain's makespan is
beside the one the limits allow.

(1) One admission transaction (conductor/admission.py: lock the row, read
every unfinished move, admit) with N moves waiting, on SQLite and
PostgreSQL, beside the read it replaces in the conductor's watch (every
unfinished move, no lock, no writes), measured alternately in one run.

(2) A look for work as the moves that ended pile up: admission's read and
the watch's read of the unfinished moves with 0, 10,000 and 100,000 ended
moves in the table, on SQLite and PostgreSQL, beside the same read asking
for ``state NOT IN`` the terminal states (what it asked before, which
reads every row), measured alternately in one run; and a page of 20 tasks
of the task list (newest first).

(3) A drain of N running instances off one host with the default limit of
one outbound live migration per host, the fake driver's operations taking a
fixed delay: its makespan beside N times one live migration measured alone
in the same run (what the limit allows, the ideal).
"""

import argparse
import datetime
import statistics
import tempfile
import time
import uuid
import warnings

import sqlalchemy as sa

warnings.filterwarnings('ignore')

from benchmarks import bench_move  # noqa: E402
from move_orchestrator import cloud as cloud_mod  # noqa: E402
from move_orchestrator.conductor import admission  # noqa: E402
from move_orchestrator.conductor import api as api_mod  # noqa: E402
from move_orchestrator.conductor import services as services_mod  # noqa
from move_orchestrator.conf import CONF  # noqa: E402
from move_orchestrator.db import migration  # noqa: E402
from move_orchestrator.db import models  # noqa: E402
from move_orchestrator.db import moves as db_moves  # noqa: E402
from move_orchestrator.db import session as db_session  # noqa: E402
from move_orchestrator.moves import types as move_types  # noqa: E402
from move_orchestrator import states  # noqa: E402


def _seed_moves(db, count):
    """count live migrations accepted off host1..host4 (one admitted per
    host by the default limits, the rest waiting)."""
    with db.session() as s:
        for i in range(count):
            s.add(models.Move(
                id=str(uuid.uuid4()), instance_uuid=str(uuid.uuid4()),
                type='live-migrate', state='accepted',
                source_host='host%d' % (1 + i % 4),
                dest_host='host%d' % (5 + i % 4), old_flavor='f',
                new_flavor='f', live=True, created_at=models.utcnow()))


def admission_cost(name, url, counts, runs):
    migration.upgrade(url)
    db = db_session.get_database(url)
    gate = admission.Admission(db, CONF)
    store = db_moves.MoveStore(db, None, move_types.UNFINISHED_STATES)
    seeded = 0
    for count in counts:
        _seed_moves(db, count - seeded)
        seeded = count
        gate.runnable()   # the first admits; the rest only look
        timed = {'admission': [], 'read': []}
        for _ in range(runs):
            start = time.perf_counter()
            gate.runnable()
            timed['admission'].append(time.perf_counter() - start)
            start = time.perf_counter()
            store.list_unfinished()
            timed['read'].append(time.perf_counter() - start)
        adm = statistics.median(timed['admission']) * 1000
        read = statistics.median(timed['read']) * 1000
        print('%-12s %6d waiting %12.2f %12.2f %8.2f' % (
            name, count, adm, read, adm / read))


def _seed_ended(db, count, first):
    """count moves that ended, in batches (one transaction each)."""
    t0 = datetime.datetime(2026, 1, 1)
    rows = [dict(id=str(uuid.uuid4()), instance_uuid=str(uuid.uuid4()),
                 type='live-migrate', state=states.TERMINAL_STATES[n % 3],
                 source_host='host%d' % (1 + n % 4), dest_host='host5',
                 old_flavor='f', new_flavor='f', live=True, request={},
                 params={}, ponr=True, generation=0, admitted_at=t0,
                 finished_at=t0, created_at=t0 + datetime.timedelta(
                     seconds=first + n), updated_at=t0)
            for n in range(count)]
    for i in range(0, len(rows), 5000):
        with db.engine.begin() as conn:
            conn.execute(models.Move.__table__.insert(), rows[i:i + 5000])


def _read(db, statement):
    """As the watch reads (db.read()), so that the two differ only in
    their statement."""
    with db.read() as s:
        return s.execute(statement).all()


def history_cost(name, url, histories, runs):
    """Looks for work with ``histories`` ended moves, 10 unfinished."""
    migration.upgrade(url)
    db = db_session.get_database(url)
    gate = admission.Admission(db, CONF)
    store = db_moves.MoveStore(db, None, move_types.UNFINISHED_STATES)
    _seed_moves(db, 10)
    moves = models.Move.__table__
    before = sa.select(moves.c.id, moves.c.state).where(
        moves.c.state.not_in(states.TERMINAL_STATES)).order_by(
        moves.c.created_at)
    seeded = 0
    for count in histories:
        _seed_ended(db, count - seeded, seeded)
        seeded = count
        if db.engine.dialect.name == 'postgresql':
            # What autovacuum would have done by then.
            with db.engine.connect().execution_options(
                    isolation_level='AUTOCOMMIT') as conn:
                conn.exec_driver_sql('ANALYZE moves')
        timed = {'admission': [], 'watch': [], 'not in': [], 'page': []}
        for _ in range(runs):
            for key, look in (('admission', gate.runnable),
                              ('watch', lambda: store.list_unfinished(
                                  fields=['id', 'state'])),
                              ('page', lambda: store.list(limit=20)),
                              ('not in', lambda: _read(db, before))):
                start = time.perf_counter()
                look()
                timed[key].append(time.perf_counter() - start)
        med = {k: statistics.median(v) * 1000 for k, v in timed.items()}
        print('%-12s %8d ended %12.2f %12.2f %14.2f %10.2f' % (
            name, count, med['admission'], med['watch'], med['not in'],
            med['page']))


def drain_makespan(instances, delay):
    tmp = tempfile.mkdtemp(prefix='mo-bench-drain-')
    url = 'sqlite:///%s/drain.db' % tmp
    CONF.set_override('connection', url, group='database')
    CONF.set_override('operation_delay', delay, group='fake_driver')
    CONF.set_override('poll_interval', 0.001, group='conductor')
    try:
        migration.upgrade(url)
        services = services_mod.Services(CONF)
        services.upgrade_persistence()
        api = api_mod.ConductorAPI(services)
        api.conductor.start()
        inventory = services.inventory
        inventory.create_flavor('m1.nano', 1, 128, 1)
        for host in ('host1', 'host2', 'host3', 'host4'):
            inventory.create_host(host, vcpus=256, ram_mb=262144,
                                  disk_gb=4000, cpu_model='Cascadelake')
        for i in range(instances):
            cloud_mod.boot_instance(services, 'vm%03d' % i, 'host1',
                                    'm1.nano')
        # One live migration alone (vm000 to host2 and back: the first
        # warms up, the second is timed).
        for dest in ('host2', 'host1'):
            start = time.perf_counter()
            doc = api.move_instance(None, 'vm000', destination=dest)
            api.wait_task(None, doc['id'])
            alone = time.perf_counter() - start
        instances = len(inventory.list_instances(host='host1'))
        start = time.perf_counter()
        drain = api.drain_host(None, 'host1')
        doc = api.wait_task(None, drain['id'], timeout=3600)
        makespan = time.perf_counter() - start
        assert doc['state'] == 'completed', doc['reason']
        peak = services.driver.transfer_peaks()[('source-live', 'host1')]
        ideal = alone * instances
        print('drain of %d live instances, 1 outbound live migration per '
              'host, operation delay %.3f s:' % (instances, delay))
        print('  one move alone %.2f s; makespan %.2f s; ideal (N x one) '
              '%.2f s; ratio %.2f; peak outbound live from host1 %d'
              % (alone, makespan, ideal, makespan / ideal, peak))
        api.shutdown(wait=False)
    finally:
        for name, group in (('connection', 'database'),
                            ('operation_delay', 'fake_driver'),
                            ('poll_interval', 'conductor')):
            CONF.clear_override(name, group=group)
        db_session.reset()


def run(argv):
    parser = argparse.ArgumentParser(prog='bench_admission', add_help=False)
    parser.add_argument('--admission-runs', type=int, default=30)
    parser.add_argument('--drain-instances', type=int, default=20)
    parser.add_argument('--drain-delay', type=float, default=0.01)
    args, _ = parser.parse_known_args(argv)
    counts = (10, 100, 1000)
    print('%-12s %14s %12s %12s %8s' % ('database', 'moves', 'admit ms',
                                        'read ms', 'ratio'))
    tmp = tempfile.mkdtemp(prefix='mo-bench-admission-')
    admission_cost('SQLite', 'sqlite:///%s/a.db' % tmp, counts,
                   args.admission_runs)
    pg_url, drop = bench_move._pg_database()
    if pg_url:
        try:
            admission_cost('PostgreSQL', pg_url, counts,
                           args.admission_runs)
        finally:
            drop()
    db_session.reset()
    histories = (0, 10000, 100000)
    print('looks for work, 10 moves unfinished, medians of %d (ms):'
          % args.admission_runs)
    print('%-12s %14s %12s %12s %14s %10s' % (
        'database', 'moves', 'admission', 'watch', 'NOT IN (before)',
        'page of 20'))
    history_cost('SQLite', 'sqlite:///%s/h.db' % tmp, histories,
                 args.admission_runs)
    pg_url, drop = bench_move._pg_database()
    if pg_url:
        try:
            history_cost('PostgreSQL', pg_url, histories, args.admission_runs)
        finally:
            drop()
    db_session.reset()
    drain_makespan(args.drain_instances, args.drain_delay)
