"""The move types as data: state machines and flows."""

import pytest
from taskflow import engines
from taskflow.patterns import linear_flow

from move_orchestrator import exception
from move_orchestrator.moves import flows
from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base

TYPES = sorted(move_types.MOVE_TYPES)


@pytest.mark.parametrize('name', TYPES)
def test_machine_shares_terminal_states(name):
    t = move_types.get(name)
    assert t.states[0] == 'accepted'
    assert t.states[-3:] == ('completed', 'reverted', 'failed')
    machine = t.machine()
    assert machine.current_state == 'accepted'


@pytest.mark.parametrize('name', TYPES)
def test_every_state_can_end(name):
    """No state waits for anybody: from each, a terminal state is reachable
    by the orchestrator's own transitions."""
    t = move_types.get(name)
    edges = {}
    for src, dst in t.transitions():
        edges.setdefault(src, set()).add(dst)
    for state in t.states:
        seen, todo = set(), [state]
        while todo:
            s = todo.pop()
            seen.add(s)
            todo.extend(edges.get(s, set()) - seen)
        assert seen & {'completed', 'reverted'} or state == 'failed'


@pytest.mark.parametrize('name', TYPES)
def test_happy_path_is_valid_and_reverts_stop_at_ponr(name):
    t = move_types.get(name)
    forward = [s for s in t.states if s not in
               ('reverting', 'completed', 'reverted', 'failed')]
    path = forward + ['completed']
    for src, dst in zip(path, path[1:]):
        t.check_transition('m', src, dst)
    with pytest.raises(exception.InvalidStateTransition):
        t.check_transition('m', 'cleaning-up', 'reverting')
    with pytest.raises(exception.InvalidStateTransition):
        t.check_transition('m', 'completed', 'reverting')
    with pytest.raises(exception.InvalidStateTransition):
        t.check_transition('m', 'accepted', 'completed')


@pytest.mark.parametrize('name', TYPES)
def test_flows_cover_the_five_phases(name, cloud):
    t = move_types.get(name)
    main = t.build_flow(base.MAIN, cloud.services)
    phases = [sub.name for sub, _ in main.iter_nodes()]
    assert phases == [p for p in base.PHASES[:-1]
                      if any(s.cls.phase == p for s in t.steps)]
    assert 'claim' in phases and 'switch-over' in phases
    cleanup = t.build_flow(base.CLEANUP, cloud.services)
    assert cleanup.retry is not None
    assert all(node.phase == 'cleanup' for node, _ in cleanup.iter_nodes())


def test_steps_out_of_phase_order_are_refused():
    from move_orchestrator.steps import claim, cleanup
    with pytest.raises(ValueError):
        base.MoveType('bad', steps=(base.Step(cleanup.DestroySource),
                                    base.Step(claim.ClaimDestination)))


def test_flow_factory_rebuilds_from_the_record(cloud):
    doc = cloud.move('vm2', destination='host3')
    flow = flows.build_move_flow(doc['id'], base.MAIN)
    names = [task.name for task in _tasks(flow)]
    assert names == [s['name'] for s in doc['subtasks']][:len(names)]
    # It compiles into an engine like the conductor's.
    engine = engines.load(linear_flow.Flow('x').add(flow), store={
        'move_id': doc['id']})
    engine.compile()


def _tasks(flow):
    for node, _ in flow.iter_nodes():
        if hasattr(node, 'iter_nodes'):
            yield from _tasks(node)
        else:
            yield node
