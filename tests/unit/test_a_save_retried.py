"""A step's save that the database lost (the connection closed at its
commit) and that was then retried: the retry writes everything the lost
attempt wrote, and nothing is announced from the lost one."""

from oslo_db import exception as db_exc
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
