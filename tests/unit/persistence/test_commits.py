"""When the backend commits: once per step, a step's result before the
next step acts, deferred saves, hooks and the write guard; run on every
database (the functional suite runs it on PostgreSQL and MariaDB)."""

import contextlib

import sqlalchemy as sa

from oslo_utils import uuidutils
from taskflow.persistence import models
from taskflow import states

from tests.unit.persistence import base


class CommitBehaviourMixin:
    """What we add to TaskFlow's contract: when its saves are committed."""

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
            fd, ad = base.new_atom(conn)
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
        _book, fd = base.new_book(conn)
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
            fd, ad = base.new_atom(conn)
            ad.meta = {'progress': 0.5}
            conn.update_atom_details(ad)
        self.assertEqual(0.5, self.stored_flow(fd.uuid).find(ad.uuid).meta['progress'])


class SqliteCommitTest(base.BackendTestBase, CommitBehaviourMixin):
    pass
