"""Writes retried after the database went away at their commit: a step's
save that was lost is written whole again, and nothing is announced from
the lost attempt; a change that was committed but whose answer was lost is
found made by the retry, not refused."""

from oslo_db import exception as db_exc
import sqlalchemy as sa
from taskflow import states as tf_states

from move_orchestrator import states


def _fail_once(services, step, state=tf_states.RUNNING):
    """A save hook run after the history's: the first save of ``step``
    in ``state`` fails after every other hook wrote its rows (as a
    connection cut at the commit would), so the whole save rolls back and
    is retried."""
    failed = []

    def hook(save, atom_detail, flow_uuid):
        if atom_detail.name == step and atom_detail.state == state \
                and not failed:
            failed.append(atom_detail.name)
            raise db_exc.DBConnectionError('the server closed the connection')
    services.persistence.add_save_hook(hook)
    return failed


def test_a_step_start_retried_writes_its_state_and_history(cloud):
    heard = []
    cloud.api.conductor.recorder.observers.append(
        lambda move_id, state: heard.append(state))
    failed = _fail_once(cloud.services, 'ClaimDestination')
    doc = cloud.move('vm1', destination='host3')
    assert failed == ['ClaimDestination']
    assert doc['state'] == states.COMPLETED, doc['reason']
    events = cloud.services.store.events(doc['id'])
    moves = [e['state'] for e in events if e['kind'] == 'move']
    assert moves[:3] == ['accepted', 'claiming', 'pre-checking'], moves
    assert len(set(moves)) == len(moves), moves
    started = [e for e in events if e['kind'] == 'subtask' and
               e['name'] == 'ClaimDestination' and e['state'] == 'RUNNING']
    assert len(started) == 1, events
    # Announced once, after the commit that wrote it.
    assert heard.count('claiming') == 1, heard


def _lose_the_answer_once(engine, state):
    """The first commit of a move's change to ``state`` is made, then its
    answer is lost: the client sees the connection fail, as when the
    server stops right after committing."""
    marked, lost = set(), []

    def before(conn, cursor, statement, parameters, context, many):
        if not lost and statement.lstrip().startswith('UPDATE moves') and \
                state in (parameters or ()):
            marked.add(conn)

    def commit(conn):
        if conn in marked and not lost:
            marked.discard(conn)
            conn.connection.dbapi_connection.commit()
            lost.append(state)
            raise db_exc.DBConnectionError('the server closed the connection')
    sa.event.listen(engine, 'before_cursor_execute', before)
    sa.event.listen(engine, 'commit', commit)
    return lost


def test_a_completion_committed_whose_answer_was_lost_is_not_an_error(
        cloud, caplog):
    lost = _lose_the_answer_once(cloud.services.db.engine, states.COMPLETED)
    doc = cloud.move('vm1', destination='host3')
    assert lost == [states.COMPLETED]
    assert doc['state'] == states.COMPLETED, doc['reason']
    # The retry found the move completed: no second change, no error.
    moves = [e['state'] for e in cloud.services.store.events(doc['id'])
             if e['kind'] == 'move']
    assert moves.count(states.COMPLETED) == 1, moves
    errors = [r.getMessage() for r in caplog.records
              if r.levelname == 'ERROR']
    assert errors == []
