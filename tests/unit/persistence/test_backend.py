"""The fast TaskFlow backend on a SQLite file: TaskFlow's own suite, and ours."""

import contextlib
import threading

import sqlalchemy as sa
import testtools

from oslo_utils import uuidutils
from taskflow import engines as tf_engines
from taskflow.patterns import linear_flow
from taskflow.persistence import models
from taskflow import states
from taskflow import task
from taskflow.tests.unit.persistence import base as tf_base

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


class SqlitePersistenceTest(BackendTestBase, tf_base.PersistenceTestMixin):
    """TaskFlow's persistence contract."""


class BackendBehaviourMixin:
    """What we add to TaskFlow's contract; run on every database."""

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

    def test_flow_runs_and_is_stored(self):
        fd = self.run_flow(self.backend)
        self.backend.close()
        stored = self.stored_flow(fd.uuid)
        self.assertEqual(states.SUCCESS, stored.state)
        atoms = {ad.name: ad for ad in stored}
        for i in range(5):
            ad = atoms['t%d' % i]
            self.assertEqual(states.SUCCESS, ad.state)
            self.assertEqual('t%d' % i, ad.results)
            self.assertEqual(1.0, ad.meta['progress'])

    def test_one_commit_per_step(self):
        commits = []
        sa.event.listen(self.engine, 'commit', lambda conn: commits.append(1))
        fd = self.run_flow(self.backend)
        # logbook, atoms, 5 x RUNNING (the first carries the flow's
        # RUNNING, the others the SUCCESS of the step before), the flow's
        # SUCCESS (carrying the last step's).
        self.assertEqual(8, len(commits))
        # Flushed with the flow's SUCCESS: visible from a fresh backend.
        stored = self.stored_flow(fd.uuid)
        self.assertEqual([1.0] * 5, [ad.meta['progress'] for ad in stored])

    def test_deferred_progress_is_visible_to_readers(self):
        with contextlib.closing(self.backend.get_connection()) as conn:
            _book, fd = new_book(conn)
            ad = models.TaskDetail('t', uuidutils.generate_uuid())
            fd.add(ad)
            conn.update_flow_details(fd)
            ad.state = states.SUCCESS
            conn.update_atom_details(ad)
            ad.meta = {'progress': 1.0}
            conn.update_atom_details(ad)
            self.assertEqual(1.0, conn.get_atom_details(ad.uuid).meta['progress'])
        self.assertNotIn('progress', self.stored_flow(fd.uuid, self.make_backend())
                         .find(ad.uuid).meta)
        self.backend.close()
        self.assertEqual(1.0, self.stored_flow(fd.uuid).find(ad.uuid).meta['progress'])

    def _flow_with_atoms(self, conn, *names):
        _book, fd = new_book(conn)
        ads = [models.TaskDetail(name, uuidutils.generate_uuid())
               for name in names]
        for ad in ads:
            fd.add(ad)
        conn.update_flow_details(fd)
        return fd, ads

    def test_a_step_result_commits_before_the_next_step_acts(self):
        with contextlib.closing(self.backend.get_connection()) as conn:
            fd, (a, b) = self._flow_with_atoms(conn, 'a', 'b')
            a.state = states.RUNNING
            conn.update_atom_details(a)
            a.state, a.results = states.SUCCESS, {'copied': 3}
            conn.update_atom_details(a)
            # This process reads what it saved...
            self.assertEqual(states.SUCCESS, conn.get_atom_details(a.uuid).state)
            # ...another finds the step running: killed now, it runs again.
            other = self.stored_flow(fd.uuid, self.make_backend()).find(a.uuid)
            self.assertEqual(states.RUNNING, other.state)
            self.assertIsNone(other.results)
            b.state = states.RUNNING
            conn.update_atom_details(b)
        stored = self.stored_flow(fd.uuid, self.make_backend())
        self.assertEqual(states.SUCCESS, stored.find(a.uuid).state)
        self.assertEqual({'copied': 3}, stored.find(a.uuid).results)
        self.assertEqual(states.RUNNING, stored.find(b.uuid).state)

    def test_a_failure_then_its_revert_reach_the_hooks_in_order(self):
        seen = self._hook_setup()
        with contextlib.closing(self.backend.get_connection()) as conn:
            fd, (a,) = self._flow_with_atoms(conn, 'a')
            for state in (states.RUNNING, states.FAILURE, states.REVERTING,
                          states.REVERTED):
                a.state = state
                conn.update_atom_details(a)
            fd.state = states.REVERTED
            conn.update_flow_details(fd)
        self.assertEqual([None, states.RUNNING, states.FAILURE,
                          states.REVERTING, states.REVERTED],
                         [state for _name, state in seen])
        self.assertEqual([s for _n, s in seen],
                         [r[1] for r in self.hook_rows()])
        self.assertEqual(states.REVERTED, self.atom_row_state(a.uuid))

    def test_a_deferred_save_whose_hook_fails_fails_the_next_commit(self):
        self._hook_setup(fail_on=states.SUCCESS)
        with contextlib.closing(self.backend.get_connection()) as conn:
            _fd, (a, b) = self._flow_with_atoms(conn, 'a', 'b')
            a.state = states.RUNNING
            conn.update_atom_details(a)
            a.state = states.SUCCESS
            conn.update_atom_details(a)
            b.state = states.RUNNING
            self.assertRaises(RuntimeError, conn.update_atom_details, b)
        self.assertEqual(states.RUNNING, self.atom_row_state(a.uuid))
        self.assertIsNone(self.atom_row_state(b.uuid))
        # Still deferred: committed once the hook lets it.
        self.backend.remove_save_hook(self.hook)
        self.backend.close()
        self.assertEqual(states.SUCCESS, self.atom_row_state(a.uuid))

    def test_a_write_refused_by_the_guard_drops_the_flows_deferred_saves(self):
        refused = []

        def guard(conn, flow_uuid):
            if refused:
                raise RuntimeError('claim lost')
        self.backend.add_write_guard(guard)
        with contextlib.closing(self.backend.get_connection()) as conn:
            fd, (a, b) = self._flow_with_atoms(conn, 'a', 'b')
            a.state = states.RUNNING
            conn.update_atom_details(a)
            a.state, a.results = states.SUCCESS, {'copied': 3}
            conn.update_atom_details(a)     # deferred
            refused.append(True)
            b.state = states.RUNNING
            # The deferred save rides with a refused commit: neither lands.
            self.assertRaises(RuntimeError, conn.update_atom_details, b)
            self.assertEqual(states.RUNNING, self.atom_row_state(a.uuid))
            self.assertIsNone(self.atom_row_state(b.uuid))
            # Nor does it linger: this process now reads the database's
            # rows (another writer's, after a takeover), not its own
            # uncommitted ones, and writes nothing of them later.
            self.assertEqual(states.RUNNING,
                             conn.get_atom_details(a.uuid).state)
            self.assertEqual(states.RUNNING,
                             conn.get_flow_details(fd.uuid).find(a.uuid).state)
        refused.clear()
        self.backend.close()
        self.assertEqual(states.RUNNING, self.atom_row_state(a.uuid))

    def test_a_flow_taken_back_after_another_writer_is_written_whole(self):
        """B runs a flow, A takes it over and changes it, B takes it back:
        B's memory of its own writes must not decide what B writes then."""
        b = self.make_backend()
        with contextlib.closing(b.get_connection()) as conn_b:
            fd, (ad,) = self._flow_with_atoms(conn_b, 't0')
            ad.state = states.RUNNING
            conn_b.update_atom_details(ad)
        a = self.make_backend()
        with contextlib.closing(a.get_connection()) as conn_a:
            taken = conn_a.get_flow_details(fd.uuid)
            taken.find(ad.uuid).state = states.REVERTING
            conn_a.update_atom_details(taken.find(ad.uuid))
            extra = models.TaskDetail('t1', uuidutils.generate_uuid())
            taken.add(extra)
            conn_a.update_flow_details(taken)
        with contextlib.closing(b.get_connection()) as conn_b:
            # B's new value is what it once wrote, and the flow has an atom
            # B never wrote: neither is skipped, nor inserted twice.
            back = conn_b.get_flow_details(fd.uuid)
            back.find(ad.uuid).state = states.RUNNING
            conn_b.update_atom_details(back.find(ad.uuid))
            conn_b.update_flow_details(back)
        b.close()
        stored = self.stored_flow(fd.uuid)
        self.assertEqual(states.RUNNING, stored.find(ad.uuid).state)
        self.assertIsNotNone(stored.find(extra.uuid))

    def test_an_atom_another_writer_inserted_is_not_inserted_again(self):
        b = self.make_backend()
        with contextlib.closing(b.get_connection()) as conn_b:
            fd, _ads = self._flow_with_atoms(conn_b, 't0')
        extra = models.TaskDetail('t1', uuidutils.generate_uuid())
        a = self.make_backend()
        with contextlib.closing(a.get_connection()) as conn_a:
            theirs = conn_a.get_flow_details(fd.uuid)
            theirs.add(extra)
            conn_a.update_flow_details(theirs)
        fd.add(models.TaskDetail('t1', extra.uuid))
        with contextlib.closing(b.get_connection()) as conn_b:
            conn_b.update_flow_details(fd)     # no read first
        b.close()
        self.assertEqual(2, len(list(self.stored_flow(fd.uuid))))

    def test_intermediate_progress_is_written_at_once(self):
        with contextlib.closing(self.backend.get_connection()) as conn:
            _book, fd = new_book(conn)
            ad = models.TaskDetail('t', uuidutils.generate_uuid())
            fd.add(ad)
            conn.update_flow_details(fd)
            ad.meta = {'progress': 0.5}
            conn.update_atom_details(ad)
        self.assertEqual(0.5, self.stored_flow(fd.uuid).find(ad.uuid).meta['progress'])

    def test_concurrent_engines_in_threads(self):
        errors = []
        done = []

        def run(i):
            try:
                done.append(self.run_flow(self.backend, five_task_flow('f%d' % i)))
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
                              five_task_flow('f%d' % i))
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

    def _hook_setup(self, fail_on='never'):
        HOOK_TABLE.create(self.engine, checkfirst=True)
        seen = []

        def hook(conn, ad, flow_uuid):
            seen.append((ad.name, ad.state))
            conn.execute(HOOK_TABLE.insert().values(
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

    def test_save_hook_commits_with_the_atom(self):
        self._hook_setup()
        with contextlib.closing(self.backend.get_connection()) as conn:
            _book, fd = new_book(conn)
            ad = models.TaskDetail('t', uuidutils.generate_uuid())
            fd.add(ad)
            conn.update_flow_details(fd)
            ad.state = states.RUNNING
            conn.update_atom_details(ad)
        self.assertEqual([(ad.uuid, None, fd.uuid), (ad.uuid, states.RUNNING, fd.uuid)],
                         self.hook_rows())
        self.assertEqual(states.RUNNING, self.atom_row_state(ad.uuid))

    def test_save_hook_rolls_back_with_the_atom(self):
        self._hook_setup(fail_on=states.RUNNING)
        with contextlib.closing(self.backend.get_connection()) as conn:
            _book, fd = new_book(conn)
            ad = models.TaskDetail('t', uuidutils.generate_uuid())
            fd.add(ad)
            conn.update_flow_details(fd)
            ad.state = states.RUNNING
            self.assertRaises(RuntimeError, conn.update_atom_details, ad)
        self.assertEqual([(ad.uuid, None, fd.uuid)], self.hook_rows())
        self.assertIsNone(self.atom_row_state(ad.uuid))

    def test_save_hook_gets_the_flow_from_a_cold_backend(self):
        with contextlib.closing(self.make_backend().get_connection()) as conn:
            _book, fd = new_book(conn)
            ad = models.TaskDetail('t', uuidutils.generate_uuid())
            fd.add(ad)
            conn.update_flow_details(fd)
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


class SqliteBackendTest(BackendTestBase, BackendBehaviourMixin):
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
