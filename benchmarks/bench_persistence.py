"""Cost of TaskFlow persistence per flow: memory, stock SQLAlchemy, ours.

Each sample saves a new logbook, loads the flow into a serial engine and runs
it, the way a move is started. Reported: ms per flow (median, p90) and
commits per flow (counted with a SQLAlchemy ``commit`` event on the engine).
Goals: ours on SQLite <= 2x memory, and >= 10x faster than stock.

``--flow module:callable`` plugs in another flow factory (called with no
arguments, returning a flow; it may also return ``(flow, store)``).
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


def measure(backend, factory, runs, warmup, engine=None):
    """ms per flow (all samples) and commits per flow for one backend."""
    commits = [0]
    if engine is not None:
        sa.event.listen(engine, 'commit', lambda conn: commits.__setitem__(0, commits[0] + 1))
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()
    samples = []
    for i in range(warmup + runs):
        if i == warmup:
            commits[0] = 0
        made = factory()
        flow, store = made if isinstance(made, tuple) else (made, None)
        start = time.perf_counter()
        book = models.LogBook('bench')
        fd = models.FlowDetail(flow.name, str(uuid.uuid4()))
        book.add(fd)
        with contextlib.closing(backend.get_connection()) as conn:
            conn.save_logbook(book)
        tf_engines.load(flow, flow_detail=fd, book=book, backend=backend,
                        engine='serial', store=store).run()
        if i >= warmup:
            samples.append((time.perf_counter() - start) * 1000.0)
    backend.close()
    return samples, (commits[0] / runs if engine is not None else None)


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
    rows = []
    notes = []

    def add(key, label, make):
        """make() -> (backend, engine or None); a context manager."""
        with make() as made:
            if made is None:
                notes.append('%s: skipped, server not reachable' % label)
                return
            samples, commits = measure(made[0], factory, args.runs, args.warmup, made[1])
        rows.append({'key': key, 'backend': label, 'median_ms': statistics.median(samples),
                     'p90_ms': _p90(samples), 'commits': commits})

    with tempfile.TemporaryDirectory() as tmp:
        def sqlite(name):
            return 'sqlite:///' + os.path.join(tmp, name)

        @contextlib.contextmanager
        def memory():
            yield impl_memory.MemoryBackend(), None

        @contextlib.contextmanager
        def stock():
            backend = impl_sqlalchemy.SQLAlchemyBackend({'connection': sqlite('stock.db')})
            yield backend, backend.engine
            backend.engine.dispose()

        @contextlib.contextmanager
        def ours(url):
            if url is None:
                yield None
                return
            backend = mo_backend.Backend({'connection': url})
            yield backend, backend.engine

        @contextlib.contextmanager
        def ours_on_server(kind):
            with server_database(kind) as url, ours(url) as made:
                yield made

        @contextlib.contextmanager
        def ours_project_engine():
            from move_orchestrator.db import session
            engine = session.get_database(sqlite('project.db')).engine
            yield mo_backend.Backend({}, engine=engine), engine
            session.reset()

        add('a', 'TaskFlow memory', memory)
        add('b', 'TaskFlow stock SQLAlchemy (SQLite file)', stock)
        add('c', 'ours (SQLite file)', lambda: ours(sqlite('ours.db')))
        add('d', 'ours (PostgreSQL)', lambda: ours_on_server('postgresql'))
        add('e', 'ours (MariaDB)', lambda: ours_on_server('mysql'))
        add('f', 'ours (SQLite, project oslo.db engine)', ours_project_engine)
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
