"""The reads of the TaskFlow backend: rows from the database, with the
saves this process deferred laid over them (what an engine loads sees what
it did), and a whole flow read dropping the memory of that flow (see
:mod:`.batching`)."""

import sqlalchemy as sa

from taskflow import exceptions as exc

from move_orchestrator.persistence import batching
from move_orchestrator.persistence import tables as t


class Reads:
    """Mixed into the backend's Connection: ``_read()`` and ``_cache``
    are the connection's."""

    def _atoms(self, conn, fd_uuid):
        q = sa.select(t.atomdetails).where(t.atomdetails.c.parent_uuid == fd_uuid)
        rows = conn.execute(q).all()
        with self._cache.lock:
            pending = self._cache.pending_rows(fd_uuid)
        return [t.atom_from_row(batching.overlay(r._mapping, pending.get(r.uuid)))
                for r in rows]

    def _flow(self, conn, row, lazy):
        with self._cache.lock:
            deferred = self._cache.pending_rows(row['uuid']).get(None)
            if not lazy:
                # A whole flow read is what an engine loads to run it: from
                # now on the database's rows are the truth, whatever this
                # process remembers writing (another conductor may have run
                # the move since), so the next save compares with them.
                self._cache.forget_flow(row['uuid'])
        fd = t.flow_from_row(batching.overlay(row, deferred))
        if not lazy:
            for ad in self._atoms(conn, fd.uuid):
                fd.add(ad)
        return fd

    def _book(self, conn, row, lazy):
        book = t.book_from_row(row)
        if not lazy:
            q = sa.select(t.flowdetails).where(
                t.flowdetails.c.parent_uuid == book.uuid)
            for fd_row in conn.execute(q).all():
                book.add(self._flow(conn, fd_row._mapping, False))
        return book

    def _one(self, conn, table, uuid, what):
        row = conn.execute(sa.select(table).where(table.c.uuid == uuid)).first()
        if row is None:
            raise exc.NotFound("No %s found with uuid '%s'" % (what, uuid))
        return row._mapping

    def get_logbook(self, book_uuid, lazy=False):
        with self._read() as conn:
            return self._book(conn, self._one(conn, t.logbooks, book_uuid, 'logbook'), lazy)

    def get_logbooks(self, lazy=False):
        with self._read() as conn:
            rows = conn.execute(sa.select(t.logbooks)).all()
            books = [self._book(conn, r._mapping, lazy) for r in rows]
        yield from books

    def get_flows_for_book(self, book_uuid, lazy=False):
        with self._read() as conn:
            q = sa.select(t.flowdetails).where(t.flowdetails.c.parent_uuid == book_uuid)
            flows = [self._flow(conn, r._mapping, lazy) for r in conn.execute(q).all()]
        yield from flows

    def get_flow_details(self, fd_uuid, lazy=False):
        with self._read() as conn:
            row = self._one(conn, t.flowdetails, fd_uuid, 'flow details')
            return self._flow(conn, row, lazy)

    def get_atom_details(self, ad_uuid):
        with self._read() as conn:
            row = self._one(conn, t.atomdetails, ad_uuid, 'atom details')
        with self._cache.lock:
            deferred = self._cache.pending_rows(row['parent_uuid']).get(ad_uuid)
        return t.atom_from_row(batching.overlay(row, deferred))

    def get_atoms_for_flow(self, fd_uuid):
        with self._read() as conn:
            atoms = self._atoms(conn, fd_uuid)
        yield from atoms
