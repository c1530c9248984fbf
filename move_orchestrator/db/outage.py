"""Storage outages: told apart from other errors, waited out by moves,
reported in one line.

A database that cannot be reached (refused, restarted, a connection cut)
or cannot take a write (disk full) is an outage of the storage, not a
failure of the move that tried to write: a thread that runs moves (inside
:func:`waiting`) waits until the storage is back and carries on, retrying
with backoff; anyone else (an RPC read, a CLI command) gets
``StorageUnavailable`` at once, a one-line typed error with the cause.

While it waits, the cause is logged as the first line of a warning, at
most once per cause every ``[conductor] storage_log_interval`` seconds,
and :func:`current` tells what this process waits for (the task documents
it serves show it).
"""

import contextlib
import sqlite3
import threading
import time

from oslo_db import exception as db_exc
from oslo_log import log as logging
from sqlalchemy import exc as sa_exc
import tenacity

from move_orchestrator.conf import CONF
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

# SQLite result codes (primary) of a storage that cannot take the write.
_SQLITE_UNAVAILABLE = {
    13: 'database or disk is full',      # SQLITE_FULL
    10: 'disk I/O error',                # SQLITE_IOERR
    14: 'unable to open database file',  # SQLITE_CANTOPEN
}
# PostgreSQL SQLSTATE classes and codes of an unavailable server.
_PG_CLASSES = {'08': 'connection failure', '57': 'server shutting down',
               '53': 'insufficient resources'}
_PG_CODES = {'53100': 'disk full', '53200': 'out of memory',
             '53300': 'too many connections', '57P01': 'admin shutdown',
             '57P03': 'cannot connect now'}
# MySQL/MariaDB error numbers of an unavailable server.
_MYSQL_CODES = {1021: 'disk full', 1114: 'table is full',
                1040: 'too many connections', 2002: 'cannot connect',
                2003: 'cannot connect', 2006: 'server has gone away',
                2013: 'lost connection', 1053: 'server shutdown'}

_local = threading.local()
_state_lock = threading.Lock()
_waits = {}           # cause -> [since (wall clock), waiting threads]
_last_logged = {}     # cause -> monotonic time of its last log line


def _chain(error):
    """The error and everything it was raised from (TaskFlow keeps the
    cause of a StorageFailure in ``.cause``)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        nxt = getattr(error, 'cause', None)
        if not isinstance(nxt, BaseException):
            nxt = error.__cause__ or error.__context__
        error = nxt


def _driver_cause(orig):
    """The cause of a DB-API error if it means an unavailable storage."""
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, 'sqlite_errorcode', None)
        return _SQLITE_UNAVAILABLE.get(code & 0xff if code else None)
    pgcode = getattr(orig, 'pgcode', None)
    module = type(orig).__module__ or ''
    if module.startswith('psycopg'):
        if pgcode is None:
            # No SQLSTATE: the client library lost (or never had) the
            # connection.
            return ('connection failed'
                    if type(orig).__name__ in ('OperationalError',
                                               'InterfaceError') else None)
        return _PG_CODES.get(pgcode) or _PG_CLASSES.get(pgcode[:2])
    if module.startswith('pymysql') and orig.args:
        return _MYSQL_CODES.get(orig.args[0])
    return None


def unavailable_cause(error):
    """A short cause if ``error`` means the storage is unavailable, else
    None. Matched by type and error code, never by message."""
    for e in _chain(error):
        if isinstance(e, exception.StorageUnavailable):
            return e.kwargs.get('cause') or 'unavailable'
        if isinstance(e, db_exc.DBConnectionError):
            return 'connection failed'
        if isinstance(e, (sa_exc.DisconnectionError,
                          sa_exc.InvalidatePoolError)):
            return 'connection failed'
        if isinstance(e, sa_exc.DBAPIError):
            cause = _driver_cause(e.orig)
            if cause is not None:
                return cause
            if e.connection_invalidated:
                return 'connection failed'
        if isinstance(e, (sqlite3.Error, OSError)) or \
                type(e).__module__.startswith(('psycopg', 'pymysql')):
            cause = _driver_cause(e) if not isinstance(e, OSError) else None
            if cause is not None:
                return cause
    return None


def _detail(error):
    """The deepest message of the chain, on one line: what the driver
    said (the URL's password is never part of it)."""
    said = None
    for e in _chain(error):
        orig = getattr(e, 'orig', None)
        for each in (orig, e):
            text = ' '.join(str(each).split()) if each is not None else ''
            if text and text != '()':
                said = text     # the deepest one that says something
                break
    return (said or type(error).__name__)[:300]


def typed(error):
    """``StorageUnavailable`` for an outage error (else None)."""
    cause = unavailable_cause(error)
    if cause is None:
        return None
    if isinstance(error, exception.StorageUnavailable):
        return error
    return exception.StorageUnavailable(cause=cause, detail=_detail(error))


@contextlib.contextmanager
def raising_typed():
    """Turn an outage error raised inside into ``StorageUnavailable``."""
    try:
        yield
    except exception.StorageUnavailable:
        raise
    except Exception as e:
        unavailable = typed(e)
        if unavailable is None:
            raise
        raise unavailable from e


# -- waiting ---------------------------------------------------------------

@contextlib.contextmanager
def waiting():
    """Mark this thread as one that waits outages out (it runs moves)."""
    before = getattr(_local, 'waits', False)
    _local.waits = True
    try:
        yield
    finally:
        _local.waits = before


def waits():
    return getattr(_local, 'waits', False)


def current():
    """What this process's moves wait for now: (cause, since) or None."""
    with _state_lock:
        if not _waits:
            return None
        cause, entry = min(_waits.items(), key=lambda kv: kv[1][0])
        return cause, entry[0]


def _log_interval():
    try:
        return CONF.conductor.storage_log_interval
    except Exception:   # noqa: B902 - options not registered (a tool)
        return 30.0


def _max_interval():
    try:
        return CONF.conductor.storage_retry_max_interval
    except Exception:   # noqa: B902 - options not registered (a tool)
        return 5.0


def _begin_wait(cause, error, what):
    with _state_lock:
        entry = _waits.setdefault(cause, [time.time(), 0, False])
        entry[1] += 1
        now = time.monotonic()
        # Rate limited per cause, across short outages in a row too.
        due = now - _last_logged.get(cause, -1e9) >= _log_interval()
        if due:
            _last_logged[cause] = now
            entry[2] = True
    if due:
        LOG.warning('Storage unavailable (%s): %s waits until it is back, '
                    'retrying with backoff; the database said: %s',
                    cause, what, _detail(error))


def _end_wait(cause, what):
    with _state_lock:
        entry = _waits.get(cause)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        since, _count, logged = entry
        del _waits[cause]
    if logged:
        LOG.warning('Storage available again (%s) after %.0f s: %s carries '
                    'on', cause, time.time() - since, what)


# The first wait after a failure; then twice as long each time, up to
# [conductor] storage_retry_max_interval.
_FIRST_WAIT = 0.1


def call(func, *args, what='a move', **kwargs):
    """``func(*args, **kwargs)``; an outage is waited out in a waiting
    thread (retried with backoff until it is over), raised as
    ``StorageUnavailable`` elsewhere."""
    if not waits():
        with raising_typed():
            return func(*args, **kwargs)
    # Almost every call succeeds at once: the first attempt is a plain
    # call, and only a failed one enters tenacity (its Retrying and
    # per-call state cost more than many a query, on every read of a move).
    try:
        return func(*args, **kwargs)
    except Exception as e:
        if unavailable_cause(e) is None:
            raise
        first = e
    return _wait_out(first, func, args, kwargs, what)


def _wait_out(first, func, args, kwargs, what):
    """Retry ``func`` with backoff after its first attempt failed with
    ``first``, an outage, until it is over."""
    waited = []

    def _note(error):
        cause = unavailable_cause(error)
        if not waited or waited[-1] != cause:
            if waited:
                _end_wait(waited.pop(), what)
            waited.append(cause)
            _begin_wait(cause, error, what)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(
            lambda e: unavailable_cause(e) is not None),
        # Attempt n waits 2 ** n x the first wait (the first was 1 x).
        wait=tenacity.wait_exponential(multiplier=2 * _FIRST_WAIT,
                                       min=_FIRST_WAIT,
                                       max=_max_interval()),
        before_sleep=lambda state: _note(state.outcome.exception()),
        reraise=True)
    try:
        _note(first)
        time.sleep(_FIRST_WAIT)
        return retrying(func, *args, **kwargs)
    finally:
        if waited:
            _end_wait(waited.pop(), what)


def waited_out(what):
    """Decorator: :func:`call` with ``what`` (who waits) for the log."""
    def decorator(func):
        def wrapper(*args, **kwargs):
            return call(func, *args, what=what, **kwargs)
        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        wrapper.__wrapped__ = func
        return wrapper
    return decorator
