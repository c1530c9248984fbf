"""Fenced claims: once another conductor claims a move, the one that ran
it writes nothing more for it and stops."""

import time

from move_orchestrator.db import moves as db_moves
from move_orchestrator import exception
from move_orchestrator.moves import types as move_types

import pytest


def _wait(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_a_move_taken_over_is_written_no_more(make_cloud):
    cloud = make_cloud(fake_driver__operation_delay=0.1)
    doc = cloud.api.move_instance(None, 'vm2', destination='host3')
    move_id = doc['id']
    assert _wait(lambda: cloud.api.get_task(None, move_id)['state']
                 in ('transferring', 'copying-disk'))
    # Another conductor (its own store: its own claims) takes the move;
    # this process, owner of the database, must not take it back.
    cloud.api.conductor.claims.stop()
    other = db_moves.MoveStore(cloud.services.db, cloud.services.inventory,
                               move_types.UNFINISHED_STATES)
    token = other.take_claim(move_id, 'other-conductor')
    taken = cloud.services.store.events(move_id)[-1]
    assert (taken['kind'], taken['name']) == ('claim', 'other-conductor')
    assert taken['detail']['attempt'] == token
    assert taken['detail']['taken_over_from'] != 'other-conductor'
    # The first one stops at its next write and writes nothing after.
    assert _wait(lambda: not cloud.api.conductor.running(move_id))
    time.sleep(0.3)
    events = cloud.services.store.events(move_id)
    assert events[-1]['id'] == taken['id'], events[-1]
    move = cloud.services.store.get(move_id)
    assert move['state'] not in ('completed', 'reverted', 'failed')
    assert (move['generation'], move['conductor']) == (token,
                                                       'other-conductor')
    # It let the claim go; a write under that old token is refused.
    assert cloud.services.store.fences.token(move_id) is None
    cloud.services.store.fences.hold(move_id, token - 1)
    with pytest.raises(exception.ClaimLost):
        cloud.services.store.add_event(move_id, 'subtask', 'X', 'RUNNING')
    assert cloud.services.store.events(move_id)[-1]['id'] == taken['id']
