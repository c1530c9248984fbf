"""The fast TaskFlow backend on a SQLite file: TaskFlow's own suite, and
ours (concurrency, save hooks, shared engines); when it commits is
test_commits.py's."""

import contextlib
import threading

import sqlalchemy as sa

from taskflow import states
from taskflow.tests.unit.persistence import base as tf_base

from move_orchestrator.persistence import backend as mo_backend
from move_orchestrator.persistence import engines
from move_orchestrator.persistence import tables
from tests.unit.persistence import base


class SqlitePersistenceTest(base.BackendTestBase, tf_base.PersistenceTestMixin):
    """TaskFlow's persistence contract."""


class BackendBehaviourMixin:
    """What we add to TaskFlow's contract; run on every database."""

    def test_concurrent_engines_in_threads(self):
        errors = []
        done = []

        def run(i):
            try:
                done.append(self.run_flow(self.backend, base.five_task_flow('f%d' % i)))
            except Exception as e:  # noqa: B902 - reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual([], errors)
        for fd in done:
            self.assertEqual(states.SUCCESS, self.stored_flow(fd.uuid).state)

    def test_concurrent_backends_in_threads(self):
        """Separate engines (pools) on one database still wait, not fail."""
        errors = []

        def run(i):
            engine = engines.create_engine(self.db_url)
            try:
                self.run_flow(mo_backend.Backend({}, engine=engine),
                              base.five_task_flow('f%d' % i))
            except Exception as e:  # noqa: B902 - reported below
                errors.append(e)
            finally:
                engine.dispose()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual([], errors)

    def test_save_hook_commits_with_the_atom(self):
        self._hook_setup()
        with contextlib.closing(self.backend.get_connection()) as conn:
            fd, ad = base.new_atom(conn)
            ad.state = states.RUNNING
            conn.update_atom_details(ad)
        self.assertEqual([(ad.uuid, None, fd.uuid), (ad.uuid, states.RUNNING, fd.uuid)],
                         self.hook_rows())
        self.assertEqual(states.RUNNING, self.atom_row_state(ad.uuid))

    def test_save_hook_rolls_back_with_the_atom(self):
        self._hook_setup(fail_on=states.RUNNING)
        with contextlib.closing(self.backend.get_connection()) as conn:
            fd, ad = base.new_atom(conn)
            ad.state = states.RUNNING
            self.assertRaises(RuntimeError, conn.update_atom_details, ad)
        self.assertEqual([(ad.uuid, None, fd.uuid)], self.hook_rows())
        self.assertIsNone(self.atom_row_state(ad.uuid))

    def test_save_hook_gets_the_flow_from_a_cold_backend(self):
        with contextlib.closing(self.make_backend().get_connection()) as conn:
            fd, ad = base.new_atom(conn)
        self._hook_setup()
        ad.state = states.RUNNING
        with contextlib.closing(self.backend.get_connection()) as conn:
            conn.update_atom_details(ad)
        self.assertEqual([(ad.uuid, states.RUNNING, fd.uuid)], self.hook_rows())

    def test_save_hook_sees_every_state_of_a_flow(self):
        seen = self._hook_setup()
        self.run_flow(self.backend)
        t0 = [s for name, s in seen if name == 't0']
        # SUCCESS and the progress 1.0 after it are one deferred save.
        self.assertEqual([states.PENDING, states.RUNNING, states.SUCCESS], t0)

    def test_shares_the_project_engine(self):
        from move_orchestrator.db import session
        db = session.get_database(self.db_url)
        self.addCleanup(session.reset)
        backend = mo_backend.Backend({}, engine=db.engine)
        fd = self.run_flow(backend)
        backend.close()
        self.assertEqual(states.SUCCESS, self.stored_flow(fd.uuid).state)


class SqliteBackendTest(base.BackendTestBase, BackendBehaviourMixin):
    def test_from_url_shares_one_engine(self):
        self.addCleanup(engines.dispose_all)
        a = mo_backend.Backend({'connection': self.db_url})
        b = mo_backend.Backend({'connection': self.db_url})
        self.assertIs(a.engine, b.engine)
        with a.engine.connect() as conn:
            self.assertEqual('wal', conn.exec_driver_sql('PRAGMA journal_mode').scalar())
            self.assertEqual(1, conn.exec_driver_sql('PRAGMA synchronous').scalar())

    def test_destroy_logbook_removes_children(self):
        plain = sa.create_engine(self.db_url)  # no PRAGMA foreign_keys
        self.addCleanup(plain.dispose)
        backend = mo_backend.Backend({}, engine=plain)
        fd = self.run_flow(self.backend)
        with contextlib.closing(backend.get_connection()) as conn:
            book_uuid = conn.get_logbooks().__next__().uuid
            conn.destroy_logbook(book_uuid)
        with plain.connect() as conn:
            for table in (tables.flowdetails, tables.atomdetails):
                self.assertEqual(0, conn.execute(
                    sa.select(sa.func.count()).select_from(table)).scalar())
        self.assertIsNotNone(fd)
