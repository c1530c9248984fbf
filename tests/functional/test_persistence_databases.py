"""The fast TaskFlow backend on PostgreSQL and MariaDB, and resume after SIGKILL.

The SIGKILL tests run a five-task flow in a child process, kill it while the
third task runs, resume the flow here and check that it behaves as TaskFlow's
stock backend does: tasks that had succeeded are not run again, the running
one is run again (and, if it then fails, everything is reverted).
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest
from taskflow import engines as tf_engines
from taskflow.patterns import linear_flow
from taskflow.persistence.backends import impl_sqlalchemy
from taskflow.persistence import models
from taskflow import states
from taskflow import task
from taskflow.tests.unit.persistence import base as tf_base

from move_orchestrator.persistence import backend as mo_backend
from move_orchestrator.persistence import engines
from tests import db_fixtures
from tests.unit.persistence import base
from tests.unit.persistence import test_backend
from tests.unit.persistence import test_commits

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class PostgresqlPersistenceTest(base.BackendTestBase, tf_base.PersistenceTestMixin):
    kind = 'postgresql'


class MysqlPersistenceTest(base.BackendTestBase, tf_base.PersistenceTestMixin):
    kind = 'mysql'


class PostgresqlBackendTest(base.BackendTestBase, test_backend.BackendBehaviourMixin,
                            test_commits.CommitBehaviourMixin):
    kind = 'postgresql'


class MysqlBackendTest(base.BackendTestBase, test_backend.BackendBehaviourMixin,
                       test_commits.CommitBehaviourMixin):
    kind = 'mysql'


# -- resume after SIGKILL ---------------------------------------------------

class Step(task.Task):
    """Logs each execute/revert; blocks or fails where the environment says."""

    def execute(self):
        _log('run ' + self.name)
        if os.environ.get('MO_TEST_BLOCK_AT') == self.name:
            with open(os.environ['MO_TEST_MARKER'], 'w'):
                pass
            time.sleep(120)
        if os.environ.get('MO_TEST_FAIL_AT') == self.name:
            raise RuntimeError('%s failed' % self.name)
        return self.name

    def revert(self, **kwargs):
        _log('revert ' + self.name)


def _log(line):
    with open(os.environ['MO_TEST_LOG'], 'a') as f:
        f.write(line + '\n')
        f.flush()
        os.fsync(f.fileno())


def make_flow():
    return linear_flow.Flow('resume').add(*[Step('t%d' % i) for i in range(5)])


def make_backend(kind, url):
    if kind == 'stock':
        return impl_sqlalchemy.SQLAlchemyBackend({'connection': url})
    return mo_backend.Backend({'connection': url})


def run_flow(kind, url, book_uuid, fd_uuid):
    backend = make_backend(kind, url)
    with contextlib.closing(backend.get_connection()) as conn:
        book = conn.get_logbook(book_uuid)
    engine = tf_engines.load(make_flow(), flow_detail=book.find(fd_uuid), book=book,
                             backend=backend, engine='serial')
    try:
        engine.run()
    finally:
        backend.close()


def child_main():
    kind, url, book_uuid, fd_uuid = sys.argv[1:5]
    run_flow(kind, url, book_uuid, fd_uuid)


@pytest.fixture(params=[('ours', 'sqlite'), ('ours', 'postgresql'), ('ours', 'mysql'),
                        ('stock', 'sqlite')],
                ids=lambda p: '-'.join(p))
def killed_flow(request, tmp_path, monkeypatch):
    """A flow whose process was SIGKILLed while ``t2`` ran: (kind, url, book, fd)."""
    kind, db = request.param
    log = tmp_path / 'log'
    marker = tmp_path / 'marker'
    monkeypatch.setenv('MO_TEST_LOG', str(log))
    with db_fixtures.fresh_database(db, tmp_dir=tmp_path) as url:
        backend = make_backend(kind, url)
        with contextlib.closing(backend.get_connection()) as conn:
            conn.upgrade()
            book = models.LogBook('book')
            fd = models.FlowDetail('resume', 'fd-' + book.uuid)
            book.add(fd)
            conn.save_logbook(book)
        backend.close()
        env = dict(os.environ, MO_TEST_BLOCK_AT='t2', MO_TEST_MARKER=str(marker),
                   PYTHONPATH=ROOT)
        child = subprocess.Popen(
            [sys.executable, '-c',
             'from tests.functional.test_persistence_databases import child_main; '
             'child_main()', kind, url, book.uuid, fd.uuid],
            cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert child.poll() is None, 'child exited with %s' % child.returncode
                assert time.monotonic() < deadline, 'child never reached t2'
                time.sleep(0.02)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(10)
        assert child.returncode == -signal.SIGKILL
        yield kind, url, book.uuid, fd.uuid, log
        engines.dispose_all()


def _states(kind, url, fd_uuid):
    backend = make_backend(kind, url)
    try:
        with contextlib.closing(backend.get_connection()) as conn:
            fd = conn.get_flow_details(fd_uuid)
            return fd.state, {ad.name: ad.state for ad in fd if ad.name.startswith('t')}
    finally:
        backend.close()


def test_state_left_by_the_kill(killed_flow):
    kind, url, _book, fd_uuid, log = killed_flow
    flow_state, atoms = _states(kind, url, fd_uuid)
    assert flow_state == states.RUNNING
    assert atoms == {'t0': states.SUCCESS, 't1': states.SUCCESS, 't2': states.RUNNING,
                     't3': states.PENDING, 't4': states.PENDING}
    assert log.read_text().split('\n')[:-1] == ['run t0', 'run t1', 'run t2']


def test_resume_runs_the_rest(killed_flow):
    kind, url, book_uuid, fd_uuid, log = killed_flow
    run_flow(kind, url, book_uuid, fd_uuid)
    flow_state, atoms = _states(kind, url, fd_uuid)
    assert flow_state == states.SUCCESS
    assert set(atoms.values()) == {states.SUCCESS}
    assert log.read_text().split('\n')[:-1] == [
        'run t0', 'run t1', 'run t2', 'run t2', 'run t3', 'run t4']


def test_resume_failing_reverts_the_dead_process_work(killed_flow, monkeypatch):
    kind, url, book_uuid, fd_uuid, log = killed_flow
    monkeypatch.setenv('MO_TEST_FAIL_AT', 't2')
    with pytest.raises(RuntimeError):
        run_flow(kind, url, book_uuid, fd_uuid)
    flow_state, atoms = _states(kind, url, fd_uuid)
    assert flow_state == states.REVERTED
    assert atoms == {'t0': states.REVERTED, 't1': states.REVERTED, 't2': states.REVERTED,
                     't3': states.PENDING, 't4': states.PENDING}
    assert log.read_text().split('\n')[:-1] == [
        'run t0', 'run t1', 'run t2', 'run t2', 'revert t2', 'revert t1', 'revert t0']
