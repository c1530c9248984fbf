"""One SQLAlchemy engine per process and URL for the TaskFlow backend.

TaskFlow opens a backend connection for every save, so everything that can
be paid once is paid once: the engine, its pool of open DBAPI connections
(the stock backend uses NullPool on SQLite, reopening the file each time)
and the per-connection settings. SQLite gets WAL, ``synchronous=NORMAL``
(survives a process kill; may lose the last commits on power loss), a busy
timeout and ``BEGIN IMMEDIATE`` for writes so that concurrent writers wait
for the lock instead of failing with "database is locked".
"""

import os
import threading

import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

SQLITE_BUSY_TIMEOUT_MS = 60000
# Execution option: the transaction only reads (SQLite: plain deferred BEGIN).
READ_ONLY = 'mo_tf_read_only'

_LOCK = threading.Lock()
_ENGINES = {}


def _sqlite_in_memory(url):
    return url.database in (None, '', ':memory:')


def _setup_sqlite(engine, in_memory):
    @sa.event.listens_for(engine, 'connect')
    def _connect(dbapi_con, con_record):
        # Let us emit BEGIN ourselves (pysqlite's own is a deferred BEGIN).
        dbapi_con.isolation_level = None
        dbapi_con.execute('PRAGMA busy_timeout = %d' % SQLITE_BUSY_TIMEOUT_MS)
        if not in_memory:
            dbapi_con.execute('PRAGMA journal_mode = WAL')
        dbapi_con.execute('PRAGMA synchronous = NORMAL')
        dbapi_con.execute('PRAGMA foreign_keys = ON')

    # SQLite's busy handler sleeps in growing steps (up to 100 ms) while
    # another connection writes; threads of this process queue on a lock
    # instead and get the database at once. Other processes still wait
    # through busy_timeout.
    lock = threading.RLock()

    @sa.event.listens_for(engine, 'checkout')
    def _checkout(dbapi_con, con_record, con_proxy):
        lock.acquire()

    @sa.event.listens_for(engine, 'checkin')
    def _checkin(dbapi_con, con_record):
        lock.release()

    @sa.event.listens_for(engine, 'begin')
    def _begin(conn):
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql('BEGIN')
        else:
            conn.exec_driver_sql('BEGIN IMMEDIATE')


def create_engine(url, **engine_args):
    """A new engine tuned for many small transactions."""
    url = sa.engine.make_url(url)
    if url.get_backend_name() == 'sqlite':
        in_memory = _sqlite_in_memory(url)
        args = {'connect_args': {'check_same_thread': False}}
        if in_memory:
            args['poolclass'] = sa_pool.StaticPool
        else:
            args.update(poolclass=sa_pool.QueuePool, pool_size=5,
                        max_overflow=20)
        args.update(engine_args)
        engine = sa.create_engine(url, **args)
        _setup_sqlite(engine, in_memory)
        return engine
    args = {'pool_size': 5, 'max_overflow': 20, 'pool_recycle': 3600,
            'isolation_level': 'READ COMMITTED'}
    args.update(engine_args)
    return sa.create_engine(url, **args)


def get_engine(url):
    """The shared engine of this process for ``url`` (a new one after fork)."""
    key = (str(url), os.getpid())
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = create_engine(url)
        return engine


def dispose_all():
    """Forget every cached engine (tests; a child process after fork)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
