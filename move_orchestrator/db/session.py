"""Engines and sessions, one Database per connection URL.

oslo.db builds the PostgreSQL and MySQL engines (error translation into
DBDeadlock and friends, sql_mode, pool settings). SQLite gets an engine of
its own making, see _create_sqlite_engine.
"""

import contextlib
import threading

from oslo_db import api as oslo_db_api
from oslo_db.sqlalchemy import engines
from oslo_db.sqlalchemy import exc_filters
import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy import pool as sa_pool

from move_orchestrator.conf import CONF
from move_orchestrator.db import outage

SQLITE_BUSY_TIMEOUT_MS = 60000

_LOCK = threading.Lock()
_DATABASES = {}
# Execution option of a transaction that only reads (see Database.reader).
READ_ONLY = 'mo_read_only'
_LOCKS_HELD = 'mo_writer_locks'

# Retry a whole write transaction on a deadlock or lost connection.
retry_on_deadlock = oslo_db_api.wrap_db_retry(
    max_retries=10, retry_interval=0.05, inc_retry_interval=True,
    max_retry_interval=1, retry_on_deadlock=True)


def _create_sqlite_engine(url):
    """SQLite: pooled connections, one writer at a time per process.

    SQLite allows one writer; left to its busy handler, threads that wait
    for the lock sleep in growing steps and a read that turns into a write
    fails outright. Serialising the process's write transactions on a lock
    hands the database over at once; other processes still wait through
    busy_timeout, and BEGIN IMMEDIATE makes their writes queue, not fail.
    Read-only transactions (:meth:`Database.reader`, or the
    :data:`READ_ONLY` execution option) begin deferred and take no lock:
    in WAL mode a reader sees the last commit and never waits for the
    writer. An in-memory database is one shared connection, so there every
    transaction takes the lock.
    """
    parsed = sa.engine.make_url(url)
    in_memory = parsed.database in (None, '', ':memory:')
    pool_args = ({'poolclass': sa_pool.StaticPool} if in_memory else
                 {'poolclass': sa_pool.QueuePool, 'pool_size': 4,
                  'max_overflow': 16})
    engine = sa.create_engine(
        url, connect_args={'check_same_thread': False,
                           'timeout': SQLITE_BUSY_TIMEOUT_MS / 1000.0},
        **pool_args)
    exc_filters.register_engine(engine)
    lock = threading.RLock()

    @sa.event.listens_for(engine, 'connect')
    def _pragmas(dbapi_con, con_record):
        dbapi_con.isolation_level = None   # we emit BEGIN ourselves
        dbapi_con.execute('PRAGMA busy_timeout = %d' % SQLITE_BUSY_TIMEOUT_MS)
        if not in_memory:
            dbapi_con.execute('PRAGMA journal_mode = WAL')
        dbapi_con.execute('PRAGMA synchronous = NORMAL')
        dbapi_con.execute('PRAGMA foreign_keys = ON')

    if in_memory:
        @sa.event.listens_for(engine, 'checkout')
        def _checkout(dbapi_con, con_record, con_proxy):
            lock.acquire()
            con_record.info[_LOCKS_HELD] = 1

    @sa.event.listens_for(engine, 'begin')
    def _begin(conn):
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql('BEGIN')
            return
        if not in_memory:
            lock.acquire()
            conn.info[_LOCKS_HELD] = conn.info.get(_LOCKS_HELD, 0) + 1
        conn.exec_driver_sql('BEGIN IMMEDIATE')

    @sa.event.listens_for(engine, 'checkin')
    def _checkin(dbapi_con, con_record):
        for _ in range(con_record.info.pop(_LOCKS_HELD, 0)):
            lock.release()

    return engine


def _limit_idle_transactions(dbapi_con, _record):
    """Let the server end a session idle in a transaction for too long
    ([conductor] idle_transaction_timeout): a frozen process's row locks
    would otherwise hold up every other conductor until it wakes."""
    seconds = CONF.conductor.idle_transaction_timeout
    if not seconds:
        return
    module = type(dbapi_con).__module__
    cursor = dbapi_con.cursor()
    try:
        if module.startswith('psycopg'):
            cursor.execute('SET idle_in_transaction_session_timeout = %d'
                           % (seconds * 1000))
        elif module.startswith('pymysql'):
            cursor.execute("SELECT @@version_comment LIKE '%mariadb%' "
                           "OR @@version LIKE '%MariaDB%'")
            if cursor.fetchone()[0]:
                cursor.execute('SET SESSION idle_transaction_timeout = %d'
                               % seconds)
    finally:
        cursor.close()
    dbapi_con.commit()


class Database:
    def __init__(self, url):
        self.url = url
        if sa.engine.make_url(url).drivername.startswith('sqlite'):
            self.engine = _create_sqlite_engine(url)
        else:
            self.engine = engines.create_engine(
                url, max_pool_size=20, max_overflow=20, thread_checkin=False)
            sa.event.listen(self.engine, 'connect', _limit_idle_transactions)
            # oslo.db opened a first connection to test the URL, before the
            # listener: not one to keep.
            self.engine.dispose()
        self._sessionmaker = orm.sessionmaker(bind=self.engine,
                                              expire_on_commit=False)
        self._read_engine = self.engine.execution_options(
            **{READ_ONLY: True})
        self._readermaker = orm.sessionmaker(bind=self._read_engine)

    @staticmethod
    def _connected(maker, begin):
        """A session holding its connection. The database being down at
        this point (nothing done yet) is waited out by a thread that runs
        moves, see db/outage.py; anyone else gets StorageUnavailable."""
        def _open():
            session = maker()
            try:
                txn = session.begin() if begin else None
                session.connection()
            except BaseException:
                session.close()
                raise
            return session, txn
        return outage.call(_open, what='a database transaction')

    @contextlib.contextmanager
    def session(self):
        """One transaction: committed on success, rolled back on error.
        An outage in it raises StorageUnavailable (db/outage.py)."""
        session, txn = self._connected(self._sessionmaker, True)
        with outage.raising_typed(), session, txn:
            yield session

    @contextlib.contextmanager
    def reader(self):
        """A transaction that only reads: rolled back at the end.

        It takes no writer lock on SQLite and commits nothing: whatever is
        written through it is rolled back (or, on SQLite, may fail as
        "database is locked"), so use :meth:`session` for anything that
        may write.
        """
        session, _txn = self._connected(self._readermaker, False)
        with outage.raising_typed(), session:
            yield session

    def _core(self, engine):
        """A Core connection in a new transaction; the database being down
        at this point is waited out as in :meth:`_connected`."""
        def _open():
            conn = engine.connect()
            try:
                return conn, conn.begin()
            except BaseException:
                conn.close()
                raise
        return outage.call(_open, what='a database transaction')

    @contextlib.contextmanager
    def write(self):
        """As :meth:`session`, on a Core connection: for writes of rows
        (Core statements), without an ORM unit of work."""
        conn, txn = self._core(self.engine)
        with outage.raising_typed(), conn, txn:
            yield conn

    @contextlib.contextmanager
    def read(self):
        """As :meth:`reader`, on a Core connection: for reads of rows (Core
        selects), where an ORM session's setup would cost more than the
        query. Rolled back when it closes."""
        conn, _txn = self._core(self._read_engine)
        with outage.raising_typed(), conn:
            yield conn

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
