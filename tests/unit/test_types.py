"""The move types as data: state machines and flows."""

import pytest
from taskflow import engines
from taskflow.patterns import linear_flow

from move_orchestrator import exception
from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base
from move_orchestrator import states

TYPES = sorted(move_types.MOVE_TYPES)


@pytest.mark.parametrize('name', TYPES)
def test_machine_shares_terminal_states(name):
    t = move_types.get(name)
    assert t.states[0] == 'accepted'
    assert t.states[-3:] == ('completed', 'reverted', 'failed')
    assert t.machine.at('accepted').current_state == 'accepted'


@pytest.mark.parametrize('name', TYPES)
def test_every_state_a_move_reaches_is_looked_for_until_it_ends(name):
    """Conductors find the moves to run by UNFINISHED_STATES: a state of a
    machine missing from it would leave such a move to nobody."""
    machine = move_types.get(name).machine.at('accepted')
    reached = {target for _source, _event, target in machine}
    assert reached - set(states.TERMINAL_STATES) <= \
        set(move_types.UNFINISHED_STATES)
    assert not set(move_types.UNFINISHED_STATES) & set(states.TERMINAL_STATES)


def _forward(t):
    return [s for s in t.states if s not in
            ('reverting', 'completed', 'reverted', 'failed')]


def _expected_transitions(t):
    """The type's machine written out from its declaration (its states in
    order), independently of how moves/machine.py builds it."""
    forward = _forward(t)
    # The states of the steps after the point of no return (the end of
    # switch-over; a live migration's convergence) leave only forward.
    names = [s.cls.__name__ for s in t.steps]
    after = {s.move_state for s in t.steps[names.index(t.ponr_step) + 1:]}
    before_ponr = [s for s in forward if s not in after]
    assert forward[-1] == 'cleaning-up'
    expected = {('accepted', 'start', forward[1])}
    expected |= {(a, 'advance', b) for a, b in zip(forward[1:], forward[2:])}
    expected.add(('cleaning-up', 'complete', 'completed'))
    expected |= {(s, verb, 'reverting') for s in before_ponr
                 for verb in ('abort', 'revert')}
    expected |= {(s, 'fail', 'failed') for s in forward + ['reverting']}
    expected |= {('reverting', 'reverted', 'reverted'),
                 ('failed', 'revert', 'reverting')}
    expected |= {('failed', 'resume', s) for s in forward[1:]}
    return expected


@pytest.mark.parametrize('name', TYPES)
def test_every_listed_transition_is_accepted(name):
    t = move_types.get(name)
    expected = _expected_transitions(t)
    assert set(t.transitions()) == expected
    for source, event, target in expected:
        named = target if event == 'resume' else None
        assert t.next_state('m', source, event, named) == target


@pytest.mark.parametrize('name', TYPES)
def test_unlisted_transitions_are_refused(name):
    """Every (state, event) the declaration does not list is refused, and
    so is every target an event does not lead to."""
    t = move_types.get(name)
    expected = _expected_transitions(t)
    listed = {(s, e) for s, e, _ in expected}
    refused = 0
    for source in t.states:
        for event in states.EVENTS:
            if (source, event) in listed:
                continue
            for target in (None,) + t.states:
                with pytest.raises(exception.InvalidStateTransition):
                    t.next_state('m', source, event, target)
                refused += 1
    assert refused > 100
    # Listed events, wrong targets: no self-loops, no way back, no skipping.
    for source, event, target in [
            ('failed', 'resume', 'accepted'), ('failed', 'resume', 'failed'),
            ('cleaning-up', 'abort', 'reverting'),
            ('cleaning-up', 'revert', 'reverting'),
            (_forward(t)[2], 'advance', _forward(t)[1]),
            (_forward(t)[1], 'advance', _forward(t)[1]),
            ('accepted', 'start', 'cleaning-up')]:
        with pytest.raises(exception.InvalidStateTransition):
            t.next_state('m', source, event, target)
    # The machine of a move is a copy: moving it leaves the type's alone.
    m = t.machine.at('accepted')
    m.process_event('start')
    assert t.machine.at('accepted').current_state == 'accepted'


@pytest.mark.parametrize('name', TYPES)
def test_every_state_can_end(name):
    """No state waits for anybody: from each, a terminal state is reachable
    by the orchestrator's own transitions (not an operator's)."""
    t = move_types.get(name)
    edges = {}
    for src, event, dst in t.transitions():
        if event not in ('resume', 'abort') and src != 'failed':
            edges.setdefault(src, set()).add(dst)
    for state in t.states:
        seen, todo = set(), [state]
        while todo:
            s = todo.pop()
            seen.add(s)
            todo.extend(edges.get(s, set()) - seen)
        assert seen & {'completed', 'reverted'} or state == 'failed'


@pytest.mark.parametrize('name', TYPES)
def test_happy_path_is_driven_by_events(name):
    t = move_types.get(name)
    state, path = 'accepted', ['accepted']
    for event in ['start'] + ['advance'] * (len(_forward(t)) - 2) + [
            'complete']:
        state = t.next_state('m', state, event)
        path.append(state)
    assert path == _forward(t) + ['completed']
    with pytest.raises(exception.InvalidStateTransition) as e:
        t.next_state('m', 'completed', 'revert')
    assert e.value.kwargs['event'] == 'revert'


@pytest.mark.parametrize('name', TYPES)
def test_flows_cover_the_five_phases(name, cloud):
    t = move_types.get(name)
    main = t.build_flow(base.MAIN, cloud.services)
    phases = [sub.name for sub, _ in main.iter_nodes()]
    cleanup = t.build_flow(base.CLEANUP, cloud.services)
    later = [node.phase for node, _ in cleanup.iter_nodes()]
    assert phases + sorted(set(later), key=base.PHASES.index) == [
        p for p in base.PHASES if any(s.cls.phase == p for s in t.steps)] or \
        phases[-1] == later[0]
    assert 'claim' in phases and 'cleanup' in later
    assert cleanup.retry is not None
    # Everything after the point of no return is rolled forward.
    ran = [s.cls.__name__ for s in t.steps]
    assert [node.name for node, _ in cleanup.iter_nodes()] == \
        ran[ran.index(t.ponr_step) + 1:]


def test_steps_out_of_phase_order_are_refused():
    from move_orchestrator.steps import claim, cleanup
    with pytest.raises(ValueError):
        base.MoveType('bad', steps=(base.Step(cleanup.DestroySource),
                                    base.Step(claim.ClaimDestination)))


def test_a_flow_rebuilt_from_the_record_is_the_one_that_ran(cloud):
    doc = cloud.move('vm2', destination='host3')
    flow = move_types.get(doc['type']).build_flow(base.MAIN, cloud.services)
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
