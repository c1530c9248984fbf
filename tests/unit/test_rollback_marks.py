"""A conductor killed while it marks a flow for rollback.

mark_for_rollback writes each atom's intention and state in commits of
their own. Whatever write the kill comes after, a step that was running
must not be left recorded as succeeded and going forward: the next
conductor would take a point-of-no-return step for done and roll the move
forward with no migration behind it (found by the random kills, under
load: a live migration failed at its switch-over, never started).
"""

import contextlib

import pytest
from taskflow import engines
from taskflow.patterns import linear_flow
from taskflow.persistence import backends
from taskflow.persistence import models
from taskflow import states
from taskflow import task

from move_orchestrator.conductor import flowstate

BEFORE = {'ClaimDestination': states.SUCCESS, 'PrepareIncoming': states.SUCCESS,
          'TransferMemory': states.RUNNING}


class Step(task.Task):
    def execute(self):
        return None


class Killed(BaseException):
    """The conductor's SIGKILL: nothing after it is written."""


def _flow():
    return linear_flow.Flow('main').add(*(Step(name) for name in BEFORE))


def _load(backend, book):
    engine = engines.load(_flow(), flow_detail=book.find('fd'), book=book,
                          backend=backend)
    engine.compile()
    engine.prepare()
    return engine


def _fresh_book(backend):
    book = models.LogBook('move', uuid='book')
    book.add(models.FlowDetail('main', uuid='fd'))
    with contextlib.closing(backend.get_connection()) as conn:
        conn.save_logbook(book)
    return book


def _reloaded(backend):
    """The flow as the next conductor loads it."""
    with contextlib.closing(backend.get_connection()) as conn:
        return _load(backend, conn.get_logbook('book'))


def _killed_after(engine, writes):
    """The engine's storage writes ``writes`` times, then the process dies."""
    storage, done = engine.storage, []
    for method in ('set_atom_state', 'set_atom_intention'):
        real = getattr(storage, method)

        def write(name, value, real=real):
            real(name, value)
            done.append((name, value))
            if len(done) == writes:
                raise Killed()
        setattr(storage, method, write)
    return done


@pytest.mark.parametrize('writes', [1, 2, 3, None])
def test_no_running_step_is_left_succeeded_going_forward(writes):
    backend = backends.fetch({'connection': 'memory://'})
    book = _fresh_book(backend)
    engine = _load(backend, book)
    for name, state in BEFORE.items():
        engine.storage.set_atom_state(name, state)
    done = _killed_after(engine, writes)
    try:
        flowstate.mark_for_rollback(engine)
    except Killed:
        pass
    assert writes is None or len(done) == writes   # the kill came where asked
    engine = _reloaded(backend)
    after = {name: (engine.storage.get_atom_state(name),
                    engine.storage.get_atom_intention(name)) for name in BEFORE}
    assert after['TransferMemory'] != (states.SUCCESS, states.EXECUTE), (done, after)
    assert not flowstate.succeeded(engine, 'TransferMemory')
    if writes is None:
        # Marked to the end: every atom that ran reverts.
        assert set(after.values()) == {(states.SUCCESS, states.REVERT)}
        assert flowstate.succeeded(engine, 'ClaimDestination') is False


def test_a_step_that_ran_to_its_end_succeeded():
    backend = backends.fetch({'connection': 'memory://'})
    engine = _load(backend, _fresh_book(backend))
    engine.storage.set_atom_state('ClaimDestination', states.SUCCESS)
    assert flowstate.succeeded(engine, 'ClaimDestination')
    assert not flowstate.succeeded(engine, 'TransferMemory')      # pending
