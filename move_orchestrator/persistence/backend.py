"""A fast, crash-safe TaskFlow persistence backend on SQLAlchemy.

The stock backend reads and merges the whole row (and, for a flow detail,
every atom row) before each save, rebuilds its table metadata and, on SQLite,
reopens the database file for every save. This backend keeps its guarantee
(every save is committed before the engine moves on, so resume after a kill
behaves the same) while doing the least work per save:

* one engine per process and URL, one module-level metadata, pooled
  connections (see :mod:`.engines`);
* a save writes only the rows that changed, with a plain ``UPDATE ... WHERE
  uuid`` (no read-and-merge). What was last committed is remembered per
  backend, so a flow detail save skips its unchanged atoms. That memory
  assumes one writer per flow detail at a time, which TaskFlow's job claims
  (or a single engine) ensure;
* only the saves that come before a side effect are committed on their own;
  the others ride along with the flow detail's next commit, so one step
  costs one commit (see :mod:`.batching`).

Save hooks (:meth:`Backend.add_save_hook`) let the project write its own rows
in the same transaction as an atom detail, and keep in memory what they wrote
only once it committed (:meth:`.save.Save.after_commit`).
"""

import contextlib
import threading

from oslo_db import api as oslo_db_api
from oslo_db import exception as db_exc
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from taskflow import exceptions as exc
from taskflow.persistence import base
from taskflow.persistence import models

from move_orchestrator.persistence import batching
from move_orchestrator.persistence import engines
from move_orchestrator.persistence import reads
from move_orchestrator.persistence.save import Save
from move_orchestrator.persistence import tables as t

# A database resolves a deadlock by failing one of the transactions, which
# must then run again (MariaDB does, for concurrent first logbook saves).
_retry_on_deadlock = oslo_db_api.wrap_db_retry(
    max_retries=10, retry_interval=0.01, inc_retry_interval=True,
    max_retry_interval=0.5, retry_on_deadlock=True)


class Backend(base.Backend):
    """TaskFlow backend: ``Backend({'connection': url})`` or with ``engine=``.

    A passed engine is used as is and never disposed: on SQLite it must
    already begin write transactions with ``BEGIN IMMEDIATE`` (as
    :mod:`move_orchestrator.db.session` does).
    """

    def __init__(self, conf=None, engine=None):
        super().__init__(conf)
        if engine is None:
            engine = engines.get_engine(self._conf['connection'])
        self._engine = engine
        self._cache = batching.Cache()
        self._hooks = []
        self._flow_hooks = []
        self._guards = []
        self._validated = False
        self._upgrade_lock = threading.Lock()

    @property
    def engine(self):
        return self._engine

    def add_save_hook(self, hook):
        """Call ``hook(save, atom_detail, flow_uuid)`` on atom writes.

        It runs inside the transaction that writes the atom detail row
        (insert or update, including a deferred progress write when it is
        flushed); ``save`` is that transaction (:class:`.save.Save`): rows written
        through ``save.connection`` commit or roll back together with the
        atom. An exception it raises rolls the save back and reaches the
        engine (or the retry of a backend that waits outages out).
        """
        self._hooks.append(hook)

    def remove_save_hook(self, hook):
        self._hooks.remove(hook)

    def add_flow_hook(self, hook):
        """Call ``hook(save, flow_detail)`` when a flow detail is written on
        its own (not deferred), inside that transaction (:class:`.save.Save`): a
        flow's end state, say, with what must commit with it."""
        self._flow_hooks.append(hook)

    def add_write_guard(self, guard):
        """Call ``guard(connection, flow_uuid)`` first in every transaction
        that writes a flow detail or its atoms; an exception it raises
        (a fenced write, say) rolls the save back and reaches the engine."""
        self._guards.append(guard)

    def get_connection(self):
        conn = Connection(self)
        if not self._validated:
            conn.validate()
            self._validated = True
        return conn

    def close(self):
        """Write deferred progress; the (shared) engine stays open."""
        with self._cache.lock:
            fd_uuids = list(self._cache.pending)
        conn = Connection(self)
        for fd_uuid in fd_uuids:
            try:
                with conn._write() as txn:
                    conn._flush_pending(txn, fd_uuid)
            except Exception:   # noqa: B902 - deferred progress: may be lost
                with self._cache.lock:
                    self._cache.pending.pop(fd_uuid, None)
        self._validated = False


class Connection(reads.Reads, base.Connection):
    """Cheap to make: TaskFlow opens one for every save."""

    def __init__(self, backend):
        self._backend = backend
        self._engine = backend.engine
        self._cache = backend._cache

    @property
    def backend(self):
        return self._backend

    def close(self):
        pass

    def validate(self):
        try:
            with self._engine.connect():
                pass
        except sa_exc.SQLAlchemyError:
            exc.raise_with_cause(exc.StorageFailure, 'Cannot connect')

    def upgrade(self):
        """Create the ``tf_*`` tables if missing (racing creators retry)."""
        with self._backend._upgrade_lock:
            for attempt in range(3):
                try:
                    with self._engine.begin() as conn:
                        t.metadata.create_all(conn, checkfirst=True)
                    return
                except sa_exc.SQLAlchemyError:
                    if attempt == 2:
                        exc.raise_with_cause(exc.StorageFailure,
                                             'Failed upgrading database')

    # -- transactions -----------------------------------------------------

    @contextlib.contextmanager
    def _write(self):
        txn = None
        try:
            with self._engine.begin() as conn:
                txn = Save(conn)
                yield txn
        except sa_exc.SQLAlchemyError:
            exc.raise_with_cause(exc.StorageFailure, 'Failed saving')
        with self._cache.lock:
            for apply in txn.on_commit:
                apply()
        txn.committed()

    @contextlib.contextmanager
    def _read(self):
        try:
            # Rolled back when the connection closes: nothing to commit.
            with self._engine.connect() as conn:
                yield conn.execution_options(**{engines.READ_ONLY: True})
        except sa_exc.SQLAlchemyError:
            exc.raise_with_cause(exc.StorageFailure, 'Failed reading')

    def _guard(self, txn, fd_uuid):
        if fd_uuid is None or fd_uuid in txn.guarded:
            return
        txn.guarded.add(fd_uuid)
        try:
            for guard in self._backend._guards:
                guard(txn.connection, fd_uuid)
        except (sa_exc.SQLAlchemyError, db_exc.DBError):
            raise           # the database failed, not the guard: retried
        except Exception:   # noqa: B902 - re-raised
            # Refused (a lost claim): the flow's deferred saves are no longer
            # this process's to write, and what it remembers of the flow may
            # no longer be what the database holds once another writer took
            # over. Dropped, so a later run reads the database's rows.
            with self._cache.lock:
                self._cache.pending.pop(fd_uuid, None)
                self._cache.forget_flow(fd_uuid)
            raise

    def _run_hooks(self, txn, ad, fd_uuid):
        for hook in self._backend._hooks:
            hook(txn, ad, fd_uuid)

    # -- writes -----------------------------------------------------------

    @_retry_on_deadlock
    def clear_all(self):
        with self._write() as txn:
            for table in (t.atomdetails, t.flowdetails, t.logbooks):
                txn.connection.execute(table.delete())
        self._cache.clear()
        with self._cache.lock:
            self._cache.pending.clear()

    @_retry_on_deadlock
    def destroy_logbook(self, book_uuid):
        fds = sa.select(t.flowdetails.c.uuid).where(
            t.flowdetails.c.parent_uuid == book_uuid)
        with self._write() as txn:
            # Explicit: SQLite cascades only with PRAGMA foreign_keys=ON.
            txn.connection.execute(t.atomdetails.delete().where(
                t.atomdetails.c.parent_uuid.in_(fds)))
            txn.connection.execute(t.flowdetails.delete().where(
                t.flowdetails.c.parent_uuid == book_uuid))
            r = txn.connection.execute(t.logbooks.delete().where(
                t.logbooks.c.uuid == book_uuid))
            if not r.rowcount:
                raise exc.NotFound("No logbook found with uuid '%s'" % book_uuid)
        self._cache.clear()

    @_retry_on_deadlock
    def save_logbook(self, book):
        row = t.book_row(book)
        with self._write() as txn:
            r = txn.connection.execute(t.UPDATE_BOOK, dict(row, b_uuid=book.uuid))
            if not r.rowcount:
                txn.connection.execute(t.logbooks.insert().values(uuid=book.uuid, **row))
            for fd in book:
                self._save_flow(txn, fd, book.uuid)
        return book

    @_retry_on_deadlock
    def update_flow_details(self, flow_detail):
        if self._cache.defer_flow(flow_detail):
            return flow_detail
        with self._write() as txn:
            self._save_flow(txn, flow_detail, None)
        if flow_detail.state in batching.TERMINAL_FLOW_STATES:
            with self._cache.lock:
                if flow_detail.uuid not in self._cache.pending:
                    self._cache.forget_flow(flow_detail.uuid)
        return flow_detail

    @_retry_on_deadlock
    def update_atom_details(self, atom_detail):
        ad = atom_detail
        row = t.atom_row(ad)
        deferred, fd_uuid = self._cache.defer_atom(ad, row)
        if deferred:
            return ad
        with self._write() as txn:
            if fd_uuid is None and (self._backend._hooks
                                    or self._backend._guards):
                fd_uuid = txn.connection.execute(
                    sa.select(t.atomdetails.c.parent_uuid).where(
                        t.atomdetails.c.uuid == ad.uuid)).scalar()
            self._guard(txn, fd_uuid)
            if fd_uuid is not None:
                self._flush_pending(txn, fd_uuid)
            self._update_atom(txn, ad, row, fd_uuid)
        return ad

    def _update_atom(self, txn, ad, row, fd_uuid):
        r = txn.connection.execute(t.UPDATE_ATOM, dict(row, b_uuid=ad.uuid))
        if not r.rowcount:
            raise exc.NotFound("No atom details found with uuid '%s'" % ad.uuid)
        self._run_hooks(txn, ad, fd_uuid)
        if fd_uuid is not None:
            txn.on_commit.append(lambda: self._remember_atom(fd_uuid, ad.uuid, row))

    def _remember_atom(self, fd_uuid, ad_uuid, row):
        # Called with the cache lock held, after the commit.
        if ad_uuid in self._cache.children.get(fd_uuid, ()):
            self._cache.atoms[ad_uuid] = (fd_uuid, row)

    def _flush_pending(self, txn, fd_uuid):
        """Write the deferred saves of one flow detail, in their order.

        The database gets the latest row of each; the hooks see every
        deferred save, as they would have without deferring.
        """
        entries = self._cache.pending_entries(fd_uuid)
        if not entries:
            return
        # Deferred saves are writes of the flow like any other: fenced in
        # the transaction that finally writes them.
        self._guard(txn, fd_uuid)
        latest = {}
        for entry in entries:
            latest[entry[0]] = entry[1]
        for ad_uuid, row in latest.items():
            if ad_uuid is None:
                txn.connection.execute(t.UPDATE_FLOW, dict(row, b_uuid=fd_uuid))
            else:
                txn.connection.execute(t.UPDATE_ATOM, dict(row, b_uuid=ad_uuid))
        for ad_uuid, _row, ad, _progress in entries:
            if ad_uuid is not None:
                self._run_hooks(txn, ad, fd_uuid)
        txn.on_commit.append(
            lambda: self._cache.flushed(fd_uuid, entries))

    def _save_flow(self, txn, fd, book_uuid):
        """Update (or, below a logbook, insert) a flow detail and its atoms."""
        cache = self._cache
        row = t.flow_row(fd)
        self._guard(txn, fd.uuid)
        with cache.lock:
            old = cache.flows.get(fd.uuid)
            complete = fd.uuid in cache.complete
            known = {ad.uuid: cache.atoms.get(ad.uuid, (None, None))[1] for ad in fd}
        if old != row:
            r = txn.connection.execute(t.UPDATE_FLOW, dict(row, b_uuid=fd.uuid))
            if not r.rowcount:
                if book_uuid is None:
                    raise exc.NotFound("No flow details found with uuid '%s'" % fd.uuid)
                txn.connection.execute(t.flowdetails.insert().values(
                    uuid=fd.uuid, parent_uuid=book_uuid, **row))
                complete = True
        self._flush_pending(txn, fd.uuid)
        if not complete:
            # First sight of this flow detail: learn which atoms exist.
            known.update(self._load_atom_rows(txn.connection, fd.uuid))
        if complete and any(known.get(ad.uuid) is None for ad in fd):
            # Atoms this process never wrote: another conductor may have,
            # while it ran the move. Ask the database, not the memory.
            known.update(self._load_atom_rows(txn.connection, fd.uuid))
        inserts = []
        written = {}
        for ad in fd:
            ad_row = t.atom_row(ad)
            old_ad = known.get(ad.uuid)
            if old_ad is None:
                inserts.append((ad, dict(ad_row, uuid=ad.uuid, parent_uuid=fd.uuid,
                                         atom_type=models.atom_detail_type(ad))))
            elif old_ad != ad_row:
                self._update_atom(txn, ad, ad_row, fd.uuid)
            written[ad.uuid] = ad_row
        if inserts:
            txn.connection.execute(t.atomdetails.insert(), [r for _ad, r in inserts])
            for ad, _r in inserts:
                self._run_hooks(txn, ad, fd.uuid)
        for hook in self._backend._flow_hooks:
            hook(txn, fd)

        def _done():
            cache.flows[fd.uuid] = row
            cache.flows.move_to_end(fd.uuid)
            cache.complete.add(fd.uuid)
            children = cache.children.setdefault(fd.uuid, set())
            for ad_uuid, ad_row in written.items():
                cache.atoms[ad_uuid] = (fd.uuid, ad_row)
                children.add(ad_uuid)
            cache.trim()
        txn.on_commit.append(_done)

    def _load_atom_rows(self, conn, fd_uuid):
        q = sa.select(t.atomdetails).where(t.atomdetails.c.parent_uuid == fd_uuid)
        return {r.uuid: {k: r._mapping[k] for k in t.ATOM_VALUES}
                for r in conn.execute(q)}
