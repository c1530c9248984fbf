"""The engine a move's stage runs on: which of TaskFlow's saves reach the
persistence backend (the automatic progress around each task does not)."""

import contextlib

from taskflow.patterns import linear_flow
from taskflow import states
from taskflow import task

from move_orchestrator.conductor import engine as engine_mod
from tests.unit.persistence import base


class HalfwayReport(task.Task):
    def execute(self):
        self.update_progress(0.5)
        return self.name


class StageEngineTest(base.BackendTestBase):

    def _saves(self):
        """Every atom save TaskFlow hands the backend, deferred or not."""
        saves = []
        get_connection = self.backend.get_connection

        def counted():
            conn = get_connection()
            update = conn.update_atom_details

            def update_atom_details(ad):
                saves.append((ad.name, ad.state, (ad.meta or {}).get('progress')))
                return update(ad)
            conn.update_atom_details = update_atom_details
            return conn
        self.backend.get_connection = counted
        return saves

    def _run(self, flow):
        with contextlib.closing(self.backend.get_connection()) as conn:
            _book, fd = base.new_book(conn)
        engine = engine_mod.load(flow, fd, self.backend)
        heard = []
        for atom in flow:
            atom.notifier.register(
                task.EVENT_UPDATE_PROGRESS,
                lambda event, details, name=atom.name: heard.append(
                    (name, details['progress'])))
        saves = self._saves()
        engine.run()
        return engine, fd, saves, heard

    def test_a_step_saves_its_state_and_its_own_reports_only(self):
        flow = linear_flow.Flow('f').add(HalfwayReport('a'), base.Noop('b'))
        engine, fd, saves, heard = self._run(flow)
        # TaskFlow's own engine also saves 0.0 and 1.0 around each task:
        # 9 saves here, against 5.
        self.assertEqual([('a', states.RUNNING, None), ('a', states.RUNNING, 0.5),
                          ('a', states.SUCCESS, 0.5), ('b', states.RUNNING, None),
                          ('b', states.SUCCESS, None)], saves)
        # Listeners still hear every value.
        self.assertEqual([('a', 0.0), ('a', 0.5), ('a', 1.0), ('b', 0.0),
                          ('b', 1.0)], heard)
        self.backend.close()
        # An atom's progress is its step's last own report.
        stored = {ad.name: ad for ad in self.stored_flow(fd.uuid)}
        self.assertEqual([states.SUCCESS] * 2, [stored[n].state for n in 'ab'])
        self.assertEqual('b', stored['b'].results)
        self.assertEqual(0.5, stored['a'].meta['progress'])
        self.assertNotIn('progress', stored['b'].meta)
        self.assertEqual(0.5, engine.storage.get_task_progress('a'))

    def test_a_report_with_details_is_saved_whatever_its_value(self):
        class Detailed(task.Task):
            def execute(self):
                self.update_progress(1.0)
                self.notifier.notify(task.EVENT_UPDATE_PROGRESS,
                                     {'progress': 1.0, 'sent_mb': 3})
        _engine, _fd, saves, _heard = self._run(linear_flow.Flow('f').add(
            Detailed('d')))
        self.assertEqual([('d', states.RUNNING, None), ('d', states.RUNNING, 1.0),
                          ('d', states.SUCCESS, 1.0)], saves)
