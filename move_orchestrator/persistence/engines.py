"""The engine of the TaskFlow backend: the project's own, per URL.

TaskFlow opens a backend connection for every save, so everything that can
be paid once is paid once: the engine, its pool of open DBAPI connections
and the per-connection settings (SQLite: WAL, ``synchronous=NORMAL``, a busy
timeout, ``BEGIN IMMEDIATE``, one writer at a time per process). Those are
:mod:`move_orchestrator.db.session`'s; this module only names them for the
backend.
"""

from move_orchestrator.db import session as db_session

# Execution option: the transaction only reads. On SQLite it begins deferred
# and takes no writer lock (WAL readers never wait); other databases ignore
# it.
READ_ONLY = db_session.READ_ONLY


def get_engine(url):
    """The process's engine for url (shared with the rest of the project)."""
    return db_session.get_database(url).engine


def create_engine(url):
    """A new engine of its own, with the same settings (tests: a second
    pool on the same database, as another process would have)."""
    return db_session.Database(url).engine


def dispose_all():
    """Forget every cached engine (tests; a child process after fork)."""
    db_session.reset()
