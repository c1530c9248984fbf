"""What the backend's tests share: a fresh database of a kind with the
backend's tables, a flow of no-op steps, and a logbook to run it in."""

import contextlib

import sqlalchemy as sa
import testtools

from oslo_utils import uuidutils
from taskflow import engines as tf_engines
from taskflow.patterns import linear_flow
from taskflow.persistence import models
from taskflow import task

from move_orchestrator.persistence import backend as mo_backend
from move_orchestrator.persistence import engines
from move_orchestrator.persistence import tables
from tests import db_fixtures


HOOK_TABLE = sa.Table(
    'hook_rows', sa.MetaData(),
    sa.Column('atom_uuid', sa.String(64)),
    sa.Column('state', sa.String(64)),
    sa.Column('flow_uuid', sa.String(64)),
)


class Noop(task.Task):
    def execute(self):
        return self.name


def five_task_flow(name='flow'):
    return linear_flow.Flow(name).add(*[Noop('t%d' % i) for i in range(5)])


def new_book(conn, flow_name='flow'):
    book = models.LogBook('book')
    fd = models.FlowDetail(flow_name, uuidutils.generate_uuid())
    book.add(fd)
    conn.save_logbook(book)
    return book, fd


def new_atom(conn):
    """A flow of one task detail, saved: (flow detail, atom detail)."""
    _book, fd = new_book(conn)
    ad = models.TaskDetail('t', uuidutils.generate_uuid())
    fd.add(ad)
    conn.update_flow_details(fd)
    return fd, ad


class BackendTestBase(testtools.TestCase):
    """A fresh database of ``kind`` with the backend's tables."""

    kind = 'sqlite'

    def setUp(self):
        super().setUp()
        self.db_url = self.useFixture(db_fixtures.DatabaseFixture(self.kind)).url
        self.engine = engines.create_engine(self.db_url)
        self.addCleanup(self.engine.dispose)
        self.backend = self.make_backend()
        with contextlib.closing(self.backend.get_connection()) as conn:
            conn.upgrade()

    def make_backend(self):
        backend = mo_backend.Backend({'connection': self.db_url}, engine=self.engine)
        self.addCleanup(backend.close)
        return backend

    def _get_connection(self):
        return self.backend.get_connection()

    def run_flow(self, backend, flow=None):
        with contextlib.closing(backend.get_connection()) as conn:
            book, fd = new_book(conn)
        engine = tf_engines.load(flow or five_task_flow(), flow_detail=fd,
                                 book=book, backend=backend, engine='serial')
        engine.run()
        return fd

    def stored_flow(self, fd_uuid, backend=None):
        backend = backend or self.make_backend()
        with contextlib.closing(backend.get_connection()) as conn:
            return conn.get_flow_details(fd_uuid)

    def _hook_setup(self, fail_on='never'):
        HOOK_TABLE.create(self.engine, checkfirst=True)
        seen = []

        def hook(save, ad, flow_uuid):
            seen.append((ad.name, ad.state))
            save.connection.execute(HOOK_TABLE.insert().values(
                atom_uuid=ad.uuid, state=ad.state, flow_uuid=flow_uuid))
            if ad.state == fail_on:
                raise RuntimeError('hook failed')
        self.backend.add_save_hook(hook)
        self.hook = hook
        return seen

    def hook_rows(self):
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(HOOK_TABLE))]

    def atom_row_state(self, ad_uuid):
        with self.engine.connect() as conn:
            return conn.execute(sa.select(tables.atomdetails.c.state).where(
                tables.atomdetails.c.uuid == ad_uuid)).scalar()
