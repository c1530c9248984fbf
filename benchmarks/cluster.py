"""Conductor services on a fresh PostgreSQL database and a Redis jobboard.

For the benchmarks that need several conductor processes (the scale
scenario, 2 conductors against 1): a database of its own on the shared
PostgreSQL server (``CREATE DATABASE bench_<hex>``, dropped at the end), a
board name of its own on the shared Redis (its keys deleted at the end), a
RabbitMQ virtual host of its own for RPC, and ``move-orchestrator-conductor``
processes started from generated config files. The process plumbing is the
functional tests' (``tests/functional/rpc/harness.py``).
"""

import contextlib
import os
import re
import signal
import tempfile
import uuid

import redis
import sqlalchemy as sa

from tests.functional.rpc import harness

ADMIN_URLS = ('postgresql+psycopg2://root@127.0.0.1:5432/test',
              'postgresql+psycopg2://postgres@127.0.0.1:5432/test')
REDIS = 'redis://127.0.0.1:6379'


@contextlib.contextmanager
def fresh_postgresql():
    """The URL of a new empty PostgreSQL database, dropped on exit."""
    name = 'bench_%s' % uuid.uuid4().hex[:12]
    errors = []
    for admin in os.environ.get('MO_BENCH_POSTGRESQL_ADMIN_URL',
                                ' '.join(ADMIN_URLS)).split():
        engine = sa.create_engine(admin, isolation_level='AUTOCOMMIT')
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql('CREATE DATABASE %s' % name)
            break
        except sa.exc.OperationalError as e:
            errors.append(str(e).splitlines()[0])
            engine.dispose()
    else:
        raise RuntimeError('no PostgreSQL admin URL works: %s' % errors)
    try:
        yield str(engine.url.set(database=name).render_as_string(
            hide_password=False))
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(
                'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                "WHERE datname = '%s' AND pid <> pg_backend_pid()" % name)
            conn.exec_driver_sql('DROP DATABASE IF EXISTS %s' % name)
        engine.dispose()


class Cluster:
    """Conductor processes sharing one database, board and broker."""

    def __init__(self, workdir, broker_url, db_url, board):
        self.workdir = workdir
        self.broker_url = broker_url
        self.db_url = db_url
        self.board = board
        self.procs = []
        self._synced = False
        self._api = None

    def start(self, count, prefix, expiry=10.0, workers=16, delay=0.0,
              transfer=0.0, limits=None, poll=0.1):
        """``count`` conductors named ``<prefix>-<i>``, started."""
        procs = []
        for i in range(count):
            proc = harness.ConductorProcess(
                self.workdir, self.broker_url, self.db_url,
                host='%s-%d' % (prefix, i),
                DEFAULT={'debug': False, 'shutdown_timeout': 5},
                jobboard={'backend': REDIS, 'board_name': self.board,
                          'claim_expiry': expiry,
                          'renew_interval': expiry / 5.0,
                          'workers': workers, 'poll_interval': poll},
                conductor={'max_concurrent_moves': workers},
                limits=dict({'max_outbound_live_per_host': 0,
                             'max_outbound_per_host': 0,
                             'max_inbound_per_host': 0}, **(limits or {})),
                fake_driver={'operation_delay': delay, 'faults': '',
                             'transfer_time': transfer})
            if not self._synced:
                proc.db_sync()
                self._synced = True
            procs.append(proc)
        for proc in procs:
            proc.start(timeout=120)
        self.procs.extend(procs)
        return procs

    @property
    def services(self):
        return self.procs[0].services

    @property
    def api(self):
        if self._api is None:
            self._api = harness.client(self.broker_url, timeout=60)
        return self._api

    @staticmethod
    def runner_pid(proc):
        return int(re.findall(r'Moves run in process (\d+)',
                              proc.log_text())[-1])

    def kill(self, proc):
        """SIGKILL the whole conductor: its move runner, then itself."""
        os.kill(self.runner_pid(proc), signal.SIGKILL)
        proc.stop(signal.SIGKILL)

    def stop(self, procs=None):
        for proc in list(procs or self.procs):
            try:
                proc.stop(timeout=60)
            except Exception:   # noqa: B902 - killed by stop(); go on
                pass
            with contextlib.suppress(ValueError):
                self.procs.remove(proc)


@contextlib.contextmanager
def cluster():
    """A Cluster on a fresh database, board and virtual host."""
    board = 'mo-bench-%s' % uuid.uuid4().hex[:12]
    with tempfile.TemporaryDirectory(prefix='mo-bench-') as workdir, \
            fresh_postgresql() as db_url, \
            harness.private_vhost() as broker_url:
        c = Cluster(workdir, broker_url, db_url, board)
        try:
            yield c
        finally:
            c.stop()
            if c._api is not None:
                c._api.cleanup()
            for proc in list(harness._PROCESSES):
                proc.kill()
            for db in _databases(c):
                db.dispose()
            client = redis.Redis.from_url(REDIS)
            for key in client.scan_iter(board + '*'):
                client.delete(key)
            client.close()


def _databases(c):
    from move_orchestrator.db import session
    return [db for url, db in list(session._DATABASES.items())
            if url == c.db_url]
