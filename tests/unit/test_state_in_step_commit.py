"""A move's state written in the transaction that saves a step's start."""

import contextlib
import threading

from oslo_utils import uuidutils
import pytest
import sqlalchemy as sa
from taskflow.persistence import models as tf_models
from taskflow import states as tf_states

from move_orchestrator import exception
from move_orchestrator import states


def _moved(cloud):
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == states.COMPLETED
    return doc['id']


def _to_failed(move):
    return states.FAILED


def test_set_state_through_a_connection_commits_with_it(cloud):
    store, engine = cloud.services.store, cloud.services.db.engine
    move_id = _moved(cloud)
    with contextlib.suppress(RuntimeError):
        with engine.begin() as conn:
            store.set_state(move_id, _to_failed, connection=conn,
                            reason='x')
            raise RuntimeError('the caller rolls back')
    assert store.get(move_id)['state'] == states.COMPLETED
    with engine.begin() as conn:
        before, state = store.set_state(move_id, _to_failed,
                                        connection=conn, reason='x')
    assert (before['state'], state) == (states.COMPLETED, states.FAILED)
    assert store.get(move_id)['state'] == states.FAILED
    assert store.events(move_id)[-1]['state'] == states.FAILED


def test_set_state_with_nothing_to_change_commits_nothing(cloud):
    store, engine = cloud.services.store, cloud.services.db.engine
    move_id = _moved(cloud)
    commits = []
    me = threading.get_ident()
    sa.event.listen(engine, 'commit',
                    lambda c: threading.get_ident() == me and commits.append(1))
    before, state = store.set_state(move_id, lambda move: move['state'])
    assert (before['state'], state) == (states.COMPLETED, None)
    assert commits == []
    store.set_state(move_id, lambda move: None, reason='why')
    assert commits == [1]
    assert store.get(move_id)['reason'] == 'why'


def test_set_state_with_nothing_to_change_still_sees_a_lost_claim(cloud):
    store = cloud.services.store
    move_id = _moved(cloud)
    generation = store.get(move_id)['generation']
    store.fences.hold(move_id, generation + 1)    # another claim's token
    try:
        with pytest.raises(exception.ClaimLost):
            store.set_state(move_id, lambda move: move['state'])
        store.fences.hold(move_id, generation)
        before, state = store.set_state(move_id, lambda move: None)
        assert (before['state'], state) == (states.COMPLETED, None)
    finally:
        store.fences.release(move_id)


def one_step_flow(services, name='CopyDisk'):
    """A saved flow detail of one atom, and that atom."""
    with contextlib.closing(services.persistence.get_connection()) as conn:
        book = tf_models.LogBook('b')
        fd = tf_models.FlowDetail('f', uuidutils.generate_uuid())
        ad = tf_models.TaskDetail(name, uuidutils.generate_uuid())
        fd.add(ad)
        book.add(fd)
        conn.save_logbook(book)
    return fd, ad


def save_atom(services, ad):
    with contextlib.closing(services.persistence.get_connection()) as conn:
        conn.update_atom_details(ad)


def test_a_step_start_and_the_move_state_are_one_commit(cloud):
    services = cloud.services
    move_id = _moved(cloud)
    backend = services.persistence
    fd, ad = one_step_flow(services)

    def on_start(save, atom_detail):
        services.store.set_state(move_id, _to_failed,
                                 connection=save.connection)

    services.history.register(fd.uuid, move_id, lambda name: 'transfer',
                              on_start=on_start)
    commits = []
    me = threading.get_ident()
    # This thread's commits only: the conductor's own threads go on.
    sa.event.listen(services.db.engine, 'commit',
                    lambda c: threading.get_ident() == me and commits.append(1))
    ad.state = tf_states.RUNNING
    with contextlib.closing(backend.get_connection()) as conn:
        conn.update_atom_details(ad)
    assert commits == [1]
    assert services.store.get(move_id)['state'] == states.FAILED
    events = services.store.events(move_id)
    assert [(e['kind'], e['state']) for e in events[-2:]] == [
        ('subtask', tf_states.RUNNING), ('move', states.FAILED)]


def _this_threads_commits(engine):
    commits = []
    me = threading.get_ident()
    # This thread's commits only: the conductor's own threads go on.
    sa.event.listen(engine, 'commit',
                    lambda c: threading.get_ident() == me and commits.append(1))
    return commits


def test_a_state_written_in_a_step_commit_is_announced_once_committed(
        cloud):
    services = cloud.services
    recorder = cloud.api.conductor.recorder
    heard = []
    recorder.observers.append(lambda move_id, state: heard.append(state))
    move_id = _moved(cloud)
    services.store.update(move_id, state='claiming')
    fd, ad = one_step_flow(services)
    services.history.register(
        fd.uuid, move_id, lambda name: 'pre-check',
        on_start=lambda save, atom: recorder.enter_step(
            move_id, 'pre-checking', save=save))
    failures = [RuntimeError('the commit was lost')]

    def fail_once(save, atom_detail, flow_uuid):
        if failures:
            raise failures.pop()
    services.persistence.add_save_hook(fail_once)
    heard.clear()
    ad.state = tf_states.RUNNING
    try:
        with pytest.raises(RuntimeError):
            save_atom(services, ad)
        # Rolled back: nobody hears of it, and nothing is remembered.
        assert heard == []
        assert services.store.get(move_id)['state'] == 'claiming'
        save_atom(services, ad)     # the same save, retried
    finally:
        services.persistence.remove_save_hook(fail_once)
        services.history.unregister(fd.uuid, [ad.uuid])
    assert services.store.get(move_id)['state'] == 'pre-checking'
    assert heard == ['pre-checking']
    subtasks = [e['state'] for e in services.store.events(move_id)
                if e['kind'] == 'subtask' and e['name'] == 'CopyDisk']
    assert subtasks[-1:] == [tf_states.RUNNING]
    commits = _this_threads_commits(services.db.engine)
    recorder.enter_step(move_id, 'pre-checking')   # the listener's
    assert heard == ['pre-checking']
    assert commits == []


def test_the_point_of_no_return_commits_with_the_main_flow_end(cloud):
    services = cloud.services
    move_id = _moved(cloud)
    services.store.update(move_id, ponr=False)
    backend = services.persistence
    with contextlib.closing(backend.get_connection()) as conn:
        book = tf_models.LogBook('b')
        fd = tf_models.FlowDetail('main', uuidutils.generate_uuid())
        book.add(fd)
        conn.save_logbook(book)
    execution = cloud.api.conductor.execution
    services.history.register(
        fd.uuid, move_id, lambda name: 'switch-over',
        on_end=lambda save, f: execution._passed_ponr(move_id, save, f))
    try:
        commits = _this_threads_commits(services.db.engine)
        fd.state = tf_states.RUNNING
        with contextlib.closing(backend.get_connection()) as conn:
            conn.update_flow_details(fd)
        assert services.store.get(move_id)['ponr'] is False
        fd.state = tf_states.SUCCESS
        with contextlib.closing(backend.get_connection()) as conn:
            conn.update_flow_details(fd)
        assert services.store.get(move_id)['ponr'] is True
        # The flow's RUNNING rides with its end: one commit for both, and
        # the point of no return in it.
        assert len(commits) == 1
    finally:
        services.history.unregister(fd.uuid)
