"""Engines and sessions, one Database per connection URL.

oslo.db builds the engine (error translation into DBDeadlock and friends,
MySQL sql_mode, pool settings). On SQLite we add WAL, a busy timeout and
``BEGIN IMMEDIATE``: with several moves writing at once, a deferred
transaction that reads and then writes fails at once with "database is
locked" instead of waiting its turn.
"""

import contextlib
import threading

from oslo_db import api as oslo_db_api
from oslo_db.sqlalchemy import engines
import sqlalchemy as sa
from sqlalchemy import orm

from move_orchestrator.conf import CONF

SQLITE_BUSY_TIMEOUT_MS = 60000

_LOCK = threading.Lock()
_DATABASES = {}

# Retry a whole write transaction on a deadlock or lost connection.
retry_on_deadlock = oslo_db_api.wrap_db_retry(
    max_retries=10, retry_interval=0.05, inc_retry_interval=True,
    max_retry_interval=1, retry_on_deadlock=True)


def _setup_sqlite(engine):
    @sa.event.listens_for(engine, 'connect')
    def _pragmas(dbapi_con, con_record):
        dbapi_con.execute('PRAGMA busy_timeout = %d' % SQLITE_BUSY_TIMEOUT_MS)
        if engine.url.database and engine.url.database != ':memory:':
            dbapi_con.execute('PRAGMA journal_mode = WAL')
        dbapi_con.execute('PRAGMA synchronous = NORMAL')
        dbapi_con.execute('PRAGMA foreign_keys = ON')

    @sa.event.listens_for(engine, 'begin', insert=True)
    def _begin_immediate(conn):
        if 'in_transaction' not in conn.info:
            conn.exec_driver_sql('BEGIN IMMEDIATE')
            conn.info['in_transaction'] = True


class Database:
    def __init__(self, url):
        self.url = url
        self.engine = engines.create_engine(
            url, sqlite_fk=True, max_pool_size=20, max_overflow=20,
            thread_checkin=False)
        if self.engine.dialect.name == 'sqlite':
            _setup_sqlite(self.engine)
        self._sessionmaker = orm.sessionmaker(bind=self.engine,
                                              expire_on_commit=False)

    @contextlib.contextmanager
    def session(self):
        """One transaction: committed on success, rolled back on error."""
        with self._sessionmaker() as session:
            with session.begin():
                yield session

    def dispose(self):
        self.engine.dispose()


def get_database(url=None):
    url = url or CONF.database.connection
    with _LOCK:
        db = _DATABASES.get(url)
        if db is None:
            db = _DATABASES[url] = Database(url)
        return db


def reset():
    """Forget every engine (tests, and a process after fork)."""
    with _LOCK:
        for db in _DATABASES.values():
            db.dispose()
        _DATABASES.clear()
