"""Cost of TaskFlow persistence per flow: memory, stock SQLAlchemy, ours.

Each sample saves a new logbook, loads the flow into a serial engine and runs
it, the way a move is started. Reported: ms per flow (median, p90) and
commits per flow (counted with a SQLAlchemy ``commit`` event on the engine).
Goals: ours on SQLite <= 2x memory, and >= 10x faster than stock.

``--flow module:callable`` plugs in another flow factory (called with no
arguments, returning a flow; it may also return ``(flow, store)``).

Measured 2026-11-24 (2 cores, shared and loaded; taskflow 6.5.0, SQLAlchemy
2.1.9, PostgreSQL 15, MariaDB 10.11), median / p90 ms, commits per flow:
memory 3.37 / 4.04; stock SQLite 82.47 / 302.36, 24; ours SQLite
4.62 / 7.16, 14; ours PostgreSQL 10.96 / 15.68, 14; ours MariaDB
10.58 / 18.76, 14. c/a = 1.37, b/c = 17.8. (Our backend now runs on the
project's own engine, so the separate "project engine" row is gone.)
"""

import argparse
import contextlib
import importlib
import json
import os
import statistics
import tempfile
import time
import uuid

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import provision
import sqlalchemy as sa
from taskflow import engines as tf_engines
from taskflow.patterns import linear_flow
from taskflow.persistence.backends import impl_memory
from taskflow.persistence.backends import impl_sqlalchemy
from taskflow.persistence import models
from taskflow import task

from move_orchestrator.persistence import backend as mo_backend
from move_orchestrator.persistence import engines

ADMIN_URLS = {
    'postgresql': ('postgresql+psycopg2://root@127.0.0.1:5432/test',
                   'postgresql+psycopg2://postgres@127.0.0.1:5432/test'),
    'mysql': ('mysql+pymysql://root:@127.0.0.1:3306/test',),
}


class Trivial(task.Task):
    def execute(self):
        return self.name


def five_task_flow():
    """The default flow: five trivial tasks in a line."""
    return linear_flow.Flow('bench').add(*[Trivial('t%d' % i) for i in range(5)])


def load_factory(spec):
    module, _sep, name = spec.partition(':')
    return getattr(importlib.import_module(module), name)


@contextlib.contextmanager
def server_database(kind):
    """A scratch database ``mo_bench_<hex>``, or None if the server is down."""
    for admin_url in ADMIN_URLS[kind]:
        try:
            backend = provision.Backend(kind, admin_url)._verify()
            break
        except db_exc.BackendNotAvailable:
            continue
    else:
        yield None
        return
    name = 'mo_bench_%s' % uuid.uuid4().hex[:12]
    backend.create_named_database(name)
    try:
        yield backend.provisioned_database_url(name).render_as_string(hide_password=False)
    finally:
        engines.dispose_all()
        backend.drop_named_database(name, conditional=True)


class Subject:
    """One backend under test, its samples and its commit count."""

    def __init__(self, key, label, backend, engine):
        self.key, self.label, self.backend = key, label, backend
        self.samples = []
        self.commits = 0 if engine is not None else None
        if engine is not None:
            sa.event.listen(engine, 'commit', self._count)
        with contextlib.closing(backend.get_connection()) as conn:
            conn.upgrade()

    def _count(self, conn):
        self.commits += 1

    def run_one(self, factory, keep):
        made = factory()
        flow, store = made if isinstance(made, tuple) else (made, None)
        start = time.perf_counter()
        book = models.LogBook('bench')
        fd = models.FlowDetail(flow.name, str(uuid.uuid4()))
        book.add(fd)
        with contextlib.closing(self.backend.get_connection()) as conn:
            conn.save_logbook(book)
        tf_engines.load(flow, flow_detail=fd, book=book, backend=self.backend,
                        engine='serial', store=store).run()
        if keep:
            self.samples.append((time.perf_counter() - start) * 1000.0)
        elif self.commits is not None:
            self.commits = 0

    def row(self, runs):
        self.backend.close()
        return {'key': self.key, 'backend': self.label,
                'median_ms': statistics.median(self.samples), 'p90_ms': _p90(self.samples),
                'commits': None if self.commits is None else self.commits / runs}


def _p90(samples):
    return statistics.quantiles(samples, n=10)[-1] if len(samples) > 1 else samples[0]


def run(argv):
    parser = argparse.ArgumentParser(prog='bench_persistence')
    parser.add_argument('--runs', type=int, default=50, help='flows per backend')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--flow', default=None, help='flow factory, module:callable')
    parser.add_argument('--json', default=None, help='also write the figures here')
    args, _rest = parser.parse_known_args(argv)
    factory = load_factory(args.flow) if args.flow else five_task_flow
    notes = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        def sqlite(name):
            return 'sqlite:///' + os.path.join(tmp, name)

        stock = impl_sqlalchemy.SQLAlchemyBackend({'connection': sqlite('stock.db')})
        stack.callback(stock.engine.dispose)
        ours = mo_backend.Backend({'connection': sqlite('ours.db')})
        subjects = [
            Subject('a', 'TaskFlow memory', impl_memory.MemoryBackend(), None),
            Subject('b', 'TaskFlow stock SQLAlchemy (SQLite file)', stock, stock.engine),
            Subject('c', 'ours (SQLite file)', ours, ours.engine),
        ]
        for key, kind, label in (('d', 'postgresql', 'ours (PostgreSQL)'),
                                 ('e', 'mysql', 'ours (MariaDB)')):
            url = stack.enter_context(server_database(kind))
            if url is None:
                notes.append('%s: skipped, server not reachable' % label)
                continue
            backend = mo_backend.Backend({'connection': url})
            subjects.append(Subject(key, label, backend, backend.engine))
        from move_orchestrator.db import session
        stack.callback(session.reset)
        # Round-robin, so that load from elsewhere hits every backend alike.
        for i in range(args.warmup + args.runs):
            for subject in subjects:
                subject.run_one(factory, keep=i >= args.warmup)
        rows = [s.row(args.runs) for s in subjects]
    report(rows, notes, args)


def report(rows, notes, args):
    print('%d flows per backend (after %d warm-up), five-task linear flow on the serial '
          'engine' % (args.runs, args.warmup) if not args.flow else
          '%d flows per backend, flow %s' % (args.runs, args.flow))
    print('%-2s %-42s %10s %10s %13s' % ('', 'backend', 'median ms', 'p90 ms', 'commits/flow'))
    for r in rows:
        commits = '-' if r['commits'] is None else '%.1f' % r['commits']
        print('%-2s %-42s %10.2f %10.2f %13s' % (r['key'], r['backend'], r['median_ms'],
                                                 r['p90_ms'], commits))
    for note in notes:
        print('note: ' + note)
    by_key = {r['key']: r['median_ms'] for r in rows}
    ratios = {}
    if 'a' in by_key and 'c' in by_key:
        ratios['c/a'] = by_key['c'] / by_key['a']
        print('ratio c/a (ours / memory) = %.2f  (goal <= 2)' % ratios['c/a'])
    if 'b' in by_key and 'c' in by_key:
        ratios['b/c'] = by_key['b'] / by_key['c']
        print('ratio b/c (stock / ours)  = %.1f  (goal >= 10)' % ratios['b/c'])
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'rows': rows, 'notes': notes, 'ratios': ratios}, f, indent=2)
