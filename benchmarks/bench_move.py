"""Whole moves with the fake driver at zero delay, per TaskFlow backend.

A cold migration (12 tasks in two flows, every driver operation and record
write real) measured with (a) TaskFlow's in-memory persistence, (b) its
stock SQLAlchemy backend, (c) ours, on SQLite and (d) PostgreSQL; ms per
move (median, p90) and commits per move, all in one run. Backends are
measured round-robin so that load on this shared machine hits them alike.

Only (c) and (d) also write the sub-task history (our backend's save hook);
(a) and (b) get the move-state history only, so they are flattered.
"""

import argparse
import os
import statistics
import tempfile
import time
import warnings

import sqlalchemy as sa

warnings.filterwarnings('ignore')

from move_orchestrator import cloud as cloud_mod  # noqa: E402
from move_orchestrator.conductor import api as api_mod  # noqa: E402
from move_orchestrator.conductor import services as services_mod  # noqa
from move_orchestrator.conf import CONF  # noqa: E402
from move_orchestrator.db import migration  # noqa: E402
from move_orchestrator.db import session as db_session  # noqa: E402

PG_ADMIN = os.environ.get('MO_TEST_POSTGRESQL_ADMIN_URL',
                          'postgresql+psycopg2://root@127.0.0.1:5432/test')


class Setup:
    """A seeded cloud on url, moving vm2 back and forth between hosts."""

    def __init__(self, name, url, backend_factory):
        self.name, self.url = name, url
        CONF.set_override('connection', url, group='database')
        migration.upgrade(url)
        backend = backend_factory(url) if backend_factory else None
        self.services = services_mod.Services(CONF, persistence=backend)
        self.services.upgrade_persistence()
        self.services.driver   # bound to this database now, not lazily
        self.api = api_mod.ConductorAPI(self.services)
        self.api.conductor.start()
        cloud_mod.create_demo_cloud(self.services)
        self.commits = 0
        engines = {self.services.db.engine}
        engine = getattr(self.services.persistence, '_engine', None)
        if isinstance(engine, sa.engine.Engine):
            engines.add(engine)
        for engine in engines:
            sa.event.listen(engine, 'commit', self._count)
        self.times, self.commit_counts = [], []
        self._moves = 0

    def _count(self, conn):
        self.commits += 1

    def one(self):
        dest = ('host3', 'host4')[self._moves % 2]
        self._moves += 1
        before, start = self.commits, time.perf_counter()
        doc = self.api.move_instance(None, 'vm2', destination=dest)
        doc = self.api.wait_task(None, doc['id'])
        self.times.append((time.perf_counter() - start) * 1000)
        self.commit_counts.append(self.commits - before)
        assert doc['state'] == 'completed', doc['reason']

    def close(self):
        self.api.shutdown(wait=False)
        CONF.clear_override('connection', group='database')


def _memory(url):
    from taskflow.persistence.backends import impl_memory
    return impl_memory.MemoryBackend({})


def _stock(url):
    from taskflow.persistence.backends import impl_sqlalchemy
    return impl_sqlalchemy.SQLAlchemyBackend({'connection': url})


def _pg_database():
    """A fresh PostgreSQL database, or None when the server is not there."""
    engine = sa.create_engine(PG_ADMIN, isolation_level='AUTOCOMMIT')
    name = 'mo_bench_%s' % os.urandom(4).hex()
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql('CREATE DATABASE %s' % name)
    except Exception as exc:
        print('(d) skipped: PostgreSQL unavailable: %s' % exc)
        return None, None
    url = sa.engine.make_url(PG_ADMIN).set(database=name)

    def drop():
        db_session.reset()
        with engine.connect() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS %s' % name)
    return url.render_as_string(hide_password=False), drop


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run(argv):
    parser = argparse.ArgumentParser(prog='bench_move', add_help=False)
    parser.add_argument('--move-runs', type=int, default=30)
    args, _ = parser.parse_known_args(argv)
    tmp = tempfile.mkdtemp(prefix='mo-bench-move-')
    setups = []
    drops = []
    for name, backend in (('a  TaskFlow memory (SQLite records)', _memory),
                          ('b  TaskFlow stock SQLAlchemy (SQLite)', _stock),
                          ('c  ours (SQLite)', None)):
        url = 'sqlite:///%s/%s.db' % (tmp, name[0])
        setups.append(Setup(name, url, backend))
    pg_url, drop = _pg_database()
    if pg_url:
        setups.append(Setup('d  ours (PostgreSQL)', pg_url, None))
        drops.append(drop)
    # Each setup is its own database; CONF points at the last one built,
    # but every Services object holds its own engine and driver.
    for s in setups:
        s.one()                 # warm-up, not counted
        s.times, s.commit_counts = [], []
    for _ in range(args.move_runs):
        for s in setups:
            s.one()
    header = ('backend', 'median ms', 'p90 ms', 'commits/move')
    print('%-40s %10s %10s %14s' % header)
    med = {}
    for s in setups:
        med[s.name[0]] = statistics.median(s.times)
        print('%-40s %10.1f %10.1f %14.1f' % (
            s.name, med[s.name[0]], _pct(s.times, 0.9),
            statistics.mean(s.commit_counts)))
    print('ratio c/a (ours / in-memory) = %.2f  (goal <= 2)'
          % (med['c'] / med['a']))
    print('ratio b/c (stock / ours)     = %.2f  (goal >= 10)'
          % (med['b'] / med['c']))
    for s in setups:
        s.close()
    for drop in drops:
        drop()
